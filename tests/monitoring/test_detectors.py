"""Tests for labkit.monitoring.detectors: river's drift detectors on streams with a known drift."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from river.datasets import synth

from labkit.errors import DataError
from labkit.monitoring.alerts import ALERT_COLUMNS, Rule, evaluate
from labkit.monitoring.detectors import DETECTORS, Detection, compare_detectors, mistakes, run_detector
from labkit.store import PredictionStore

DRIFT = 2000


@pytest.fixture(scope="module")
def sea_mistakes() -> pd.Series:
    """The mistakes of a model that learnt SEA's first concept, hour by hour, with the concept changing at row 2000.

    The model is the first concept's own rule (x0 + x1 > 7), so before the drift it is
    wrong only where SEA's 10% noise flips a label; after it (threshold 9.5) it is wrong
    about a quarter of the time.
    """
    stream = synth.ConceptDriftStream(
        stream=synth.SEA(variant=2, noise=0.1, seed=1),
        drift_stream=synth.SEA(variant=3, noise=0.1, seed=2),
        position=DRIFT,
        width=20,  # nearly abrupt; river's logistic overflows for a width much below 12 here
        seed=3,
    )
    mistakes = [int((x[0] + x[1] > 7) != y) for x, y in itertools.islice(stream, 4000)]
    return pd.Series(mistakes, index=pd.date_range("2013-01-01", periods=4000, freq="h", tz="UTC"))


@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley", "DDM", "EDDM", "HDDMA"])
def test_detectors_fire_after_the_sea_drift_with_the_delay_reported(sea_mistakes, name):
    found = run_detector(sea_mistakes, name, drift_at=DRIFT)

    assert found.detected
    assert found.false_alarms == 0
    assert 0 < found.delay_rows < 1000
    first = found.alarms[found.alarms["position"] >= DRIFT].iloc[0]
    assert first["position"] == DRIFT + found.delay_rows
    assert found.delay_time == pd.Timedelta(hours=found.delay_rows)  # one row an hour
    assert first["time"] == sea_mistakes.index[first["position"]]
    assert (found.alarms["detector"] == name).all()


def test_runs_repeat_exactly(sea_mistakes):
    first = compare_detectors(sea_mistakes, drift_at=DRIFT, detectors=["ADWIN", "KSWIN", "DDM"])
    again = compare_detectors(sea_mistakes, drift_at=DRIFT, detectors=["ADWIN", "KSWIN", "DDM"])

    pd.testing.assert_frame_equal(first, again)


def test_the_periodic_baseline_fires_every_n_rows_whatever_it_reads(sea_mistakes):
    found = run_detector(sea_mistakes, "Periodic", drift_at=DRIFT, every=500)

    assert found.alarms["position"].tolist() == [499, 999, 1499, 1999, 2499, 2999, 3499, 3999]
    assert found.false_alarms == 4
    assert found.delay_rows == 499


def test_comparison_puts_the_baseline_beside_the_detectors(sea_mistakes):
    table = compare_detectors(sea_mistakes, drift_at=DRIFT, detectors=["ADWIN", "DDM"], every=500)

    assert table["detector"].tolist() == ["ADWIN", "DDM", "Periodic"]
    assert table.set_index("detector").loc["Periodic", "false_alarms"] == 4
    adwin = table.set_index("detector").loc["ADWIN"]
    assert adwin["delay_rows"] == run_detector(sea_mistakes, "ADWIN", drift_at=DRIFT).delay_rows
    # A real detector beats the baseline here: no false alarms, and a shorter delay.
    assert adwin["false_alarms"] == 0 and adwin["delay_rows"] < 499


def test_a_missed_drift_has_no_delay():
    mistakes = pd.Series([0, 1] * 200, index=pd.date_range("2013-01-01", periods=400, freq="D", tz="UTC"))

    table = compare_detectors(mistakes, drift_at=300, detectors=["DDM"], every=1000)

    assert not table["detected"].any()
    assert table["delay_rows"].isna().all() and table["delay_time"].isna().all()


def test_drift_at_may_be_a_time(sea_mistakes):
    by_time = run_detector(sea_mistakes, "ADWIN", drift_at=sea_mistakes.index[DRIFT])
    by_text = run_detector(sea_mistakes, "ADWIN", drift_at=str(sea_mistakes.index[DRIFT]))

    by_date = run_detector(sea_mistakes, "ADWIN", drift_at="2013-03-25")  # no zone: the stream's

    assert by_time.drift_position == by_text.drift_position == DRIFT
    assert by_date.drift_position == 24 * (31 + 28 + 24)
    assert by_time.delay_rows == run_detector(sea_mistakes, "ADWIN", drift_at=DRIFT).delay_rows


def test_kswin_reads_a_metric_stream():
    rng = np.random.default_rng(0)
    accuracy = np.concatenate([rng.normal(0.85, 0.03, 300), rng.normal(0.65, 0.03, 300)])
    daily = pd.Series(accuracy, index=pd.date_range("2013-01-01", periods=600, freq="D", tz="UTC"))

    found = run_detector(daily, "KSWIN", drift_at=300)

    assert found.detected and found.delay_rows < 100
    assert found.delay_time == pd.Timedelta(days=found.delay_rows)


def test_without_a_known_drift_only_the_alarms_come_back(sea_mistakes):
    found = run_detector(sea_mistakes, "ADWIN")

    assert len(found.alarms) >= 1
    assert found.drift_position is None and found.false_alarms is None and not found.detected


def test_settings_reach_the_river_detector(sea_mistakes):
    eager = run_detector(sea_mistakes, "PageHinkley", threshold=5.0)
    default = run_detector(sea_mistakes, "PageHinkley")

    assert len(eager.alarms) > len(default.alarms)


def test_every_named_detector_runs(sea_mistakes):
    for name in DETECTORS:
        found = run_detector(sea_mistakes.iloc[:300], name)
        assert list(found.alarms.columns) == ["time", "position", "detector"]


def test_unknown_detector_is_refused(sea_mistakes):
    with pytest.raises(DataError, match=r"expected a detector among .*got 'CUSUM'"):
        run_detector(sea_mistakes, "CUSUM")


def test_binary_detectors_read_only_mistakes():
    metric = pd.Series([0.8, 0.9], index=pd.date_range("2013-01-01", periods=2, tz="UTC"))

    with pytest.raises(DataError, match=r"expected only 0 and 1 for DDM, which reads mistakes; got 0.8; fix"):
        run_detector(metric, "DDM")


def test_the_stream_must_be_indexed_by_time():
    with pytest.raises(DataError, match=r"expected a pandas Series indexed by time .*got a Series with a RangeIndex"):
        run_detector(pd.Series([0, 1, 0]), "ADWIN")


def test_missing_values_are_refused():
    stream = pd.Series([0, None, 1], index=pd.date_range("2013-01-01", periods=3, tz="UTC"))

    with pytest.raises(DataError, match=r"got 1 missing; fix: drop them"):
        run_detector(stream, "ADWIN")


def test_drift_outside_the_stream_is_refused(sea_mistakes):
    with pytest.raises(DataError, match=r"expected drift_at inside the stream's 4000 rows"):
        run_detector(sea_mistakes, "ADWIN", drift_at=5000)


def test_a_wrong_setting_names_the_right_ones(sea_mistakes):
    with pytest.raises(TypeError, match=r"expected settings of ADWIN among \['delta', .*got \['threshold'\]"):
        run_detector(sea_mistakes, "ADWIN", threshold=3)


def test_mistakes_come_from_labelled_rows_in_event_time_order():
    frame = pd.DataFrame(
        {
            "event_time": pd.to_datetime(["2013-01-03", "2013-01-01", "2013-01-02", "2013-01-04"]).tz_localize("UTC"),
            "prediction": [True, True, False, False],
            "label": pd.Series([False, True, None, False], dtype=object),
        }
    )

    stream = mistakes(frame)

    assert stream.tolist() == [0, 1, 0]
    assert stream.index.tolist() == list(pd.to_datetime(["2013-01-01", "2013-01-03", "2013-01-04"]).tz_localize("UTC"))
    assert run_detector(stream, "DDM").alarms.empty  # a detector reads it as it is


def test_an_empty_store_gives_an_empty_stream_with_no_alarms():
    empty = pd.DataFrame(columns=["request_id", "event_time", "prediction", "label", "label_time"])

    stream = mistakes(empty)

    assert stream.empty and isinstance(stream.index, pd.DatetimeIndex)
    assert run_detector(stream, "ADWIN").alarms.empty


def test_a_naive_timestamp_is_refused_against_a_zoned_stream(sea_mistakes):
    with pytest.raises(DataError, match=r"time with the stream's time zone \(UTC\); got Timestamp"):
        run_detector(sea_mistakes, "ADWIN", drift_at=pd.Timestamp("2013-03-25"))


# Alarms as alerts ----------------------------------------------------------------------


@pytest.fixture
def periodic() -> Detection:
    """Alarms at rows 499, 999, ..., 2999 of a stream that drifts at row 1200: two false, one detection, three after."""
    stream = pd.Series(0, index=pd.date_range("2013-01-01", periods=3000, freq="h", tz="UTC"))
    return run_detector(stream, "Periodic", drift_at=1200, every=500)


def test_each_alarm_becomes_an_alert_that_says_false_detection_or_later(periodic):
    alerts = periodic.to_alerts()

    assert list(alerts.columns) == ALERT_COLUMNS
    assert alerts["time"].tolist() == periodic.alarms["time"].tolist()
    assert alerts["value"].tolist() == [499.0, 999.0, 1499.0, 1999.0, 2499.0, 2999.0]
    assert (alerts["rule"] == "Periodic alarm").all() and (alerts["measure"] == "alarm").all()
    assert alerts["threshold"].isna().all()
    assert alerts["message"].tolist()[:4] == [
        "Periodic raised a false alarm at row 499 (2013-01-21 19:00:00+00:00), 701 rows before the drift began",
        "Periodic raised a false alarm at row 999 (2013-02-11 15:00:00+00:00), 201 rows before the drift began",
        "Periodic detected the drift 299 rows (12 days 11:00:00) after it began, at row 1499 (2013-03-04 11:00:00+00:00)",
        "Periodic raised another alarm at row 1999 (2013-03-25 07:00:00+00:00), 799 rows after the drift began "
        "(it was detected at row 1499)",
    ]


def test_without_a_known_drift_an_alert_only_says_where_the_detector_fired(sea_mistakes):
    found = run_detector(sea_mistakes, "DDM")

    alerts = found.to_alerts(rule="DDM on mistakes")

    assert len(alerts) == len(found.alarms) > 0
    first = found.alarms.iloc[0]
    assert alerts["message"].iloc[0] == f"DDM raised an alarm at row {first['position']} ({first['time']})"
    assert (alerts["rule"] == "DDM on mistakes").all()


def test_alarm_alerts_round_trip_through_the_store(tmp_path, periodic, sea_mistakes):
    store = PredictionStore(tmp_path / "monitor.db")
    alerts = pd.concat([periodic.to_alerts(), run_detector(sea_mistakes, "ADWIN", drift_at=DRIFT).to_alerts()])

    assert store.add_alerts(alerts) == len(alerts) == 7
    assert store.add_alerts(alerts) == 0  # the same alarms again page no one twice
    kept = store.alerts(rule="Periodic alarm")
    pd.testing.assert_frame_equal(kept, periodic.to_alerts(), check_dtype=False)
    assert str(kept["time"].dt.tz) == "UTC" and kept["threshold"].dtype == float
    assert store.alerts(rule="ADWIN alarm")["message"].iloc[0].startswith("ADWIN detected the drift ")


def test_naive_stream_times_become_utc_alert_times():
    stream = pd.Series(0, index=pd.date_range("2013-01-01", periods=1000, freq="h"))

    alerts = run_detector(stream, "Periodic", every=400).to_alerts()

    assert alerts["time"].tolist() == [pd.Timestamp("2013-01-17 15:00", tz="UTC"), pd.Timestamp("2013-02-03 07:00", tz="UTC")]


def test_a_detection_without_alarms_gives_no_alerts_and_no_windows(tmp_path):
    stream = pd.Series(0, index=pd.date_range("2013-01-01", periods=200, freq="h", tz="UTC"))
    found = run_detector(stream, "ADWIN")

    assert found.to_alerts().empty and list(found.to_alerts().columns) == ALERT_COLUMNS
    assert found.alarm_counts("1D").empty
    assert evaluate([Rule(name="drift", measure="alarms", above=0)], found.alarm_counts(), time_column="start").empty
    assert PredictionStore(tmp_path / "monitor.db").add_alerts(found.to_alerts()) == 0


def test_a_rule_over_alarm_counts_makes_a_burst_of_alarms_one_stored_alert(tmp_path, sea_mistakes):
    found = run_detector(sea_mistakes, "Periodic", every=100)  # 40 alarms, 100 hours apart: each week has one or two
    counts = found.alarm_counts("7D")
    rule = Rule(name="drift suspected", measure="alarms", above=0, recover_at=0)

    alerts = evaluate([rule], counts, time_column="start")

    assert counts["alarms"].sum() == len(found.alarms) == 40
    assert (counts["end"] - counts["start"] == pd.Timedelta(days=7)).all()
    assert len(alerts) == 1 and alerts["time"].iloc[0] == counts["start"].iloc[0]
    store = PredictionStore(tmp_path / "monitor.db")
    assert store.add_alerts(alerts) == 1
    assert store.alerts()["message"].tolist() == ["drift suspected: alarms 2 is above 0"]


@pytest.mark.parametrize("window", [7, "a week"])
def test_alarm_counts_take_a_span_of_time(periodic, window):
    with pytest.raises(DataError, match=r"expected window to be a pandas offset such as .*; got"):
        periodic.alarm_counts(window)
