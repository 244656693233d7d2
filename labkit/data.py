"""The course's data: Seattle's daily weather, and the running example built from it.

Every lesson starts from the same three steps, so they live here rather than in each
notebook: load the daily observations, turn them into a supervised problem (today's
weather in, tomorrow's rain and high temperature out), and split that problem by time,
because a deployed model only ever meets days that come after the ones it learned from.

Examples
--------
>>> from labkit.data import load_weather, running_example, split_by_time
>>> train, test = split_by_time(running_example(load_weather()), at="2013-01-01")
>>> len(train), len(test)
(366, 1094)
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import pandas as pd

from labkit.errors import DataError

__all__ = [
    "FEATURES",
    "TARGETS",
    "TIME_COLUMN",
    "load_weather",
    "running_example",
    "split_by_time",
]

FEATURES: tuple[str, ...] = ("precipitation", "temp_max", "temp_min", "wind", "weather")
TARGETS: tuple[str, ...] = ("rain_tomorrow", "temp_max_tomorrow")
TIME_COLUMN = "date"

_NUMERIC_COLUMNS = ("precipitation", "temp_max", "temp_min", "wind")
_COLUMNS = (TIME_COLUMN, *_NUMERIC_COLUMNS, "weather")
_DATE_FORMAT = "%Y/%m/%d"


def load_weather(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Load daily weather observations from a CSV file, checked and typed.

    Parameters
    ----------
    path
        The CSV file to read. By default, the copy of ``seattle-weather.csv`` shipped in
        the repository's ``datasets/`` folder, found from this module's location so the
        result does not depend on the current directory.

    Returns
    -------
    pandas.DataFrame
        One row per day, sorted by date, with the columns ``date`` (datetime64),
        ``precipitation`` (mm), ``temp_max`` and ``temp_min`` (degrees C), ``wind``
        (m/s), all float64, and ``weather`` (str). Other columns in the file are
        dropped. Empty numeric cells become NaN.

    Raises
    ------
    DataError
        If the file is missing, is not a readable CSV, has no rows, lacks one of the
        columns above, holds a date not written as ``YYYY/MM/DD``, or holds a
        non-numeric value in a numeric column. The message names the file, and the
        line of the first bad value.

    Examples
    --------
    >>> weather = load_weather()
    >>> weather.shape
    (1461, 6)
    >>> print(weather["date"].min().date(), weather["date"].max().date())
    2012-01-01 2015-12-31
    >>> weather.head(2)
            date  precipitation  temp_max  temp_min  wind  weather
    0 2012-01-01            0.0      12.8       5.0   4.7  drizzle
    1 2012-01-02           10.9      10.6       2.8   4.5     rain
    """
    path = Path(path) if path is not None else _bundled_weather_csv()
    if not path.is_file():
        raise DataError(
            f"expected a CSV file at {str(path)!r}; got "
            f"{'a directory' if path.is_dir() else 'no such file'}; "
            "fix: check the path, or call load_weather() with no argument to read the "
            "copy shipped in datasets/"
        )
    frame = _read_csv(path)

    missing = [column for column in _COLUMNS if column not in frame.columns]
    if missing:
        raise DataError(
            f"expected columns {list(_COLUMNS)!r} in {str(path)!r}; got "
            f"{list(frame.columns)!r}, missing {missing!r}; fix: add the missing "
            "columns, or rename yours to match"
        )
    if frame.empty:
        raise DataError(
            f"expected at least one day of data in {str(path)!r}; got a header and "
            "no rows; fix: add rows, one per day"
        )

    frame = frame[list(_COLUMNS)].copy()
    frame[TIME_COLUMN] = _parse_dates(frame[TIME_COLUMN], path)
    for column in _NUMERIC_COLUMNS:
        frame[column] = _parse_numbers(frame[column], path)
    frame["weather"] = frame["weather"].astype("str")
    # A stable sort keeps the file's order among equal dates, so nothing is reshuffled.
    return frame.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)


