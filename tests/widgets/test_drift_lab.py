"""The drift lab, driven without a browser: a scenario in, a real replay, the monitors' reaction out."""

from __future__ import annotations

import pandas as pd
import pytest

import labkit as lk
from labkit.monitoring import scenarios
from labkit.widgets import DriftLab
from labkit.widgets.drift_lab import SCENARIOS, inject, run_lab


@pytest.fixture(scope="module")
def calm(weather_split) -> pd.DataFrame:
    """A year that does not drift on its own: 2012's days drawn at random, one per day of 2013."""
    train, _ = weather_split
    return scenarios.stationary(train, days=365, start="2013-01-01", seed=0)


@pytest.fixture(scope="module")
def lab_service(champion_registry, tmp_path_factory):
    store_path = tmp_path_factory.mktemp("drift-lab") / "monitor.db"
    with lk.deploy(champion_registry, "weather", alias="champion", store=store_path) as dep:
        yield dep, lk.PredictionStore(store_path)


@pytest.fixture
def lab(lab_service, calm, champion_registry) -> DriftLab:
    dep, store = lab_service
    return DriftLab(dep, store, calm, reference=champion_registry.get("weather", alias="champion").reference)


def _replay(lab: DriftLab, scenario: str, *, column: str | None = None, amount: float, start: str = "2013-07") -> None:
    lab.scenario.value = scenario
    if column is not None:
        lab.column.value = column
    lab.amount.value = amount
    lab.start.value = dict(lab.start.options)[start]
    lab.run_button.click()


def test_with_nothing_injected_nothing_drifts_and_nothing_alerts(lab, calm):
    lab.run_button.click()

    assert lab.status.value == (
        "no drift injected: 365 predictions; 0 of 5 features drifted from then on (0 without the injection); 0 alerts"
    )
    assert lab.metric_image.value[:4] == b"\x89PNG"
    assert lab.alerts_table.value == "<p>no alerts</p>"
    assert len(lab.last_run.predictions) == len(calm)


def test_a_shifted_feature_drifts_where_it_did_not_and_the_table_shows_both(lab, calm):
    _replay(lab, "shift", column="temp_max", amount=2.0)

    drift = lab.last_run.drift.table.set_index("column")["drifted"]
    before = lab.last_run.drift_before.table.set_index("column")["drifted"]
    assert drift["temp_max"] and not before["temp_max"]
    assert not drift.drop("temp_max").any()
    assert lab.status.value.startswith(f"temp_max moved by {2 * calm['temp_max'].std():+.1f} (2 standard deviations)")
    assert "1 of 5 features drifted from then on (0 without the injection)" in lab.status.value
    assert "<td>temp_max</td>" in lab.drift_table.value and "✱" in lab.drift_table.value


def test_a_changed_concept_moves_no_feature_but_the_accuracy_alert_fires_after_it(lab):
    _replay(lab, "concept", amount=0.5)

    run = lab.last_run
    assert not run.drift.table["drifted"].any()
    assert len(run.alerts) >= 1 and set(run.alerts["rule"]) == {"accuracy low"}
    assert run.alerts["time"].min() >= pd.Timestamp("2013-07-01", tz="UTC")
    assert "accuracy low: accuracy" in lab.alerts_table.value
    # Labels flipped from July: the store holds what the replay sent back.
    july = run.predictions["event_time"] >= pd.Timestamp("2013-07-01", tz="UTC")
    flipped = run.predictions["label"] != run.traffic["rain_tomorrow"].to_numpy()
    assert not flipped.any()
    assert (run.traffic["rain_tomorrow"].to_numpy()[july.to_numpy()] != lab.traffic["rain_tomorrow"].to_numpy()[july.to_numpy()]).mean() == pytest.approx(0.5, abs=0.1)


def test_each_run_reads_back_only_its_own_predictions(lab, calm):
    lab.run_button.click()
    lab.run_button.click()
    assert len(lab.last_run.predictions) == len(calm)
    assert len(lab.store) >= 2 * len(calm)


