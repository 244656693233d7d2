"""The maintenance panel, driven by clicks: check, retrain, compare, promote through the gate, roll back."""

from __future__ import annotations

import pandas as pd
import pytest

import labkit as lk
from labkit.maintenance import MetricThreshold, PerformancePolicy, SchedulePolicy
from labkit.monitoring import Rule
from labkit.widgets import MaintenancePanel

FEATURES = list(lk.data.FEATURES)


@pytest.fixture
def panel(weather_registry, weather_store, weather_split) -> MaintenancePanel:
    train, _ = weather_split
    policy = PerformancePolicy(registry=weather_registry, name="weather",
                               rule=Rule(name="accuracy low", measure="accuracy", below=0.6, for_windows=2),
                               window="30D", cooldown="30D", min_new_labels=30)
    return MaintenancePanel(
        weather_registry, "weather", store=weather_store, policy=policy,
        gate=MetricThreshold(min_absolute_change=0.01, greater_is_better=True), now="2013-12-20",
        retrain_options={"window": "120D", "holdout": "30D", "original": (train[FEATURES], train["rain_tomorrow"])},
        compare_options={"window": "30D", "n_bootstrap": 300},
    )


def test_check_shows_the_policys_verdict_and_the_alerts(panel, weather_store):
    weather_store.add_alerts(pd.DataFrame([{"time": pd.Timestamp("2013-11-01", tz="UTC"), "rule": "accuracy low",
                                            "measure": "accuracy", "value": 0.45, "threshold": 0.6,
                                            "message": "accuracy low: accuracy 0.45 is below 0.6"}]))
    panel.check_button.click()
    assert panel.decision is not None
    assert panel.verdict.value == f"<p>{panel.decision.reason}</p>".replace("'", "&#x27;")
    assert "accuracy low: accuracy 0.45 is below 0.6" in panel.alerts.value


def test_retrain_compare_promote_and_rollback_each_show_in_the_history(panel, weather_registry):
    panel.check_button.click()
    panel.retrain_button.click()
    assert panel.status.value.startswith("<p>version 2 trained on ")
    assert weather_registry.aliases("weather")["challenger"] == 2

    panel.compare_button.click()
    assert panel.comparison is not None and panel.comparison.challenger == 2
    assert "the challenger (version 2)" in panel.status.value

    panel.promote_button.click()
    champion = weather_registry.aliases("weather")["champion"]
    assert panel.status.value.startswith("<p>promoted: " if champion == 2 else "<p>not promoted: ")
    assert "<td>promote</td>" in panel.history.value or "<td>rejected</td>" in panel.history.value

    if champion == 2:
        panel.rollback_button.click()
        assert weather_registry.aliases("weather")["champion"] == 1
        assert panel.status.value == "<p>rolled back: the champion is version 1 again</p>"
        assert "rolled back from the maintenance panel" in panel.history.value


def test_a_step_out_of_order_is_explained_in_the_panel_not_raised(panel, weather_registry):
    panel.promote_button.click()
    assert panel.status.value.startswith("<p>cannot promote: expected a comparison before promoting")
    panel.rollback_button.click()
    assert panel.status.value.startswith("<p>cannot rollback: expected alias")
    assert weather_registry.aliases("weather")["champion"] == 1


def test_moving_now_changes_what_the_policy_sees(weather_registry, weather_store):
    schedule = SchedulePolicy(registry=weather_registry, name="weather", every="90D", start="2013-01-01",
                              min_new_labels=1)
    panel = MaintenancePanel(weather_registry, "weather", store=weather_store, policy=schedule,
                             gate=MetricThreshold(threshold=0.5, greater_is_better=True), now="2013-02-01")
    panel.check_button.click()
    early = panel.decision.retrain
    panel.now = "2013-06-01"
    panel.check_button.click()
    assert (early, panel.decision.retrain) == (False, True)
