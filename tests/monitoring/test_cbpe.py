"""Tests for labkit.monitoring.cbpe: NannyML's confidence-based performance estimation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import labkit as lk
from labkit.errors import DataError
from labkit.monitoring.cbpe import CBPE


def _frame(probability, label=None, *, start="2013-01-01", freq="D") -> pd.DataFrame:
    probability = np.asarray(probability, dtype=float)
    frame = pd.DataFrame(
        {
            "event_time": pd.date_range(start, periods=len(probability), freq=freq, tz="UTC"),
            "prediction": probability > 0.5,
            "proba_False": 1 - probability,
            "proba_True": probability,
        }
    )
    frame["label"] = pd.Series([None] * len(frame), dtype=object) if label is None else pd.Series(label, dtype=object)
    return frame


# A reference in which the model says 0.2 where 2 in 5 are positive, and 0.8 where 3 in 5
# are: the isotonic step maps 0.2 to 0.4 and 0.8 to 0.6.
REFERENCE = _frame([0.2] * 5 + [0.8] * 5, [True, True, False, False, False, True, True, True, False, False])


def test_fit_learns_the_calibration_and_nannymls_components():
    estimator = CBPE().fit(REFERENCE)

    assert estimator.calibrator_.predict([0.2, 0.8]) == pytest.approx([0.4, 0.6])
    # Predictions: 5 negatives (3 right), 5 positives (3 right): right 6 times in 10.
    assert estimator.accuracy_std_ == pytest.approx(np.sqrt(0.6 * 0.4))
    # TP 3, FP 2, FN 2: 7 counted rows, contributions 1.4 (TP) and 0 (FP, FN), mean 3/5 = F1.
    assert estimator.f1_std_ == pytest.approx(np.std([1.4, 1.4, 1.4, 0, 0, 0, 0]))
    assert estimator.f1_fraction_ == pytest.approx(0.7)
    assert estimator.n_reference_ == 10


def test_estimate_matches_a_hand_computation():
    estimator = CBPE(window="7D", metrics=["accuracy", "f1"]).fit(REFERENCE)
    # Three unlabelled rows: a negative at 0.2 and two positives at 0.8, calibrated to
    # 0.4, 0.6, 0.6. Expected TP = 0.6 + 0.6, FP = 0.4 + 0.4, FN = 0.4, TN = 0.6.
    analysis = _frame([0.2, 0.8, 0.8])

    table = estimator.estimate(analysis).set_index("metric")

    accuracy = (1.2 + 0.6) / 3
    f1 = 1.2 / (1.2 + (0.8 + 0.4) / 2)
    assert table.loc["accuracy", "estimated"] == pytest.approx(accuracy)
    assert table.loc["f1", "estimated"] == pytest.approx(f1)
    accuracy_se = np.sqrt(0.24) / np.sqrt(3)
    f1_se = np.std([1.4, 1.4, 1.4, 0, 0, 0, 0]) / np.sqrt(3 * 0.7)
    assert table.loc["accuracy", "std_error"] == pytest.approx(accuracy_se)
    assert table.loc["f1", "std_error"] == pytest.approx(f1_se)
    assert table.loc["accuracy", "lower"] == pytest.approx(max(0, accuracy - 3 * accuracy_se))
    assert table.loc["accuracy", "upper"] == pytest.approx(min(1, accuracy + 3 * accuracy_se))
    assert (table["n"] == 3).all()
    assert (table["n_labelled"] == 0).all() and table["realised"].isna().all()


def test_the_estimate_ignores_labels_and_the_realised_metric_uses_them():
    estimator = CBPE(window="7D", metrics=["accuracy"]).fit(REFERENCE)
    unlabelled = _frame([0.2, 0.8, 0.8])
    labelled = _frame([0.2, 0.8, 0.8], [True, True, None])

    without = estimator.estimate(unlabelled).iloc[0]
    with_labels = estimator.estimate(labelled).iloc[0]

    assert with_labels["estimated"] == without["estimated"]
    assert with_labels["realised"] == 0.5  # the negative was wrong, the positive right
    assert with_labels["n_labelled"] == 2


def test_confident_predictions_raise_the_estimate():
    # Covariate shift CBPE can see: the same model, meeting days it is surer about.
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    probability = 1 / (1 + np.exp(-2 * x))
    reference = _frame(probability[:1000], rng.random(1000) < probability[:1000], freq="h")
    estimator = CBPE(window=1000, metrics=["accuracy"]).fit(reference)
    unsure = _frame(1 / (1 + np.exp(-2 * x[1000:2000] * 0.2)), freq="h")
    sure = _frame(1 / (1 + np.exp(-2 * x[2000:] * 3)), freq="h")

    assert estimator.estimate(sure)["estimated"].iloc[0] > estimator.estimate(unsure)["estimated"].iloc[0] + 0.2


def test_when_the_concept_flips_the_estimate_stays_confident_while_accuracy_drops():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=n)
    probability = 1 / (1 + np.exp(-3 * x))
    label = rng.random(n) < probability
    label[2000:] = ~label[2000:]  # the labelling rule flips; inputs and model do not change
    frame = _frame(probability, label, freq="h")
    estimator = CBPE(window=500, metrics=["accuracy"]).fit(frame.iloc[:1000])

    table = estimator.estimate(frame.iloc[1000:])

    before, after = table.iloc[:2], table.iloc[2:]
    # Before the flip, the band holds the realised accuracy.
    assert ((before["lower"] <= before["realised"]) & (before["realised"] <= before["upper"])).all()
    # After it, the estimate and its band do not move, and the realised accuracy is far below them.
    assert after["estimated"].min() > 0.8
    assert (after["upper"] - after["lower"]).max() < 0.2
    assert (after["realised"] < after["lower"] - 0.5).all()


def test_windows_by_event_time_on_the_running_example(weather_split, weather_model):
    train, test = weather_split
    frames = []
    for part in (train, test):
        features = part[list(lk.data.FEATURES)]
        frames.append(
            pd.DataFrame(
                {
                    "event_time": part["date"].dt.tz_localize("UTC"),
                    "prediction": weather_model.predict(features),
                    "proba_True": weather_model.predict_proba(features)[:, 1],
                    "label": part["rain_tomorrow"].astype(object),
                }
            )
        )
    reference, production = frames

    table = CBPE(window="90D").fit(reference).estimate(production)

    assert set(table["metric"]) == {"accuracy", "f1"}
    assert table["n"].sum() == 2 * len(production)
    estimated = table["estimated"].to_numpy()
    assert ((0 < estimated) & (estimated < 1)).all()
    # Without drift of concept, the estimate stays within 0.15 of what the labels say.
    assert (table["estimated"] - table["realised"]).abs().mean() < 0.15


def test_keeps_the_scikit_learn_contract():
    estimator = CBPE(window=50, n_std=2.0)

    assert estimator.get_params()["window"] == 50
    assert not hasattr(estimator, "calibrator_")
    assert estimator.fit(REFERENCE) is estimator
    assert clone(estimator).get_params() == estimator.get_params()
    with pytest.raises(TypeError):
        CBPE("7D")  # keyword-only


def test_estimate_before_fit_is_refused():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        CBPE().estimate(_frame([0.5]))


def test_reference_needs_both_classes():
    reference = _frame([0.2, 0.8, 0.7], [True, True, None])

    with pytest.raises(DataError, match=r"labelled with both True and another class; got 2 labelled rows, 2 of them"):
        CBPE().fit(reference)


def test_unknown_metric_is_refused():
    with pytest.raises(DataError, match=r"expected metrics among \['accuracy', 'f1'\]; got \['roc_auc'\]"):
        CBPE(metrics=["roc_auc"]).fit(REFERENCE)


def test_missing_probability_column_is_named():
    with pytest.raises(DataError, match=r"missing \['proba_True'\]"):
        CBPE().fit(REFERENCE.drop(columns="proba_True"))


def test_an_empty_store_gives_no_estimates():
    empty = pd.DataFrame(columns=["request_id", "event_time", "prediction", "label", "label_time"])

    table = CBPE().fit(REFERENCE).estimate(empty)

    assert table.empty and "estimated" in table.columns
