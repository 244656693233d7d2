"""Monitoring's pictures draw the numbers they are given: lines, bands, alert marks, drift cells, bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

import labkit as lk
from labkit.errors import DataError
from labkit.monitoring import CBPE, metric_over_time, performance_over_time
from labkit.monitoring.views import distribution, drift_over_time


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    """A year of logged, labelled predictions whose accuracy drops in the second half."""
    rng = np.random.default_rng(0)
    n = 360
    frame = pd.DataFrame({"event_time": pd.date_range("2013-01-01", periods=n, freq="D", tz="UTC"),
                          "proba_True": rng.random(n)})
    frame["proba_False"] = 1 - frame["proba_True"]
    frame["prediction"] = frame["proba_True"] > 0.5
    truth = rng.random(n) < frame["proba_True"]
    frame["label"] = np.where(np.arange(n) < 180, truth, ~truth)
    return frame


def test_a_metric_is_drawn_with_its_band_the_estimate_and_the_alerts(traffic):
    table = performance_over_time(traffic, window="30D", metrics=["accuracy"])
    estimate = CBPE(window="30D").fit(traffic.iloc[:180]).estimate(traffic.iloc[180:])
    alerts = pd.DataFrame({"time": pd.to_datetime(["2013-08-01", "2013-10-01"], utc=True)})

    figure = metric_over_time(table, "accuracy", estimate=estimate, alerts=alerts, labels_known_at="2013-11-01")

    axes = figure.axes[0]
    realised, estimated = axes.get_lines()[0], axes.get_lines()[1]
    assert realised.get_ydata().tolist() == table["value"].tolist()
    assert estimated.get_ydata().tolist() == estimate[estimate["metric"] == "accuracy"]["estimated"].tolist()
    bands = [c for c in axes.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    marks = [line for line in axes.get_lines()[2:] if line.get_color() == "tab:red"]
    assert len(marks) == 2
    assert [t.get_text() for t in axes.get_legend().get_texts()][:2] == ["accuracy (realised)", "band"]


def test_a_metric_that_is_not_in_the_table_is_named(traffic):
    table = performance_over_time(traffic, window="30D", metrics=["accuracy"])
    with pytest.raises(DataError, match=r"expected rows of metric 'f1'; got metrics \['accuracy'\]"):
        metric_over_time(table, "f1")


def test_drift_over_time_marks_the_windows_that_drifted():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"wind": rng.normal(3.0, 1.0, 2000), "temp": rng.normal(10.0, 4.0, 2000)})
    days = pd.date_range("2013-01-01", "2014-12-31", freq="1h", tz="UTC")  # windows big enough that noise is not drift
    steady = pd.DataFrame({"event_time": days, "wind": rng.normal(3.0, 1.0, len(days)),
                           "temp": rng.normal(10.0, 4.0, len(days))})
    traffic = lk.monitoring.scenarios.shift(steady, "wind", by=2.0, start="2014-01-01", time_column="event_time")

    figure, table = drift_over_time(reference, traffic, window="90D")

    wind = table[table["column"] == "wind"].set_index("start")["drifted"]
    assert not wind[wind.index < pd.Timestamp("2013-12-01", tz="UTC")].any()
    assert wind[wind.index >= pd.Timestamp("2014-01-01", tz="UTC")].all()
    assert not table[table["column"] == "temp"]["drifted"].any()
    image = figure.axes[0].get_images()[0].get_array()
    grid = table.pivot(index="column", columns="start", values="drifted").astype(float)
    assert image.shape == grid.shape and np.array_equal(np.asarray(image), grid.to_numpy())


def test_drift_over_time_compares_each_window_with_the_reference_a_function_gives():
    # Seasonal temperatures: against the whole year every month drifts; against the same
    # month of the year before, none does.
    rng = np.random.default_rng(2)

    def year(first: str) -> pd.DataFrame:
        days = pd.date_range(first, periods=365 * 4, freq="6h", tz="UTC")
        season = 10.0 * np.sin(2 * np.pi * days.day_of_year.to_numpy() / 365.0)
        return pd.DataFrame({"event_time": days, "temp": season + rng.normal(0.0, 1.0, len(days))})

    before, after = year("2012-01-01"), year("2013-01-01")
    yearly = before.drop(columns="event_time")
    _, against_year = drift_over_time(yearly, after, window="MS")
    asked = []

    def same_month(start: pd.Timestamp) -> pd.DataFrame:
        asked.append(start)
        return before[before["event_time"].dt.month == start.month].drop(columns="event_time")

    _, against_month = drift_over_time(same_month, after, window="MS")

    assert against_year["drifted"].all()
    assert not against_month["drifted"].any()
    assert asked == against_month["start"].tolist() and len(asked) == 12


def test_distribution_draws_both_sides():
    before = pd.DataFrame({"weather": ["sun"] * 6 + ["rain"] * 4, "wind": np.arange(10.0)})
    after = pd.DataFrame({"weather": ["rain"] * 9 + ["fog"], "wind": np.arange(10.0) + 20})

    bars = distribution(before, after, "weather").axes[0]
    shares = sorted(round(p.get_height(), 2) for p in bars.patches)
    assert shares == sorted([0.4, 0.6, 0.0, 0.9, 0.0, 0.1])
    histogram = distribution(before, after, "wind").axes[0]
    assert len(histogram.patches) == 60  # 30 bins for each side
    with pytest.raises(DataError, match="expected a column 'nope' in the reference frame"):
        distribution(before, after, "nope")
