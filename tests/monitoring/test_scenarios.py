"""Scenarios change only what they say, only from when they say, the same way every run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError
from labkit.monitoring import scenarios


@pytest.fixture(scope="module")
def days() -> pd.DataFrame:
    return lk.data.running_example(lk.data.load_weather())


def test_an_abrupt_shift_moves_every_row_after_start_and_none_before(days):
    changed = scenarios.shift(days, "wind", by=2.0, start="2014-01-01")
    after = days["date"] >= "2014-01-01"

    assert np.allclose((changed["wind"] - days["wind"])[after], 2.0)
    assert (changed["wind"] == days["wind"])[~after].all()
    assert changed.drop(columns="wind").equals(days.drop(columns="wind"))
    assert not days["wind"].equals(changed["wind"])  # the input is left as it was


def test_a_gradual_shift_grows_linearly_over_its_ramp(days):
    changed = scenarios.shift(days, "temp_max", by=10.0, start="2014-01-01", ramp="100D")
    moved = (changed["temp_max"] - days["temp_max"]).set_axis(days["date"])

    assert moved["2014-01-01"] == 0.0
    assert moved["2014-02-20"] == pytest.approx(5.0)  # half way
    assert moved["2014-04-11"] == pytest.approx(10.0)
    assert moved["2015-06-01"] == pytest.approx(10.0)
    assert moved[:"2013-12-31"].abs().max() == 0.0


def test_categories_are_redrawn_with_the_new_shares_the_same_way_each_run(days):
    first = scenarios.resample_categories(days, "weather", shares={"rain": 3, "hail": 1}, start="2014-01-01", seed=4)
    again = scenarios.resample_categories(days, "weather", shares={"rain": 3, "hail": 1}, start="2014-01-01", seed=4)
    after = days["date"] >= "2014-01-01"

    assert first.equals(again)
    shares = first.loc[after, "weather"].value_counts(normalize=True)
    assert set(shares.index) == {"rain", "hail"} and shares["rain"] == pytest.approx(0.75, abs=0.05)
    assert first.loc[~after, "weather"].equals(days.loc[~after, "weather"].astype(object))


def test_a_swapped_concept_rewrites_only_the_labels_after_start(days):
    changed = scenarios.swap_concept(days, label_column="rain_tomorrow", rule=lambda rows: rows["wind"] > 4, start="2015-01-01")
    after = days["date"] >= "2015-01-01"

    assert changed.loc[after, "rain_tomorrow"].tolist() == (days.loc[after, "wind"] > 4).tolist()
    assert changed.loc[~after, "rain_tomorrow"].equals(days.loc[~after, "rain_tomorrow"])
    assert changed[list(lk.data.FEATURES)].equals(days[list(lk.data.FEATURES)])


def test_noise_and_missing_values_start_when_told(days):
    noisy = scenarios.add_noise(days, "wind", scale=3.0, start="2014-06-01", seed=1)
    holes = scenarios.add_missing(days, "wind", share=0.3, start="2014-06-01", seed=1)
    after = days["date"] >= "2014-06-01"

    assert (noisy.loc[~after, "wind"] == days.loc[~after, "wind"]).all()
    assert (noisy.loc[after, "wind"] - days.loc[after, "wind"]).std() == pytest.approx(3.0, rel=0.15)
    assert holes.loc[~after, "wind"].notna().all()
    assert holes.loc[after, "wind"].isna().mean() == pytest.approx(0.3, abs=0.06)


def test_a_sea_stream_changes_its_concept_at_the_row_asked(days):
    stream = scenarios.sea_stream(4000, drift_at=2500, seed=0)
    again = scenarios.sea_stream(4000, drift_at=2500, seed=0)

    assert stream.equals(again)
    assert list(stream.columns) == ["date", "x0", "x1", "x2", "label"]
    before, after = stream.iloc[:2500], stream.iloc[2500:]
    # SEA's rule: x0 + x1 above a threshold (8 before, 9.5 after) is True.
    assert ((before["x0"] + before["x1"] > 8) == before["label"]).all()
    assert ((after["x0"] + after["x1"] > 9.5) == after["label"]).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: scenarios.shift(d, "nope", by=1.0, start="2014-01-01"), "expected a column 'nope' to change"),
        (lambda d: scenarios.shift(d, "wind", by=1.0, start="2014-01-01", time_column="when"), "expected an event-time column 'when'"),
        (lambda d: scenarios.add_missing(d, "wind", share=2.0, start="2014-01-01"), "expected share between 0 and 1"),
        (lambda d: scenarios.resample_categories(d, "weather", shares={}, start="2014"), "expected shares of at least one category"),
        (lambda d: scenarios.sea_stream(10, drift_at=10), "expected drift_at between 1 and n - 1"),
    ],
)
def test_bad_arguments_are_named(days, call, message):
    with pytest.raises((DataError, ValueError), match=message):
        call(days)


def test_stationary_traffic_is_drawn_from_the_frame_one_row_per_day_and_repeats_for_a_seed(weather_split):
    train, _ = weather_split
    calm = scenarios.stationary(train, days=100, start="2014-03-01", seed=3)

    assert len(calm) == 100 and calm.index.tolist() == list(range(100))
    assert calm["date"].tolist() == pd.date_range("2014-03-01", periods=100, freq="D").tolist()
    columns = [c for c in train.columns if c != "date"]
    drawn = calm[columns].apply(tuple, axis=1)
    assert drawn.isin(set(train[columns].apply(tuple, axis=1))).all()
    assert calm.equals(scenarios.stationary(train, days=100, start="2014-03-01", seed=3))
    assert not calm.equals(scenarios.stationary(train, days=100, start="2014-03-01", seed=4))


@pytest.mark.parametrize("days", [0, -1, 2.5, True])
def test_stationary_traffic_needs_a_whole_number_of_days(weather_split, days):
    train, _ = weather_split
    with pytest.raises(ValueError, match="expected days to be a whole number"):
        scenarios.stationary(train, days=days, start="2013-01-01")
