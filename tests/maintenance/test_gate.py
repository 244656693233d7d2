"""Tests for labkit.maintenance.gate: MLflow's MetricThreshold rule for rule, plus the noise check, and promotion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError, RegistryError
from labkit.maintenance import Comparison, MetricThreshold, compare, promote_if_better, retrain, validate


def _accuracy(*, threshold=None, change=None, relative=None, greater_is_better=True):
    return {"accuracy": MetricThreshold(threshold=threshold, min_absolute_change=change, min_relative_change=relative,
                                        greater_is_better=greater_is_better)}


# The settings: MLflow's rules for what a MetricThreshold may hold.

@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threshold": True}, "expected threshold to be an int or a float; got True"),
        ({"threshold": np.float64(0.6)}, "expected threshold to be an int or a float; got np.float64"),
        ({"min_absolute_change": 0}, "expected min_absolute_change to be a positive int or float; got 0"),
        ({"min_absolute_change": -0.1}, "expected min_absolute_change to be a positive int or float; got -0.1"),
        ({"min_relative_change": 1}, "expected min_relative_change to be a float from 0 to 1 .*; got 1;"),
        ({"min_relative_change": 1.5}, "expected min_relative_change to be a float from 0 to 1 .*; got 1.5"),
        ({"threshold": 0.6, "greater_is_better": None}, "expected greater_is_better to be True or False; got None"),
        ({"threshold": 0.6, "greater_is_better": 1}, "expected greater_is_better to be True or False; got 1"),
        ({}, "expected at least one of threshold, min_absolute_change and min_relative_change; got none"),
    ],
)
def test_settings_follow_mlflows_rules(settings, message):
    with pytest.raises(DataError, match=message):
        MetricThreshold(**{"greater_is_better": True, **settings})


def test_the_bounds_mlflow_allows():
    assert MetricThreshold(min_relative_change=0.0, greater_is_better=True).min_relative_change == 0.0
    assert MetricThreshold(min_relative_change=1.0, min_absolute_change=2, threshold=-3, greater_is_better=False)


def test_keyword_only():
    with pytest.raises(TypeError):
        MetricThreshold(0.6, None, None, True)


# The checks: MLflow's _validate, case by case.

def test_threshold_is_reached_at_equality_either_way():
    assert validate(_accuracy(threshold=0.6), candidate={"accuracy": 0.6}).passed
    assert not validate(_accuracy(threshold=0.6), candidate={"accuracy": 0.59}).passed
    assert validate(_accuracy(threshold=0.6, greater_is_better=False), candidate={"accuracy": 0.6}).passed
    assert validate(_accuracy(threshold=0.6, greater_is_better=False), candidate={"accuracy": 0.5}).passed
    assert validate(_accuracy(threshold=0.6, greater_is_better=False), candidate={"accuracy": 0.7}).failures == [
        "Metric accuracy value threshold check failed: candidate model accuracy = 0.7, accuracy threshold = 0.6."
    ]


def test_absolute_change_compares_with_baseline_plus_change():
    gate = _accuracy(change=0.25)
    assert validate(gate, candidate={"accuracy": 0.75}, baseline={"accuracy": 0.5}).passed
    assert validate(gate, candidate={"accuracy": 0.74}, baseline={"accuracy": 0.5}).failures == [
        "Metric accuracy minimum absolute change check failed: candidate model accuracy = 0.74, baseline model "
        "accuracy = 0.5, accuracy minimum absolute change threshold = 0.25."
    ]
    lower = _accuracy(change=0.25, greater_is_better=False)
    assert validate(lower, candidate={"accuracy": 0.25}, baseline={"accuracy": 0.5}).passed
    assert not validate(lower, candidate={"accuracy": 0.3}, baseline={"accuracy": 0.5}).passed


def test_absolute_change_is_judged_in_floats_as_mlflow_does():
    # 0.7 + 0.1 is 0.7999999999999999 in floats, so a candidate of 0.8 clears it (MLflow adds in floats too).
    assert validate(_accuracy(change=0.1), candidate={"accuracy": 0.8}, baseline={"accuracy": 0.7}).passed


def test_relative_change_is_a_share_of_the_baseline():
    gate = _accuracy(relative=0.5)
    assert validate(gate, candidate={"accuracy": 0.75}, baseline={"accuracy": 0.5}).passed
    assert not validate(gate, candidate={"accuracy": 0.7}, baseline={"accuracy": 0.5}).passed
    lower = _accuracy(relative=0.5, greater_is_better=False)
    assert validate(lower, candidate={"accuracy": 0.25}, baseline={"accuracy": 0.5}).passed
    assert validate(lower, candidate={"accuracy": 0.3}, baseline={"accuracy": 0.5}).failures == [
        "Metric accuracy minimum relative change check failed: candidate model accuracy = 0.3, baseline model "
        "accuracy = 0.5, accuracy minimum relative change threshold = 0.5."
    ]


def test_relative_change_on_a_zero_baseline_falls_back_to_better_at_all():
    gate = _accuracy(relative=0.5)
    assert not validate(gate, candidate={"accuracy": 0.0}, baseline={"accuracy": 0.0}).passed
    assert not validate(gate, candidate={"accuracy": 1e-11}, baseline={"accuracy": 0.0}).passed
    assert validate(gate, candidate={"accuracy": 1e-10}, baseline={"accuracy": 0.0}).passed
    lower = {"log_loss": MetricThreshold(min_relative_change=0.5, greater_is_better=False)}
    assert validate(lower, candidate={"log_loss": -1e-10}, baseline={"log_loss": 0.0}).passed


def test_relative_change_divides_by_a_negative_baseline_as_it_is():
    # MLflow's formula: (-0.2 - -0.5) / -0.5 = -0.6, so a better R2 fails when the baseline is below 0.
    gate = {"r2": MetricThreshold(min_relative_change=0.1, greater_is_better=True)}
    assert not validate(gate, candidate={"r2": -0.2}, baseline={"r2": -0.5}).passed


def test_a_metric_missing_from_the_candidate_fails_alone():
    assert validate(_accuracy(threshold=0.6, change=0.1), candidate={}, baseline={"accuracy": 0.5}).failures == [
        "Metric validation failed: metric accuracy was missing from the evaluation result of the candidate model."
    ]


def test_a_missing_baseline_fails_the_change_checks_but_not_the_threshold():
    missing = "Model comparison failed: metric accuracy was missing from the evaluation result of the baseline model."
    assert validate(_accuracy(threshold=0.6, change=0.1), candidate={"accuracy": 0.7}).failures == [missing]
    assert validate(_accuracy(relative=0.1), candidate={"accuracy": 0.7}, baseline={"f1": 0.5}).failures == [missing]
    assert validate(_accuracy(threshold=0.6), candidate={"accuracy": 0.7}).passed
    # MLflow crashes here (None arithmetic); labkit reports the missing baseline.
    assert validate(_accuracy(relative=0.0), candidate={"accuracy": 0.7}).failures == [missing]


def test_every_failed_check_is_reported():
    verdict = validate(_accuracy(threshold=0.9, change=0.1, relative=0.5), candidate={"accuracy": 0.6},
                       baseline={"accuracy": 0.55})

    assert len(verdict.failures) == 3 and not verdict.passed
    assert verdict.reason == " ".join(verdict.failures)


def test_thresholds_must_map_names_to_metric_thresholds():
    with pytest.raises(DataError, match="expected thresholds to map metric names to MetricThreshold"):
        validate([MetricThreshold(threshold=0.5, greater_is_better=True)], candidate={"accuracy": 0.6})


# Promotion.

def _comparison(*, champion=0.70, challenger=0.76, lower=0.03, upper=0.09, metric="accuracy", greater=True):
    day = pd.Timestamp("2014-01-01", tz="UTC")
    return Comparison(name="wind", metric=metric, greater_is_better=greater, champion=1, challenger=2, start=day,
                      end=day + pd.Timedelta(days=30), n_rows=300, champion_value=champion, challenger_value=challenger,
                      difference=challenger - champion, lower=lower, upper=upper, confidence=0.95, n_bootstrap=1000,
                      seed=0)


@pytest.fixture()
def two_versions(wind_registry):
    model = wind_registry.load("wind", alias="champion")
    X = wind_registry.get("wind", version=1).reference
    wind_registry.register(model, name="wind", X=X)
    wind_registry.promote("wind", version=2, alias="challenger")
    return wind_registry


def test_a_clear_gain_is_promoted_and_the_reason_kept(two_versions):
    verdict = promote_if_better(two_versions, "wind", _comparison(), MetricThreshold(min_absolute_change=0.02,
                                                                                   greater_is_better=True))

    assert verdict.passed and verdict.promoted
    assert two_versions.aliases("wind")["champion"] == 2
    last = two_versions.history("wind").iloc[-1]
    assert (last["event"], last["alias"], last["version"], last["previous"]) == ("promote", "champion", 2, 1)
    assert last["reason"].startswith("gate passed version 2 against version 1 on accuracy (0.760 against 0.700, 300 rows)")


def test_a_gain_inside_the_noise_is_refused_and_the_refusal_kept(two_versions):
    gate = MetricThreshold(min_absolute_change=0.02, greater_is_better=True)
    lucky = _comparison(lower=0.01, upper=0.11)  # measured +0.06, but the data allow as little as +0.01

    verdict = promote_if_better(two_versions, "wind", lucky, gate)

    assert not verdict.passed and not verdict.promoted
    assert two_versions.aliases("wind") == {"champion": 1, "challenger": 2, "rejected": 2}
    assert verdict.failures == [
        "Noise check failed: the 95% bootstrap interval of the gain in accuracy goes down to +0.01, so the gain of "
        "+0.06 may be noise; the gate needs that lower end above 0 and at least min_absolute_change = 0.02."
    ]
    last = two_versions.history("wind").iloc[-1]
    assert last["alias"] == "rejected" and last["reason"].startswith("gate refused version 2 against version 1")
    assert "Noise check failed" in last["reason"]


def test_mlflows_gate_alone_judges_the_two_numbers(two_versions):
    gate = MetricThreshold(min_absolute_change=0.02, greater_is_better=True)

    verdict = promote_if_better(two_versions, "wind", _comparison(lower=-0.02, upper=0.14), gate, beyond_noise=False)

    assert verdict.promoted


def test_without_min_absolute_change_the_interval_must_clear_zero(two_versions):
    gate = MetricThreshold(threshold=0.5, greater_is_better=True)

    assert not promote_if_better(two_versions, "wind", _comparison(lower=0.0, upper=0.12), gate, refused_alias=None).passed
    assert "rejected" not in two_versions.aliases("wind")
    assert promote_if_better(two_versions, "wind", _comparison(lower=0.001, upper=0.12), gate).promoted


def test_lower_is_better_reads_the_upper_end_of_the_difference(two_versions):
    gate = MetricThreshold(min_absolute_change=0.05, greater_is_better=False)
    better = _comparison(metric="log_loss", greater=False, champion=0.60, challenger=0.45, lower=-0.25, upper=-0.06)

    assert promote_if_better(two_versions, "wind", better, gate).promoted


def test_a_stale_comparison_is_refused(two_versions):
    two_versions.promote("wind", version=2, alias="champion")
    gate = MetricThreshold(min_absolute_change=0.02, greater_is_better=True)

    with pytest.raises(RegistryError, match="expected alias 'champion' to hold version 1, the champion compared; got version 2"):
        promote_if_better(two_versions, "wind", _comparison(), gate)


def test_the_gate_must_agree_with_the_metric(two_versions):
    with pytest.raises(DataError, match="greater is worse for log_loss; got greater_is_better=True"):
        promote_if_better(two_versions, "wind", _comparison(metric="log_loss", greater=False),
                          MetricThreshold(min_absolute_change=0.02, greater_is_better=True))


def test_the_whole_loop_on_the_weather(weather_registry, weather_store):
    policy = lk.maintenance.PerformancePolicy(
        registry=weather_registry, name="weather", rule=lk.monitoring.Rule(name="accuracy low", measure="accuracy", below=0.9),
        window="30D", min_window_rows=20, cooldown="60D", min_new_labels=50,
    )
    decision = policy.decide(weather_store, "2013-12-01")
    assert decision.retrain

    retrain(weather_registry, "weather", store=weather_store, now="2013-12-01", window="180D", holdout="30D",
            decision=decision)
    comparison = compare(weather_registry, "weather", store=weather_store, now="2013-12-01", window="30D")
    verdict = promote_if_better(weather_registry, "weather", comparison,
                                MetricThreshold(min_absolute_change=0.01, greater_is_better=True))

    # 30 days cannot show a gain beyond the noise: the gate refuses, and the policy does not ask again.
    assert not comparison.beyond_noise and not verdict.promoted
    assert weather_registry.aliases("weather")["champion"] == 1
    later = policy.decide(weather_store, "2013-12-20")
    assert not later.retrain and later.reason.endswith("version 2 was already retrained for it on 2013-12-01")
