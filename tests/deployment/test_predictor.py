"""Tests for labkit.deployment.predictor: predictions and probabilities exactly as the model gives them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from labkit.deployment.predictor import Predictor


@pytest.fixture
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "wind": rng.normal(3.0, 1.0, size=60),
            "temp": rng.normal(10.0, 5.0, size=60),
            "weather": rng.choice(["sun", "rain", "fog"], size=60),
        }
    )
    y = pd.Series(np.where(X["temp"] + rng.normal(size=60) > 10, "warm", "cold"), name="feel")
    return X, y


def classifier_pipeline(X, y):
    prepare = ColumnTransformer(
        [("numbers", StandardScaler(), ["wind", "temp"]), ("weather", OneHotEncoder(), ["weather"])]
    )
    return make_pipeline(prepare, LogisticRegression()).fit(X, y)


def test_pipeline_gives_exactly_the_models_answers(data):
    X, y = data
    model = classifier_pipeline(X, y)

    out = Predictor(model).predict(X)

    assert np.array_equal(out["predictions"], model.predict(X))
    assert np.array_equal(out["probabilities"], model.predict_proba(X))
    assert out["classes"] == ["cold", "warm"]
    assert all(type(c) is str for c in out["classes"])


def test_pipeline_runs_the_preprocessing_once(data, monkeypatch):
    X, y = data
    model = classifier_pipeline(X, y)
    calls = []
    transform = type(model[0]).transform

    def counting_transform(self, *args, **kwargs):
        calls.append(1)
        return transform(self, *args, **kwargs)

    monkeypatch.setattr(type(model[0]), "transform", counting_transform)

    Predictor(model).predict(X)

    assert len(calls) == 1


def test_bare_estimator_gives_exactly_its_answers(data):
    X, y = data
    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[["wind", "temp"]], y == "warm")

    out = Predictor(model).predict(X[["wind", "temp"]])

    assert np.array_equal(out["predictions"], model.predict(X[["wind", "temp"]]))
    assert np.array_equal(out["probabilities"], model.predict_proba(X[["wind", "temp"]]))
    assert out["classes"] == [False, True]
    assert all(type(c) is bool for c in out["classes"])


def test_single_step_pipeline(data):
    X, y = data
    model = make_pipeline(LogisticRegression()).fit(X[["wind", "temp"]], y)

    out = Predictor(model).predict(X[["wind", "temp"]])

    assert np.array_equal(out["probabilities"], model.predict_proba(X[["wind", "temp"]]))


@pytest.mark.parametrize("pipeline", [False, True], ids=["bare", "pipeline"])
def test_regressor_has_no_probabilities(data, pipeline):
    X, _ = data
    numbers = X[["wind"]]
    model = make_pipeline(StandardScaler(), LinearRegression()) if pipeline else LinearRegression()
    model.fit(numbers, X["temp"])

    out = Predictor(model).predict(numbers)

    assert set(out) == {"predictions"}
    assert np.array_equal(out["predictions"], model.predict(numbers))


def test_classifier_without_predict_proba_has_no_probabilities(data):
    X, y = data
    numbers = X[["wind", "temp"]]
    model = make_pipeline(StandardScaler(), RidgeClassifier()).fit(numbers, y)
    assert hasattr(model[-1], "classes_")

    out = Predictor(model).predict(numbers)

    assert set(out) == {"predictions"}
    assert np.array_equal(out["predictions"], model.predict(numbers))


def test_assume_finite_changes_no_answer_and_only_skips_the_nan_scan(data):
    X, y = data
    model = classifier_pipeline(X, y)
    checked = Predictor(model).predict(X)
    trusting = Predictor(model, assume_finite=True).predict(X)
    assert np.array_equal(trusting["predictions"], checked["predictions"])
    assert np.array_equal(trusting["probabilities"], checked["probabilities"])
    # The default still lets scikit-learn refuse a NaN the caller did not rule out.
    with pytest.raises(ValueError, match="NaN"):
        Predictor(model).predict(X.assign(wind=np.nan))


def test_probabilities_can_be_left_out(data):
    X, y = data
    out = Predictor(classifier_pipeline(X, y)).predict(X, probabilities=False)
    assert set(out) == {"predictions"}
