"""Three ways to keep a model up to date, replayed over the same production side by side.

The course ends the lifecycle with maintenance: as data arrives and conditions change,
the model is updated, and how it adapts decides whether it stays useful. Its real-time
examples (a recommender that adjusts to each click, a GPS that keeps updating itself)
learn continuously; most production models are instead retrained in batches, on a
schedule or when monitoring says so. :func:`compare_strategies` replays one production
period day by day, labels arriving after a delay, for each strategy at once:

- :class:`Static`: the model as trained, never updated (the baseline);
- :class:`Scheduled`: refitted every so often on the labelled data of a recent window;
- :class:`Triggered`: refitted when an alert rule fires on its own recent accuracy;
- :class:`Online`: a river model that learns from each label as it arrives, one row at
  a time, never refitted.

Every strategy sees the same days in the same order and only the labels that had arrived
by then; the replay is deterministic. The result holds each strategy's predictions, its
accuracy per window, and its cost: how many fits, how many rows it learned from, and the
CPU seconds its learning took.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from labkit.errors import DataError
from labkit.monitoring._frames import windows
from labkit.monitoring.alerts import Rule, evaluate
from labkit.monitoring.performance import performance_over_time

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Online", "Scheduled", "Static", "StrategyComparison", "Triggered", "compare_strategies"]


@dataclass(frozen=True)
class Static:
    """Never update: the model as it was trained."""


@dataclass(frozen=True)
class Scheduled:
    """Refit every ``every``, on the labelled rows of the last ``window`` (all of them if ``None``).

    Parameters
    ----------
    every
        How often (a pandas offset such as ``"90D"``).
    window
        How far back the rows used go: a sliding window; ``None`` for everything labelled so
        far (an expanding window).
    with_training
        Also fit on the original training data.
    """

    every: str = "90D"
    window: str | None = "365D"
    with_training: bool = False


@dataclass(frozen=True)
class Triggered:
    """Refit when ``rule`` fires on the strategy's own accuracy per ``measure_window``.

    Checked once per ``check_every``, over the labelled predictions made since the last fit,
    so one incident triggers one fit.

    Parameters
    ----------
    rule
        An alert rule over the column ``accuracy`` (see :class:`labkit.monitoring.Rule`).
    measure_window
        The windows the accuracy is measured over.
    window, with_training
        What to fit on, as for :class:`Scheduled`.
    check_every
        How often the rule is checked.
    """

    rule: Rule = field(default_factory=lambda: Rule(name="accuracy low", measure="accuracy", below=0.6, for_windows=2))
    measure_window: str = "30D"
    window: str | None = "365D"
    with_training: bool = False
    check_every: str = "7D"


@dataclass(frozen=True)
class Online:
    """Learn from every label as it arrives: river's logistic regression on standardised numbers and one-hot categories.

    Parameters
    ----------
    learning_rate
        The step of river's SGD optimiser; larger adapts faster and chases noise more.
    """

    learning_rate: float = 0.01


@dataclass(frozen=True)
class StrategyComparison:
    """What each strategy predicted, how right it was per window, and what it cost.

    Attributes
    ----------
    predictions
        One row per strategy and production row: ``strategy, event_time, prediction, label``.
    performance
        :func:`labkit.monitoring.performance_over_time`'s table per strategy (a ``strategy`` column first).
    costs
        One row per strategy: ``strategy, fits, rows_learned, fit_seconds`` (CPU time of its learning).
    refits
        One row per refit of a batch strategy during the replay: ``strategy, time, rows, data_from,
        data_to`` (when, on how many rows, and the event times of the first and last
        production row it learned from).
    """

    predictions: pd.DataFrame
    performance: pd.DataFrame
    costs: pd.DataFrame
    refits: pd.DataFrame

    def figure(self) -> Figure:
        """Accuracy per window, one line per strategy, and a tick for each refit of a batch strategy."""
        from matplotlib.figure import Figure

        figure = Figure(figsize=(8, 3.4), layout="constrained")
        axes = figure.add_subplot()
        accuracy = self.performance[self.performance["metric"] == "accuracy"]
        for name, rows in accuracy.groupby("strategy", sort=False):
            middle = rows["start"] + (rows["end"] - rows["start"]) / 2
            line, = axes.plot(middle, rows["value"], marker=".", label=name)
            refits = self.refits[self.refits["strategy"] == name]["time"]
            axes.plot(refits, [0.02] * len(refits), "|", color=line.get_color(), markersize=12)
        axes.set_ylim(0, 1)
        axes.set_ylabel("accuracy")
        axes.set_title("accuracy per window (ticks at the bottom: refits)")
        axes.legend(loc="lower right", fontsize="small", ncols=2)
        return figure

    def summary(self) -> pd.DataFrame:
        """One row per strategy: overall accuracy, worst window, fits and rows learned."""
        right = self.predictions.assign(right=self.predictions["prediction"] == self.predictions["label"])
        overall = right.groupby("strategy", sort=False)["right"].mean().rename("accuracy")
        accuracy = self.performance[self.performance["metric"] == "accuracy"]
        worst = accuracy.groupby("strategy", sort=False)["value"].min().rename("worst_window")
        costs = self.costs.set_index("strategy")[["fits", "rows_learned"]]
        return pd.concat([overall, worst, costs], axis=1).rename_axis("strategy").reset_index()


def compare_strategies(
    model: Any,
    train: pd.DataFrame,
    production: pd.DataFrame,
    *,
    strategies: Mapping[str, Static | Scheduled | Triggered | Online],
    features: list[str],
    label_column: str,
    time_column: str = "date",
    label_delay: timedelta = timedelta(days=1),
    window: str = "MS",
) -> StrategyComparison:
    """Replay ``production`` day by day under each strategy; labels arrive ``label_delay`` after each day.

    Parameters
    ----------
    model
        A scikit-learn estimator or pipeline; the batch strategies fit fresh copies of it
        (``sklearn.base.clone``), first on ``train``.
    train
        The original training data: features, event time and label.
    production
        The days to replay, in any order: features, event time and label.
    strategies
        A name for each strategy and the strategy.
    features, label_column, time_column
        The columns.
    label_delay
        How long after its day a row's label is known.
    window
        The windows of the returned performance table.

    Returns
    -------
    StrategyComparison
        Predictions, performance per window and costs, per strategy.

    Raises
    ------
    DataError
        If a column is missing, or no strategy is given.

    Examples
    --------
    >>> import labkit as lk
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.preprocessing import OneHotEncoder, StandardScaler
    >>> train, production = lk.data.split_by_time(lk.data.running_example(lk.data.load_weather()), at="2013-01-01")
    >>> model = make_pipeline(make_column_transformer(
    ...     (StandardScaler(), ["precipitation", "temp_max", "temp_min", "wind"]),
    ...     (OneHotEncoder(handle_unknown="ignore"), ["weather"])), LogisticRegression())
    >>> result = compare_strategies(model, train, production.head(365), features=list(lk.data.FEATURES),
    ...     label_column="rain_tomorrow", strategies={"static": Static(), "every quarter": Scheduled(every="90D")})
    >>> result.costs[["strategy", "fits"]].to_dict("records")
    [{'strategy': 'static', 'fits': 1}, {'strategy': 'every quarter', 'fits': 5}]
    """
    if not strategies:
        raise DataError("expected at least one strategy; got none; fix: pass strategies={'static': Static(), ...}")
    for name, frame in (("train", train), ("production", production)):
        missing = [c for c in [*features, label_column, time_column] if c not in frame.columns]
        if missing:
            raise DataError(f"expected the columns {missing!r} in {name}; got {list(frame.columns)!r}; "
                            "fix: pass features=, label_column= and time_column= naming them")
    train = _in_utc(train, time_column)
    days = _in_utc(production, time_column).sort_values(time_column, kind="stable").reset_index(drop=True)
    runners = {name: _runner(strategy, model, train, days, features, label_column, time_column)
               for name, strategy in strategies.items()}
    known_until = 0  # rows of `days` whose labels have arrived
    times = days[time_column]
    due = times + label_delay
    predictions = {name: np.empty(len(days), dtype=object) for name in runners}
    # Positions where each day's rows begin and end: the loop slices nothing it does not need.
    starts = np.flatnonzero(np.r_[True, times.to_numpy()[1:] != times.to_numpy()[:-1]])
    for first, last in zip(starts, [*starts[1:], len(days)]):
        today = times.iloc[first]
        arrived = int(due.searchsorted(today, side="right"))
        if arrived > known_until:
            for runner in runners.values():
                runner.learn(known_until, arrived)
            known_until = arrived
        for name, runner in runners.items():
            runner.maybe_refit(today, known_until, predictions[name])
            predictions[name][first:last] = runner.predict(first, last)
    long, tables, costs, refits = [], [], [], []
    for name, runner in runners.items():
        refits += [{"strategy": name, **refit} for refit in getattr(runner, "refits", [])]
        frame = pd.DataFrame({"strategy": name, "event_time": days[time_column],
                              "prediction": predictions[name].astype(days[label_column].dtype),
                              "label": days[label_column]})
        long.append(frame)
        table = performance_over_time(frame, window=window, metrics=["accuracy"], positive=True)
        tables.append(table.assign(strategy=name)[["strategy", *table.columns]])
        costs.append({"strategy": name, "fits": runner.fits, "rows_learned": runner.rows_learned,
                      "fit_seconds": runner.seconds})
    return StrategyComparison(
        pd.concat(long, ignore_index=True), pd.concat(tables, ignore_index=True), pd.DataFrame(costs),
        pd.DataFrame(refits, columns=["strategy", "time", "rows", "data_from", "data_to"]),
    )


class _Batch:
    """A scikit-learn model refitted now and then, on a window of labelled rows."""

    def __init__(self, strategy: Static | Scheduled | Triggered, model: Any, train: pd.DataFrame, days: pd.DataFrame,
                 features: list[str], label_column: str, time_column: str) -> None:
        self.strategy, self.template, self.train, self.days = strategy, model, train, days
        self.features, self.label_column, self.time_column = features, label_column, time_column
        self.fits = self.rows_learned = 0
        self.seconds = 0.0
        self.last_fit: pd.Timestamp | None = None
        self.last_check: pd.Timestamp | None = None
        self.refits: list[dict[str, Any]] = []
        self.model = self._fit(train, when=None)

    def learn(self, start: int, stop: int) -> None:
        """Labels arrive; a batch model only uses them at its next fit."""

    def maybe_refit(self, today: pd.Timestamp, known_until: int, predicted: np.ndarray) -> None:
        strategy = self.strategy
        if isinstance(strategy, Static):
            return
        if self.last_fit is None:
            self.last_fit = self.last_check = today
            return
        if isinstance(strategy, Scheduled):
            if today - self.last_fit >= pd.to_timedelta(strategy.every):
                self._refit(today, known_until)
            return
        if today - self.last_check < pd.to_timedelta(strategy.check_every):
            return
        self.last_check = today
        known = self.days.iloc[:known_until]
        since = (known[self.time_column] >= self.last_fit).to_numpy()
        if not since.any():
            return
        right = pd.DataFrame({"event_time": known.loc[since, self.time_column],
                              "right": predicted[:known_until][since] == known.loc[since, self.label_column].to_numpy()})
        # The same windows as performance_over_time, without its bands: the rule reads only the value.
        measures = pd.DataFrame(
            [{"time": w.start, "accuracy": w.rows["right"].mean() if len(w.rows) else np.nan}
             for w in windows(right, strategy.measure_window, time_column="event_time")]
        )
        if not evaluate([strategy.rule], measures).empty:
            self._refit(today, known_until)

    def predict(self, start: int, stop: int) -> np.ndarray:
        # The model changes only when refitted: its answers for every day are computed
        # once per fit (one call on the whole period) and looked up day by day.
        return self.answers[start:stop]

    def _refit(self, today: pd.Timestamp, known_until: int) -> None:
        known = self.days.iloc[:known_until]
        window = self.strategy.window
        rows = known if window is None else known[known[self.time_column] >= today - pd.to_timedelta(window)]
        if self.strategy.with_training:
            rows = pd.concat([self.train, rows], ignore_index=True)
        if rows[self.label_column].nunique() < 2:
            return  # one class only (or nothing yet): keep the model, and try again the next day
        self.model = self._fit(rows, when=today)
        production = known if window is None else known[known[self.time_column] >= today - pd.to_timedelta(window)]
        self.refits.append({"time": today, "rows": len(rows), "data_from": production[self.time_column].min(),
                            "data_to": production[self.time_column].max()})

    def _fit(self, rows: pd.DataFrame, *, when: pd.Timestamp | None) -> Any:
        started = time.process_time()
        model = clone(self.template).fit(rows[self.features], rows[self.label_column])
        self.seconds += time.process_time() - started
        self.fits += 1
        self.rows_learned += len(rows)
        self.last_fit = self.last_check = when
        self.answers = model.predict(self.days[self.features])
        return model


class _Online:
    """A river model learning one labelled row at a time."""

    def __init__(self, strategy: Online, train: pd.DataFrame, days: pd.DataFrame, features: list[str],
                 label_column: str) -> None:
        from river import compose, linear_model, optim, preprocessing

        numeric = [c for c in features if pd.api.types.is_numeric_dtype(train[c])]
        categorical = [c for c in features if c not in numeric]
        parts = compose.Select(*numeric) | preprocessing.StandardScaler()
        if categorical:
            parts = parts + (compose.Select(*categorical) | preprocessing.OneHotEncoder())
        self.model = parts | linear_model.LogisticRegression(optimizer=optim.SGD(strategy.learning_rate))
        self.fits, self.rows_learned, self.seconds = 0, 0, 0.0
        self.records = days[features].to_dict(orient="records")
        self.labels = days[label_column].astype(bool).tolist()
        self._learn(train[features].to_dict(orient="records"), train[label_column].astype(bool).tolist())

    def learn(self, start: int, stop: int) -> None:
        self._learn(self.records[start:stop], self.labels[start:stop])

    def _learn(self, records: list[dict[str, Any]], labels: list[bool]) -> None:
        started = time.process_time()
        for record, label in zip(records, labels):
            self.model.learn_one(record, label)
        self.seconds += time.process_time() - started
        self.rows_learned += len(records)

    def maybe_refit(self, today: pd.Timestamp, known_until: int, predicted: np.ndarray) -> None:
        """An online model is never refitted: it has already learned each label."""

    def predict(self, start: int, stop: int) -> np.ndarray:
        return np.array([bool(self.model.predict_one(record)) for record in self.records[start:stop]])


def _runner(strategy: Any, model: Any, train: pd.DataFrame, days: pd.DataFrame, features: list[str],
            label_column: str, time_column: str) -> _Batch | _Online:
    if isinstance(strategy, Online):
        return _Online(strategy, train, days, features, label_column)
    if isinstance(strategy, (Static, Scheduled, Triggered)):
        return _Batch(strategy, model, train, days, features, label_column, time_column)
    raise DataError(
        f"expected each strategy to be Static(), Scheduled(...), Triggered(...) or Online(...); got "
        f"{type(strategy).__name__}; fix: build it from labkit.maintenance.strategies"
    )


def _in_utc(frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
    times = pd.to_datetime(frame[time_column])
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    return frame.assign(**{time_column: times})
