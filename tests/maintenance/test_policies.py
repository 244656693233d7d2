"""Tests for labkit.maintenance.policies: when to retrain, why, and never twice for one incident."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError
from labkit.maintenance import Decision, DriftPolicy, PerformancePolicy, SchedulePolicy, retrain
from labkit.monitoring import Rule

ACCURACY_LOW = Rule(name="accuracy low", measure="accuracy", below=0.5)


def _seasons(log, store, *, late_march: str | None = None, mixed_april: bool = False) -> None:
    """Jan 1 to May 31, always predicted True; true in Jan-Feb and April, false in March and May.

    Each label arrives the day after its event, except March's when ``late_march`` is given:
    those all arrive then. With ``mixed_april``, April's labels alternate, true on odd days.
    """
    days = pd.date_range("2013-01-01", "2013-05-31", freq="D")
    truth = [day.month not in (3, 5) and (not mixed_april or day.month != 4 or day.day % 2 == 1) for day in days]
    ids = log(store, days=days, wind=np.zeros(len(days)))
    for request_id, day, label in zip(ids, days, truth):
        at = pd.Timestamp(late_march) if late_march and day.month == 3 else day + pd.Timedelta(days=1)
        store.add_labels([request_id], [label], at=at)


def _performance(registry, **changes) -> PerformancePolicy:
    settings = {"registry": registry, "name": "wind", "rule": ACCURACY_LOW, "window": "14D", "min_window_rows": 7,
                "cooldown": "30D", "min_new_labels": 10}
    return PerformancePolicy(**{**settings, **changes})


def test_performance_policy_triggers_once_the_labels_show_the_drop(log, wind_registry, store):
    _seasons(log, store)
    policy = _performance(wind_registry)

    before = policy.decide(store, "2013-03-02")  # the window from Feb 26 has only 4 labels yet
    after = policy.decide(store, "2013-03-05")  # 7 labels, 3 right

    assert not before.retrain
    assert before.reason == "no retrain: no open incident of 'accuracy low' in 4 windows of 14D with at least 7 labels"
    assert after.retrain
    assert after.incident == "accuracy low since 2013-02-26T00:00:00+00:00"
    assert after.reason == ("retrain: accuracy low: accuracy 0.429 is below 0.5 in the window from 2013-02-26; "
                            "63 labels arrived since the start")
    assert after.new_labels == 63 and after.last_retrain is None
    assert after.table["accuracy"].round(3).tolist()[-1] == 0.429


def test_labels_that_arrive_after_now_do_not_count(log, wind_registry, store):
    _seasons(log, store, late_march="2013-04-03")
    policy = _performance(wind_registry)

    assert not policy.decide(store, "2013-04-02").retrain  # March is in the store, but nobody knows it yet
    assert policy.decide(store, "2013-04-03").retrain


def test_decide_is_deterministic(log, wind_registry, store):
    _seasons(log, store)
    policy = _performance(wind_registry)

    first, second = policy.decide(store, "2013-03-20"), policy.decide(store, "2013-03-20")

    assert first == second
    assert first.table.equals(second.table)


def test_never_twice_for_one_incident(log, wind_registry, store):
    _seasons(log, store)
    policy = _performance(wind_registry, cooldown="1D")
    decision = policy.decide(store, "2013-03-10")
    version = retrain(wind_registry, "wind", store=store, now="2013-03-10", window="60D", decision=decision)

    again = policy.decide(store, "2013-03-25")  # March is still bad: the same incident, and past the cooldown

    assert version.lineage["trigger"]["incident"] == decision.incident
    assert not again.retrain
    assert again.incident == decision.incident
    assert again.reason.endswith("; version 2 was already retrained for it on 2013-03-10")
    assert again.last_retrain == pd.Timestamp("2013-03-10", tz="UTC")
    # Asked about a moment before that retrain, the policy answers what it answered then.
    assert policy.decide(store, "2013-03-09").retrain


def test_a_new_incident_after_recovery_triggers_again(log, wind_registry, store):
    _seasons(log, store)
    policy = _performance(wind_registry)
    retrain(wind_registry, "wind", store=store, now="2013-03-10", window="60D",
            decision=policy.decide(store, "2013-03-10"))

    may = policy.decide(store, "2013-05-15")  # April recovered; May is a new incident

    assert may.retrain
    assert may.incident == "accuracy low since 2013-05-07T00:00:00+00:00"
    assert may.reason.endswith("labels arrived since the last retrain on 2013-03-10")
    assert may.new_labels == 66  # the labels of the events of Mar 10 to May 14, which arrived after Mar 10


def test_cooldown_holds_back_a_new_incident(log, wind_registry, store):
    _seasons(log, store)
    policy = _performance(wind_registry, cooldown="90D")
    retrain(wind_registry, "wind", store=store, now="2013-03-10", window="60D",
            decision=policy.decide(store, "2013-03-10"))

    may = policy.decide(store, "2013-05-15")

    assert not may.retrain
    assert may.reason.endswith(
        "but the last retrain was on 2013-03-10, less than the cooldown of 90 days ago (the next can be on 2013-06-08)"
    )


def test_min_new_labels_holds_back(log, wind_registry, store):
    _seasons(log, store)
    decision = _performance(wind_registry, min_new_labels=100).decide(store, "2013-03-05")

    assert not decision.retrain
    assert decision.reason.endswith("but only 63 labels arrived since the start, fewer than the 100 needed to learn from")


def test_schedule_counts_from_start_then_from_the_last_retrain(log, wind_registry, store):
    days = pd.date_range("2013-01-01", "2013-03-31", freq="D")
    wind = np.random.default_rng(2).normal(size=len(days))
    for i, (day, w) in enumerate(zip(days, wind)):
        log(store, days=[day], wind=[w], labels=[w > 0], label_at=day + pd.Timedelta(days=1), prefix=f"d{i}-")
    policy = SchedulePolicy(registry=wind_registry, name="wind", every="30D", min_new_labels=10)

    assert policy.decide(store, "2013-01-30").reason == "no retrain: the next scheduled retrain is due on 2013-01-31"
    due = policy.decide(store, "2013-02-01")
    assert due.retrain and due.incident == "schedule due on 2013-01-31T00:00:00+00:00"
    retrain(wind_registry, "wind", store=store, now="2013-02-01", window="30D", decision=due)

    assert policy.decide(store, "2013-02-20").reason == "no retrain: the next scheduled retrain is due on 2013-03-03"
    assert policy.decide(store, "2013-03-04").retrain


def test_schedule_with_nothing_logged_waits(log, wind_registry, store):
    decision = SchedulePolicy(registry=wind_registry, name="wind", every="30D").decide(store, "2013-05-01")

    assert decision == Decision(retrain=False, reason="no retrain: nothing is logged yet, so the schedule has not started",
                                policy="SchedulePolicy(every 30 days)", now=pd.Timestamp("2013-05-01", tz="UTC"))


def _drifting(log, store) -> None:
    """Jan and Feb blow as in training; in March the wind is three standard deviations stronger."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2013-01-01", "2013-03-31", freq="D")
    wind = np.where(days.month == 3, 3.0, 0.0) + rng.normal(size=len(days))
    log(store, days=days, wind=wind, labels=wind > 0, label_at="2013-04-01")