def running_example(weather: pd.DataFrame) -> pd.DataFrame:
    """Turn daily weather into the course's prediction problem: today -> tomorrow.

    Parameters
    ----------
    weather
        Daily observations, as returned by :func:`load_weather`: a datetime64 ``date``
        column with one row per date, and the :data:`FEATURES` columns.

    Returns
    -------
    pandas.DataFrame
        One row per day whose next calendar day is in ``weather``, sorted by date, with
        ``date``, the :data:`FEATURES` of that day, and the :data:`TARGETS`:
        ``rain_tomorrow`` (bool, the next day's precipitation is above 0) and
        ``temp_max_tomorrow`` (float64, the next day's ``temp_max``). The last day, a
        day before a gap, and a day whose next day lacks precipitation or ``temp_max``
        are dropped, because their targets are unknown. ``weather`` is not changed.

    Raises
    ------
    DataError
        If a column is missing, ``date`` is not datetime64 or has missing values, or a
        date appears twice.

    Examples
    --------
    >>> example = running_example(load_weather())
    >>> example.shape
    (1460, 8)
    >>> example[["date", "precipitation", "rain_tomorrow", "temp_max_tomorrow"]].head(3)
            date  precipitation  rain_tomorrow  temp_max_tomorrow
    0 2012-01-01            0.0           True               10.6
    1 2012-01-02           10.9           True               11.7
    2 2012-01-03            0.8           True               12.2
    """
    _require_columns(weather, [TIME_COLUMN, *FEATURES], name="weather")
    _require_times(weather, TIME_COLUMN, name="weather")
    duplicated = weather[TIME_COLUMN].duplicated()
    if duplicated.any():
        day = weather[TIME_COLUMN][duplicated].iloc[0]
        raise DataError(
            f"expected one row per date in weather[{TIME_COLUMN!r}]; got "
            f"{str(day.date())!r} more than once; fix: drop the duplicates, e.g. "
            f"weather.drop_duplicates({TIME_COLUMN!r})"
        )

    days = weather.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)
    # Look tomorrow up by date, not by position: after a gap in the data, the next row
    # is not tomorrow, and shifting by one row would give that day a wrong target.
    tomorrow = (
        days.set_index(TIME_COLUMN)[["precipitation", "temp_max"]]
        .reindex(days[TIME_COLUMN] + pd.Timedelta(days=1))
        .reset_index(drop=True)
    )
    example = days[[TIME_COLUMN, *FEATURES]].copy()
    example["rain_tomorrow"] = tomorrow["precipitation"] > 0
    example["temp_max_tomorrow"] = tomorrow["temp_max"].astype("float64")
    known = tomorrow.notna().all(axis="columns")
    return example[known].reset_index(drop=True)