def test_the_controls_follow_the_scenario(lab):
    lab.scenario.value = "categories"
    assert lab.column.options == ("weather",)
    assert lab.category.options == ("drizzle", "fog", "rain", "snow", "sun") and not lab.category.disabled
    assert (lab.amount.min, lab.amount.max) == (0.0, 1.0)

    lab.scenario.value = "shift"
    assert lab.column.options == ("precipitation", "temp_max", "temp_min", "wind")
    assert lab.category.disabled and (lab.amount.min, lab.amount.max) == (-3.0, 3.0)

    lab.scenario.value = "none"
    assert lab.amount.disabled and lab.column.disabled
    assert lab.explain.value == SCENARIOS["none"][0]


def test_a_stopped_service_shows_in_the_status_line_not_as_a_traceback(champion_registry, calm, tmp_path):
    dep = lk.deploy(champion_registry, "weather", alias="champion", store=tmp_path / "monitor.db")
    lab = DriftLab(dep, tmp_path / "monitor.db", calm,
                   reference=champion_registry.get("weather", alias="champion").reference)
    dep.stop()

    lab.run_button.click()

    assert lab.status.value.startswith("cannot run: ")
    assert "fix:" in lab.status.value
    assert lab.last_run is None


def test_inject_changes_only_what_it_says_from_the_start(calm):
    after = (calm["date"] >= "2013-07-01").to_numpy()

    shifted, said = inject(calm, scenario="shift", column="wind", amount=1.0, start="2013-07-01")
    moved = shifted["wind"] - calm["wind"]
    assert moved[~after].abs().max() == 0
    assert moved[after].to_numpy() == pytest.approx(calm["wind"].std())
    assert said == f"wind moved by {calm['wind'].std():+.1f} (1 standard deviation) from 2013-07-01"

    rainy, _ = inject(calm, scenario="categories", column="weather", category="snow", amount=0.9, start="2013-07-01")
    assert (rainy["weather"][after] == "snow").mean() == pytest.approx(0.9, abs=0.05)
    assert rainy["weather"][~after].tolist() == calm["weather"][~after].tolist()

    same, said = inject(calm, scenario="none", start="2013-07-01")
    assert same.equals(calm) and same is not calm and said == "no drift injected"


def test_inject_keeps_the_callers_index_even_when_it_repeats(calm):
    repeated = calm.set_axis([0] * len(calm))
    flipped, _ = inject(repeated, scenario="concept", amount=1.0, start="2013-07-01")
    assert flipped.index.equals(repeated.index)
    after = (calm["date"] >= "2013-07-01").to_numpy()
    assert (flipped["rain_tomorrow"].to_numpy()[after] != calm["rain_tomorrow"].to_numpy()[after]).all()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"scenario": "melt"}, "expected a scenario among"),
        ({"scenario": "shift", "column": "wind", "amount": 4.0}, "expected an amount from -3.0 to 3.0"),
        ({"scenario": "concept", "amount": -0.1}, "expected an amount from 0.0 to 1.0"),
        ({"scenario": "noise", "column": "humidity", "amount": 1.0}, "expected column= naming a feature"),
        ({"scenario": "shift", "amount": 1.0}, "expected column= naming a feature"),
    ],
)
def test_inject_refuses_settings_it_cannot_apply_and_says_how_to_fix_them(calm, settings, message):
    with pytest.raises(ValueError, match=message) as caught:
        inject(calm, start="2013-07-01", **settings)
    assert "fix:" in str(caught.value)


def test_run_lab_takes_custom_rules(lab_service, calm, champion_registry):
    dep, store = lab_service
    strict = lk.monitoring.Rule(name="any drift", measure="drift_share", above=0.0)
    run = run_lab(dep, store, calm, reference=champion_registry.get("weather", alias="champion").reference,
                  scenario="noise", column="precipitation", amount=3.0, start="2013-10-01", rules=[strict])
    assert set(run.alerts["rule"]) == {"any drift"}
    assert run.alerts["time"].max() >= pd.Timestamp("2013-10-01", tz="UTC")