def test_drift_policy_judges_each_window_against_the_reference(log, wind_registry, store):
    _drifting(log, store)
    policy = DriftPolicy(registry=wind_registry, name="wind", reference="champion", window="30D", min_new_labels=10)

    decision = policy.decide(store, "2013-04-02")

    assert decision.table["dataset_drift"].tolist() == [0.0, 0.0, 1.0]
    assert decision.retrain
    assert decision.incident == "dataset drift since 2013-03-02T00:00:00+00:00"
    assert "dataset drift: dataset_drift 1 is above 0.5 in the window from 2013-03-02 (100% of the columns drifted)" in decision.reason
    assert not policy.decide(store, "2013-02-15").retrain  # before March nothing had drifted


def test_drift_policy_acts_on_a_stored_alert_once(log, wind_registry, store):
    _drifting(log, store)
    alert = pd.DataFrame([{"time": pd.Timestamp("2013-03-15", tz="UTC"), "rule": "inputs drifted",
                           "measure": "drift_share", "value": 1.0, "threshold": 0.5, "message": "wind drifted"}])
    store.add_alerts(alert)
    policy = DriftPolicy(registry=wind_registry, name="wind", alert="inputs drifted", min_new_labels=10, cooldown="1D")

    assert not policy.decide(store, "2013-03-15").retrain  # an alert at 00:00 on Mar 15 is not before now
    decision = policy.decide(store, "2013-04-02")
    assert decision.retrain and decision.incident == "inputs drifted at 2013-03-15T00:00:00+00:00"
    retrain(wind_registry, "wind", store=store, now="2013-04-02", window="90D", decision=decision)

    later = policy.decide(store, "2013-04-20")
    assert not later.retrain
    assert later.reason == "no retrain: no alert 'inputs drifted' in the store since the last retrain on 2013-04-02"