def split_by_time(
    frame: pd.DataFrame,
    *,
    at: str | pd.Timestamp = "2013-01-01",
    time_column: str = TIME_COLUMN,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into the past (before ``at``) and the future (from ``at`` on).

    A random split would let a model peek at days after the ones it is tested on; a
    deployed model never can, so the course always splits by time.

    Parameters
    ----------
    frame
        Rows with a datetime64 ``time_column``.
    at
        The first moment of the second part, as a ``pandas.Timestamp`` or a string
        it can parse, such as ``"2013-01-01"``.
    time_column
        The column holding each row's time.

    Returns
    -------
    tuple of pandas.DataFrame
        The rows strictly before ``at``, then the rows at or after it, each in
        ``frame``'s order with a fresh index.

    Raises
    ------
    DataError
        If ``time_column`` is missing, not datetime64 or has missing values, if ``at``
        is not a date or disagrees with the column on a time zone, or if either part
        would be empty.

    Examples
    --------
    >>> train, test = split_by_time(load_weather(), at="2013-01-01")
    >>> len(train), len(test)
    (366, 1095)
    >>> print(train["date"].iloc[-1].date(), test["date"].iloc[0].date())
    2012-12-31 2013-01-01
    """
    _require_columns(frame, [time_column], name="frame")
    _require_times(frame, time_column, name="frame")
    times = frame[time_column]
    try:
        cut = pd.Timestamp(at)
    except (TypeError, ValueError):
        cut = pd.NaT
    if pd.isna(cut):
        raise DataError(
            f"expected `at` to be a date such as '2013-01-01'; got {at!r}; fix: pass "
            "a pandas.Timestamp or a 'YYYY-MM-DD' string"
        )

    try:
        before = (times < cut).to_numpy()
    except TypeError:
        # pandas refuses to compare times with a time zone against times without one.
        raise DataError(
            f"expected `at` and frame[{time_column!r}] to agree on a time zone; got "
            f"at={str(cut)!r} and dtype {str(times.dtype)!r}; fix: pass `at` with the "
            "same time zone, e.g. pd.Timestamp('2013-01-01', tz='UTC')"
        ) from None
    past = frame[before].reset_index(drop=True)
    future = frame[~before].reset_index(drop=True)
    if past.empty or future.empty:
        raise DataError(
            f"expected rows both before and from at={str(cut)!r}; got {len(past)} "
            f"before and {len(future)} from it, as frame[{time_column!r}] runs from "
            f"{str(times.min())!r} to {str(times.max())!r}; fix: choose `at` inside "
            "that range"
        )
    return past, future


def _bundled_weather_csv() -> Path:
    # Found through the package, never the current directory, so a notebook in any
    # folder (or a papermill run in a temporary one) reads the same file, whether
    # labkit is installed or used from its source folder (datasets/ is labkit.datasets).
    return Path(str(importlib.resources.files("labkit.datasets") / "seattle-weather.csv"))


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        got = "an empty file"
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        got = f"a file pandas cannot parse ({str(error).strip()})"
    raise DataError(
        f"expected a CSV file with a header row at {str(path)!r}; got {got}; fix: "
        "point to the CSV file itself, or restore it from datasets/seattle-weather.csv"
    )


def _parse_dates(raw: pd.Series, path: Path) -> pd.Series:
    # As text, so a column pandas read as numbers (20120101) shows as written.
    text = raw.astype("str")
    dates = pd.to_datetime(text, format=_DATE_FORMAT, errors="coerce")
    bad = dates.isna()
    if bad.any():
        row = bad.idxmax()
        raise DataError(
            f"expected dates written as YYYY/MM/DD in column {TIME_COLUMN!r} of "
            f"{str(path)!r}; got {text[row]!r} on line {_line(row)} "
            f"({int(bad.sum())} bad in all); fix: rewrite them like '2012/01/31'"
        )
    return dates


def _parse_numbers(raw: pd.Series, path: Path) -> pd.Series:
    numbers = pd.to_numeric(raw, errors="coerce")
    # An empty cell is a missing number (NaN); text that is not a number is an error.
    bad = numbers.isna() & raw.notna()
    if bad.any():
        row = bad.idxmax()
        raise DataError(
            f"expected numbers in column {raw.name!r} of {str(path)!r}; got "
            f"{raw[row]!r} on line {_line(row)} ({int(bad.sum())} bad in all); fix: "
            "write plain numbers with a '.' decimal point, or leave the cell empty"
        )
    return numbers.astype("float64")


def _line(row: int) -> int:
    # Rows count from 0 and line 1 is the header, as an editor numbers the file.
    return row + 2


def _require_columns(frame: pd.DataFrame, columns: list[str], *, name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise DataError(
            f"expected {name} to have columns {columns!r}; got "
            f"{list(frame.columns)!r}, missing {missing!r}; fix: add the missing "
            "columns, or start from labkit.data.load_weather(), which has them"
        )


def _require_times(frame: pd.DataFrame, column: str, *, name: str) -> None:
    times = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(times):
        raise DataError(
            f"expected {name}[{column!r}] to hold datetime64 values; got dtype "
            f"{str(times.dtype)!r}; fix: convert it first, e.g. "
            f"{name}[{column!r}] = pd.to_datetime({name}[{column!r}])"
        )
    if times.isna().any():
        raise DataError(
            f"expected a time in every row of {name}[{column!r}]; got "
            f"{int(times.isna().sum())} missing (NaT), the first at index "
            f"{times.index[times.isna()][0]!r}; fix: drop or fill the rows without "
            "a time"
        )
