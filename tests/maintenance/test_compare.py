"""Tests for labkit.maintenance.compare: both versions on the same unseen rows, with a paired bootstrap interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import labkit as lk
from labkit.errors import DataError
from labkit.maintenance import compare, retrain

NOW = "2013-12-01"


@pytest.fixture()
def challenged(weather_registry, weather_store):
    """Version 2 retrained on Jun to Oct 2013, with November held out for the comparison."""
    retrain(weather_registry, "weather", store=weather_store, now=NOW, window="180D", holdout="30D")
    return weather_registry


def test_values_are_each_versions_metric_on_the_holdout(challenged, weather_store):
    result = compare(challenged, "weather", store=weather_store, now=NOW, window="30D")

    rows = weather_store.frame("2013-11-01", NOW, labelled=True)
    truth = rows["label"].astype(bool)
    X = rows[list(lk.data.FEATURES)]
    assert result.n_rows == 30
    assert result.champion_value == pytest.approx(skm.accuracy_score(truth, challenged.load("weather", version=1).predict(X)))
    assert result.challenger_value == pytest.approx(skm.accuracy_score(truth, challenged.load("weather", version=2).predict(X)))
    assert result.difference == pytest.approx(result.challenger_value - result.champion_value)
    assert result.lower <= result.difference <= result.upper
    assert (result.champion, result.challenger) == (1, 2)


def test_the_bootstrap_is_seeded(challenged, weather_store):
    first = compare(challenged, "weather", store=weather_store, now=NOW, metric="log_loss")
    again = compare(challenged, "weather", store=weather_store, now=NOW, metric="log_loss")
    other = compare(challenged, "weather", store=weather_store, now=NOW, metric="log_loss", seed=1)

    assert first == again
    assert (first.lower, first.upper) != (other.lower, other.upper)


def test_the_pairing_makes_identical_models_exactly_equal(weather_registry, weather_store, weather_split, weather_model):
    train, _ = weather_split
    weather_registry.register(weather_model, name="weather", X=train[list(lk.data.FEATURES)], y=train["rain_tomorrow"])
    weather_registry.promote("weather", version=2, alias="challenger")

    result = compare(weather_registry, "weather", store=weather_store, now=NOW, metric="roc_auc")

    # Resampled independently, two copies of one model would differ by chance; paired, never.
    assert (result.difference, result.lower, result.upper) == (0.0, 0.0, 0.0)
    assert not result.beyond_noise
    assert result.summary.endswith("The interval includes 0: on these rows the difference may be noise.")


def test_lower_is_better_flips_the_gain(challenged, weather_store):
    result = compare(challenged, "weather", store=weather_store, now=NOW, metric="log_loss")

    assert not result.greater_is_better
    assert result.gain == -result.difference
    assert result.gain_interval == (-result.upper, -result.lower)
    assert "(lower is better for log_loss)" in result.summary


def test_every_metric_matches_scikit_learn(challenged, weather_store):
    rows = weather_store.frame("2013-11-01", NOW, labelled=True)
    truth = rows["label"].astype(bool).to_numpy()
    model = challenged.load("weather", version=2)
    X = rows[list(lk.data.FEATURES)]
    predicted, probability = model.predict(X), model.predict_proba(X)[:, 1]
    expected = {
        "accuracy": skm.accuracy_score(truth, predicted), "precision": skm.precision_score(truth, predicted),
        "recall": skm.recall_score(truth, predicted), "f1": skm.f1_score(truth, predicted),
        "roc_auc": skm.roc_auc_score(truth, probability), "log_loss": skm.log_loss(truth, probability),
    }
    for metric, value in expected.items():
        result = compare(challenged, "weather", store=weather_store, now=NOW, metric=metric, n_bootstrap=100)
        assert result.challenger_value == pytest.approx(value), metric


def test_labels_not_back_by_now_are_left_out(challenged, weather_store):
    result = compare(challenged, "weather", store=weather_store, now="2013-11-30T12:00", window=("2013-11-01", NOW))

    assert result.n_rows == 29  # Nov 29's label comes at midnight on Nov 30, Nov 30's the day after


def test_a_window_the_challenger_learned_from_is_refused(challenged, weather_store):
    with pytest.raises(DataError, match="expected a window the challenger \\(version 2\\) did not learn from; got "
                                        "2013-10-02 to 2013-12-01, and it learned from events of 2013-06-04 to 2013-12-01, "
                                        "all but those of 2013-11-01 to 2013-12-01 \\(its holdout\\)"):
        compare(challenged, "weather", store=weather_store, now=NOW, window="60D")


def test_errors_say_what_to_do(challenged, weather_store):
    with pytest.raises(DataError, match="expected metric to be one of"):
        compare(challenged, "weather", store=weather_store, now=NOW, metric="auc")
    with pytest.raises(DataError, match="expected labelled rows of model 'weather' with events from 2012-11-01"):
        compare(challenged, "weather", store=weather_store, now="2012-12-01")
    with pytest.raises(DataError, match="expected n_bootstrap to be a whole number of at least 100; got 10"):
        compare(challenged, "weather", store=weather_store, now=NOW, n_bootstrap=10)
    with pytest.raises(DataError, match="expected a window that starts before it ends"):
        compare(challenged, "weather", store=weather_store, now=NOW, window=(NOW, "2013-11-01"))


def test_summary_reads_as_a_sentence(challenged, weather_store):
    result = compare(challenged, "weather", store=weather_store, now=NOW)

    assert result.summary.startswith("On 30 labelled rows from 2013-11-01 to 2013-12-01, the challenger (version 2) has accuracy")
    assert str(result) == result.summary
    assert isinstance(np.float64(result.lower), np.floating) and pd.notna(result.upper)