def test_drift_policy_needs_one_source(log, wind_registry, store):
    with pytest.raises(DataError, match="expected reference= or alert=, exactly one; got reference=None, alert=None"):
        DriftPolicy(registry=wind_registry, name="wind").decide(store, "2013-04-02")


def test_settings_are_checked_when_deciding(log, wind_registry, store):
    with pytest.raises(DataError, match="expected cooldown to be a positive duration such as '30D'"):
        _performance(wind_registry, cooldown="soon").decide(store, "2013-04-02")
    with pytest.raises(DataError, match="expected min_new_labels to be a whole number, 0 or more; got -1"):
        _performance(wind_registry, min_new_labels=-1).decide(store, "2013-04-02")
    with pytest.raises(DataError, match="expected the rule's measure to be a metric of performance_over_time"):
        _performance(wind_registry, rule=Rule(name="slow", measure="latency_ms", above=100)).decide(store, "2013-04-02")
    with pytest.raises(DataError, match="expected registry to be a labkit.Registry"):
        _performance("workspace/registry").decide(store, "2013-04-02")
    with pytest.raises(DataError, match="expected now to be a time such as '2014-01-01'; got 'tomorrow'"):
        _performance(wind_registry).decide(store, "tomorrow")


def test_constructors_only_store(wind_registry):
    policy = PerformancePolicy(registry=wind_registry, name="wind", rule="not a rule", cooldown="never")

    assert policy.rule == "not a rule" and policy.cooldown == "never"
    with pytest.raises(TypeError):
        PerformancePolicy(wind_registry, "wind", ACCURACY_LOW)


def test_lk_maintenance_is_reachable():
    assert lk.maintenance.PerformancePolicy is PerformancePolicy


def test_drift_policy_remembers_judged_windows_without_changing_answers(log, wind_registry, store):
    _drifting(log, store)
    settings = {"registry": wind_registry, "name": "wind", "reference": "champion", "window": "30D", "min_new_labels": 10}
    policy = DriftPolicy(**settings)

    answers = [policy.decide(store, now) for now in ("2013-02-15", "2013-04-02", "2013-04-02")]

    assert answers == [DriftPolicy(**settings).decide(store, now) for now in ("2013-02-15", "2013-04-02", "2013-04-02")]
    assert [a.retrain for a in answers] == [False, True, True]


@pytest.mark.parametrize(
    ("recover_at", "incident", "retrains"),
    [(None, "accuracy low since 2013-04-23T00:00:00+00:00", True),
     (0.6, "accuracy low since 2013-02-26T00:00:00+00:00", False)],
)
def test_hysteresis_decides_what_one_incident_is(log, wind_registry, store, recover_at, incident, retrains):
    # The window from Apr 9 is right half the time: back at the threshold, but not clearly good.
    # Without hysteresis that ends March's incident, and the dip from Apr 23 is a new one; with
    # recover_at=0.6 it does not, and the dip is the same incident, already retrained for.
    _seasons(log, store, mixed_april=True)
    rule = Rule(name="accuracy low", measure="accuracy", below=0.5, recover_at=recover_at)
    policy = _performance(wind_registry, rule=rule, cooldown="1D")
    retrain(wind_registry, "wind", store=store, now="2013-03-10", window="60D",
            decision=policy.decide(store, "2013-03-10"))

    may = policy.decide(store, "2013-05-15")

    assert may.table["accuracy"].tolist()[7] == 0.5
    assert may.incident == incident
    assert may.retrain == retrains


def test_nothing_logged_is_nothing_to_judge(wind_registry, store):
    decision = _performance(wind_registry).decide(store, "2013-05-01")

    assert not decision.retrain
    assert decision.reason == "no retrain: no window had 7 labelled rows to judge accuracy by"
