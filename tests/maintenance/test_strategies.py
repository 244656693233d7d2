"""Static, scheduled, triggered and online updating, replayed over the same production."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import labkit as lk
from labkit.errors import DataError
from labkit.maintenance.strategies import Online, Scheduled, Static, Triggered, compare_strategies
from labkit.monitoring import Rule, scenarios

FEATURES = list(lk.data.FEATURES)


@pytest.fixture(scope="module")
def flipped(weather_split) -> pd.DataFrame:
    """2013-2014 with the concept turned upside down from 2014: it rains when the model says it will not."""
    _, production = weather_split
    two_years = production[production["date"] < "2015-01-01"]
    return scenarios.swap_concept(two_years, label_column="rain_tomorrow", start="2014-01-01",
                                  rule=lambda rows: ~rows["rain_tomorrow"].astype(bool))


@pytest.fixture(scope="module")
def replayed(weather_model, weather_split, flipped):
    train, _ = weather_split
    return compare_strategies(
        weather_model, train, flipped, features=FEATURES, label_column="rain_tomorrow",
        strategies={
            "static": Static(),
            "monthly": Scheduled(every="30D", window="60D"),
            "triggered": Triggered(rule=Rule(name="accuracy low", measure="accuracy", below=0.5, for_windows=2),
                                   window="60D"),
            "online": Online(learning_rate=0.05),
        },
    )


def _accuracy(result, strategy: str, since: str, until: str = "2100-01-01") -> float:
    rows = result.predictions[result.predictions["strategy"] == strategy]
    rows = rows[(rows["event_time"] >= pd.Timestamp(since, tz="UTC")) & (rows["event_time"] < pd.Timestamp(until, tz="UTC"))]
    return float((rows["prediction"] == rows["label"]).mean())


def test_the_static_model_is_the_model_as_trained(replayed, weather_model, flipped):
    static = replayed.predictions[replayed.predictions["strategy"] == "static"]
    ordered = flipped.sort_values("date", kind="stable")
    assert static["prediction"].tolist() == weather_model.predict(ordered[FEATURES]).tolist()
    assert replayed.costs.set_index("strategy").loc["static", "fits"] == 1


def test_after_the_concept_flips_every_updating_strategy_recovers_and_the_static_one_does_not(replayed):
    # The second half of 2014, once each strategy has had time to notice.
    static = _accuracy(replayed, "static", "2014-07-01")
    assert static < 0.4
    for name in ("monthly", "triggered", "online"):
        assert _accuracy(replayed, name, "2014-07-01") > static + 0.25, name


def test_a_triggered_strategy_fits_once_per_incident_not_on_a_schedule(replayed):
    costs = replayed.costs.set_index("strategy")
    assert costs.loc["monthly", "fits"] == 1 + 730 // 30  # every 30 days over two years, after the first fit
    assert 2 <= costs.loc["triggered", "fits"] <= 5
    triggered = replayed.refits[replayed.refits["strategy"] == "triggered"]
    # The flip is noticed within a few weeks: two bad 30-day windows, checked weekly, labels a day late.
    after_flip = triggered["time"][triggered["time"] >= pd.Timestamp("2014-01-01", tz="UTC")]
    assert after_flip.min() < pd.Timestamp("2014-03-15", tz="UTC")
    assert costs.loc["online", "fits"] == 0
    # The online model learned every label that had arrived: 2012's and all of production but the last day.
    assert costs.loc["online", "rows_learned"] == 366 + 730 - 1


def test_the_figure_draws_one_line_per_strategy_and_a_tick_per_refit(replayed):
    axes = replayed.figure().axes[0]
    lines = [line for line in axes.get_lines() if line.get_label() in {"static", "monthly", "triggered", "online"}]
    assert [line.get_label() for line in lines] == ["static", "monthly", "triggered", "online"]
    ticks = [line for line in axes.get_lines() if line.get_marker() == "|"]
    assert sum(len(tick.get_xdata()) for tick in ticks) == len(replayed.refits)


def test_the_summary_and_the_performance_table_agree(replayed):
    summary = replayed.summary().set_index("strategy")
    accuracy = replayed.performance[replayed.performance["metric"] == "accuracy"]
    for name, rows in accuracy.groupby("strategy"):
        assert summary.loc[name, "worst_window"] == pytest.approx(rows["value"].min())
        assert summary.loc[name, "accuracy"] == pytest.approx(_accuracy(replayed, name, "2000-01-01"))


class _Recording(ClassifierMixin, BaseEstimator):
    """A classifier that writes down which days it was fitted on (class-level: clone makes new instances)."""

    fitted_on: list[tuple[float, int]] = []

    def fit(self, X, y):
        type(self).fitted_on.append((float(X["day"].max()), len(X)))
        self.classes_ = np.array([False, True])
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=bool)


def test_a_refit_sees_only_labels_that_had_arrived_by_then():
    days = pd.date_range("2013-01-01", periods=200, freq="D")
    frame = pd.DataFrame({"date": days, "day": np.arange(200.0), "label": np.arange(200) % 3 == 0})
    train = frame.iloc[:20].assign(date=pd.date_range("2012-01-01", periods=20, freq="D"), day=-1.0)
    _Recording.fitted_on = []

    result = compare_strategies(_Recording(), train, frame, features=["day"], label_column="label",
                                label_delay=timedelta(days=15),
                                strategies={"every 10 days": Scheduled(every="10D", window=None)})

    refits = result.refits
    assert len(refits) == len(_Recording.fitted_on) - 1 >= 15
    for refit, (latest_day, rows) in zip(refits.itertuples(), _Recording.fitted_on[1:]):
        today = (refit.time - pd.Timestamp("2013-01-01", tz="UTC")).days
        # A refit on day t may learn from events up to day t - 15, whose labels arrived by day t.
        assert latest_day <= today - 15, f"the refit on day {today} saw day {latest_day}: a label from the future"
        assert rows == refit.rows == today - 15 + 1  # and every label that had arrived
        assert (refit.data_to - refit.data_from).days == latest_day


def test_strategies_replay_the_same_way_every_time(weather_model, weather_split):
    train, production = weather_split
    year = production[production["date"] < "2014-01-01"]
    runs = [compare_strategies(weather_model, train, year, features=FEATURES, label_column="rain_tomorrow",
                               strategies={"online": Online(), "quarterly": Scheduled()}) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0].predictions, runs[1].predictions)


def test_what_cannot_be_replayed_is_refused_with_a_fix(weather_model, weather_split):
    train, production = weather_split
    with pytest.raises(DataError, match="expected at least one strategy"):
        compare_strategies(weather_model, train, production, features=FEATURES, label_column="rain_tomorrow", strategies={})
    with pytest.raises(DataError, match=r"expected the columns \['humidity'\] in train"):
        compare_strategies(weather_model, train, production, features=[*FEATURES, "humidity"],
                           label_column="rain_tomorrow", strategies={"static": Static()})
    with pytest.raises(DataError, match="expected each strategy to be Static"):
        compare_strategies(weather_model, train, production, features=FEATURES, label_column="rain_tomorrow",
                           strategies={"nightly": "retrain every night"})
