"""Helpers shared by the monitors: check a frame of logged predictions, find its labels, cut it into windows.

Private: the public functions and classes of labkit.monitoring call these, so that every
monitor cuts time and finds labels the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from labkit.errors import DataError

__all__ = ["Window", "is_labelled", "known_labels", "require_columns", "require_times", "windows"]


@dataclass(frozen=True)
class Window:
    """One window of rows: its bounds, and the rows that fall in it."""

    start: pd.Timestamp
    end: pd.Timestamp
    rows: pd.DataFrame


def require_columns(frame: object, columns: list[str], *, name: str) -> pd.DataFrame:
    """Return ``frame`` if it is a DataFrame holding ``columns``; raise DataError otherwise."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"expected {name} to be a pandas.DataFrame of logged predictions; got "
            f"{type(frame).__name__}; fix: pass store.frame(...), or build a DataFrame "
            "with one row per prediction"
        )
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(
            f"expected {name} to have columns {columns!r}; got {list(frame.columns)!r}, "
            f"missing {missing!r}; fix: add them, or name the columns you have with "
            "the keyword arguments (label_column=..., time_column=...)"
        )
    return frame


def require_times(frame: pd.DataFrame, column: str, *, name: str) -> None:
    """Raise DataError unless ``frame[column]`` holds a time in every row."""
    times = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise DataError(
            f"expected {name}[{column!r}] to hold datetimes; got dtype {str(times.dtype)!r}; "
            f"fix: convert it, e.g. {name}[{column!r}] = pd.to_datetime({name}[{column!r}], utc=True)"
        )
    if times.isna().any():
        raise DataError(
            f"expected a time in every row of {name}[{column!r}]; got {int(times.isna().sum())} "
            "missing (NaT); fix: drop the rows without a time"
        )


def is_labelled(labels: pd.Series) -> pd.Series:
    """True where a label has arrived: not None, not NaN, not an empty string."""
    # The store leaves a label empty until feedback arrives; depending on the column's
    # type that reads back as None, NaN or "", and none of them is a label.
    return labels.notna() & (labels.astype("string").str.strip() != "").fillna(False).astype(bool)


def known_labels(labels: pd.Series) -> pd.Series:
    """The labels that have arrived, with the dtype they would have had without the gaps."""
    # A column with gaps is stored as object; once the gaps are gone, infer_objects turns
    # True/False back into bool, so scikit-learn sees booleans and not opaque objects.
    return labels[is_labelled(labels)].infer_objects()


def windows(frame: pd.DataFrame, window: str | int, *, time_column: str) -> Iterator[Window]:
    """Cut ``frame`` into windows by event time (an offset such as "7D") or by count (every N rows).

    Offset windows are consecutive, half-open [start, end), and include empty ones, so a
    week without traffic shows as a gap rather than vanishing. Count windows hold N rows
    in event-time order (the last may hold fewer); their end is the time of their last row.
    """
    ordered = frame.sort_values(time_column, kind="stable")
    if isinstance(window, bool) or not isinstance(window, (int, str)):
        raise DataError(
            f"expected window to be a pandas offset such as '7D' or a number of rows such as "
            f"500; got {window!r}; fix: pass a string offset or a positive int"
        )
    if isinstance(window, int):
        if window < 1:
            raise DataError(
                f"expected window to be a positive number of rows; got {window!r}; "
                "fix: pass e.g. window=100"
            )
        for first in range(0, len(ordered), window):
            rows = ordered.iloc[first : first + window]
            yield Window(rows[time_column].iloc[0], rows[time_column].iloc[-1], rows)
        return
    try:
        offset = pd.tseries.frequencies.to_offset(window)
    except ValueError:
        raise DataError(
            f"expected window to be a pandas offset such as '7D', '1D' or '12h'; got "
            f"{window!r}; fix: use a pandas offset alias, or an int for every N rows"
        ) from None
    if ordered.empty:
        return
    groups = ordered.set_index(time_column, drop=False).resample(offset, label="left", closed="left")
    for start, rows in groups:
        yield Window(start, start + offset, rows.reset_index(drop=True))
