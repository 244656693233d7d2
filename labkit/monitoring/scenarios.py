"""Scenarios that break a model on purpose: drift injected into a replay from a given moment.

Each function returns a changed copy of a frame of traffic (the input is never modified),
changing only the rows at or after ``start`` (by their event time), abruptly or, with a
``ramp``, gradually. Randomness is seeded, so a scenario is the same on every run. The
Seattle data brings real drift of its own (seasons; the 2013 change in how weather labels
were recorded, an artefact of the records rather than of the sky); these functions add
drift whose moment and size are known, and :func:`sea_stream` gives a synthetic stream
from river with a known concept change, where the truth must be known exactly.

Examples
--------
>>> import labkit as lk
>>> days = lk.data.running_example(lk.data.load_weather())
>>> warmer = shift(days, "temp_max", by=5.0, start="2014-01-01")
>>> float((warmer["temp_max"] - days["temp_max"])[days["date"] >= "2014-01-01"].mean())
5.0
>>> float((warmer["temp_max"] - days["temp_max"])[days["date"] < "2014-01-01"].abs().max())
0.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from labkit.errors import DataError

__all__ = ["add_missing", "add_noise", "resample_categories", "sea_stream", "shift", "stationary", "swap_concept"]


def shift(
    frame: pd.DataFrame,
    column: str,
    *,
    by: float,
    start: Any,
    ramp: Any = None,
    time_column: str = "date",
) -> pd.DataFrame:
    """Add ``by`` to a numeric column from ``start``: at once, or growing linearly over ``ramp``.

    Parameters
    ----------
    frame
        The traffic.
    column
        The numeric column to move.
    by
        How far its values move once the drift is complete.
    start
        When the drift begins (event time).
    ramp
        How long it takes to be complete (a timedelta or pandas offset text such as
        ``"90D"``); ``None`` for an abrupt change.
    time_column
        The event-time column.

    Returns
    -------
    pandas.DataFrame
        A changed copy.
    """
    share = _share(frame, start, ramp, time_column, column)
    changed = frame.copy()
    changed[column] = frame[column] + by * share
    return changed


def resample_categories(
    frame: pd.DataFrame,
    column: str,
    *,
    shares: Mapping[Any, float],
    start: Any,
    seed: int = 0,
    time_column: str = "date",
) -> pd.DataFrame:
    """From ``start``, draw a categorical column's values with new frequencies.

    Parameters
    ----------
    shares
        Category to its share after the change, such as ``{"rain": 0.7, "sun": 0.3}``;
        normalised to sum to 1. A category the model never saw is a valid choice.
    seed
        Decides the draws.
    """
    _share(frame, start, None, time_column, column)
    if not shares or any(value < 0 for value in shares.values()) or sum(shares.values()) <= 0:
        raise ValueError(f"expected shares of at least one category, none negative; got {dict(shares)!r}; "
                         "fix: pass e.g. shares={'rain': 0.7, 'sun': 0.3}")
    after = _after(frame, start, time_column)
    categories = list(shares)
    weights = np.array([shares[c] for c in categories], dtype=float)
    drawn = np.random.default_rng(seed).choice(len(categories), size=int(after.sum()), p=weights / weights.sum())
    changed = frame.copy()
    changed[column] = changed[column].astype(object)
    changed.loc[after, column] = [categories[i] for i in drawn]
    return changed


def swap_concept(
    frame: pd.DataFrame,
    *,
    label_column: str,
    rule: Callable[[pd.DataFrame], pd.Series],
    start: Any,
    time_column: str = "date",
) -> pd.DataFrame:
    """From ``start``, the truth follows a new rule: the inputs look the same, the answers do not.

    Parameters
    ----------
    label_column
        The truth to rewrite.
    rule
        The new labelling rule: the rows in, their labels out.
    """
    after = _after(frame, start, time_column)
    if label_column not in frame.columns:
        raise DataError(f"expected a label column {label_column!r}; got {list(frame.columns)!r}; fix: name it")
    changed = frame.copy()
    changed.loc[after, label_column] = rule(frame.loc[after]).to_numpy()
    return changed


def add_noise(
    frame: pd.DataFrame, column: str, *, scale: float, start: Any, seed: int = 0, time_column: str = "date"
) -> pd.DataFrame:
    """From ``start``, add Gaussian noise of standard deviation ``scale`` to a numeric column (a failing sensor)."""
    after = _after(frame, start, time_column, column)
    changed = frame.copy()
    noise = np.random.default_rng(seed).normal(0.0, scale, size=int(after.sum()))
    changed.loc[after, column] = frame.loc[after, column].to_numpy(dtype=float) + noise
    return changed


def add_missing(
    frame: pd.DataFrame, column: str, *, share: float, start: Any, seed: int = 0, time_column: str = "date"
) -> pd.DataFrame:
    """From ``start``, blank out a share of a column's values (a feed that drops data)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"expected share between 0 and 1; got {share!r}; fix: pass e.g. share=0.2")
    after = _after(frame, start, time_column, column)
    blank = after & pd.Series(np.random.default_rng(seed).random(len(frame)) < share, index=frame.index)
    changed = frame.copy()
    if pd.api.types.is_integer_dtype(changed[column]) or pd.api.types.is_bool_dtype(changed[column]):
        changed[column] = changed[column].astype(object)
    changed.loc[blank, column] = None if changed[column].dtype == object else np.nan
    return changed


def stationary(
    frame: pd.DataFrame, *, days: int, start: Any, seed: int = 0, time_column: str = "date"
) -> pd.DataFrame:
    """A world where nothing changes: ``days`` rows drawn at random from ``frame``, one per day from ``start``.

    Real traffic drifts on its own (seasons, changes in how data is recorded), which hides
    the drift a scenario injects. Traffic drawn from the training data itself does not
    drift, so whatever a monitor then finds was put there on purpose.

    Parameters
    ----------
    frame
        Where the rows come from (usually the training data, with its label).
    days
        How many days of traffic.
    start
        The first day.
    seed
        Decides the draws.
    time_column
        The event-time column to write (replacing ``frame``'s, if it has one).

    Returns
    -------
    pandas.DataFrame
        ``days`` rows, drawn with replacement, index 0 to ``days - 1``, dated one per day.

    Examples
    --------
    >>> import labkit as lk
    >>> train, _ = lk.data.split_by_time(lk.data.running_example(lk.data.load_weather()), at="2013-01-01")
    >>> calm = stationary(train, days=365, start="2013-01-01", seed=0)
    >>> len(calm), str(calm["date"].iloc[-1].date()), set(calm["weather"]) <= set(train["weather"])
    (365, '2013-12-31', True)
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"expected days to be a whole number of at least 1; got {days!r}; fix: pass e.g. days=365")
    if frame.empty:
        raise DataError("expected rows to draw from; got an empty frame; fix: pass the training data")
    drawn = frame.sample(days, replace=True, random_state=np.random.default_rng(seed)).reset_index(drop=True)
    dates = pd.date_range(pd.Timestamp(start), periods=days, freq="D")
    return drawn.drop(columns=[time_column], errors="ignore").assign(**{time_column: dates})


def sea_stream(
    n: int, *, drift_at: int, seed: int = 0, start: Any = "2013-01-01", freq: str = "1h", noise: float = 0.0
) -> pd.DataFrame:
    """A synthetic stream from river's SEA generator whose concept changes at row ``drift_at``.

    SEA draws three numbers from 0 to 10 and labels a row True when the first two sum to
    more than a threshold (8, then 9.5); the change moves the threshold (river's variant 0 to variant
    3), so the inputs look the same before and after and only the answers change.

    Returns
    -------
    pandas.DataFrame
        ``date`` (every ``freq`` from ``start``), ``x0``, ``x1``, ``x2`` and ``label``.

    Examples
    --------
    >>> stream = sea_stream(1000, drift_at=600, seed=1)
    >>> stream.shape, stream["date"].iloc[600]
    ((1000, 5), Timestamp('2013-01-26 00:00:00+0000', tz='UTC'))
    """
    from river.datasets import synth

    if not 0 < drift_at < n:
        raise ValueError(f"expected drift_at between 1 and n - 1 ({n - 1}); got {drift_at!r}; fix: pick a row inside")
    before = synth.SEA(variant=0, seed=seed, noise=noise)
    after = synth.SEA(variant=3, seed=seed + 1, noise=noise)
    rows = []
    for x, y in before.take(drift_at):
        rows.append({**{f"x{k}": x[k] for k in range(3)}, "label": bool(y)})
    for x, y in after.take(n - drift_at):
        rows.append({**{f"x{k}": x[k] for k in range(3)}, "label": bool(y)})
    stream = pd.DataFrame(rows)
    stream.insert(0, "date", pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq=freq))
    return stream


def _after(frame: pd.DataFrame, start: Any, time_column: str, column: str | None = None) -> pd.Series:
    if time_column not in frame.columns:
        raise DataError(f"expected an event-time column {time_column!r}; got {list(frame.columns)!r}; "
                        "fix: pass time_column=")
    if column is not None and column not in frame.columns:
        raise DataError(f"expected a column {column!r} to change; got {list(frame.columns)!r}; fix: check the name")
    times = pd.to_datetime(frame[time_column])
    when = pd.Timestamp(start)
    if times.dt.tz is not None and when.tzinfo is None:
        when = when.tz_localize(times.dt.tz)
    return times >= when


def _share(frame: pd.DataFrame, start: Any, ramp: Any, time_column: str, column: str) -> pd.Series:
    """How much of the drift each row gets: 0 before ``start``, 1 after the ramp, linear in between."""
    after = _after(frame, start, time_column, column)
    if ramp is None:
        return after.astype(float)
    times = pd.to_datetime(frame[time_column])
    begin = pd.Timestamp(start)
    if times.dt.tz is not None and begin.tzinfo is None:
        begin = begin.tz_localize(times.dt.tz)
    # A row at `start` gets none of the change, one a whole ramp later all of it.
    return ((times - begin) / pd.to_timedelta(ramp)).clip(0.0, 1.0).where(after, 0.0)
