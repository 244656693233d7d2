"""Tests for labkit.data: loading the weather, the running example, the time split."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from labkit import data
from labkit.data import (
    FEATURES,
    TARGETS,
    TIME_COLUMN,
    load_weather,
    running_example,
    split_by_time,
)
from labkit.errors import DataError

HEADER = "date,precipitation,temp_max,temp_min,wind,weather\n"


def write_csv(folder: Path, text: str, name: str = "weather.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def make_days(dates: list[str], precipitation: list[float]) -> pd.DataFrame:
    """A small weather frame; temp_max is 10, 11, 12, ... so each day is traceable."""
    count = len(dates)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(dates),
            "precipitation": precipitation,
            "temp_max": [10.0 + day for day in range(count)],
            "temp_min": [0.0] * count,
            "wind": [3.0] * count,
            "weather": ["sun"] * count,
        }
    )


def test_public_names() -> None:
    assert data.__all__ == [
        "FEATURES",
        "TARGETS",
        "TIME_COLUMN",
        "load_weather",
        "running_example",
        "split_by_time",
    ]
    assert FEATURES == ("precipitation", "temp_max", "temp_min", "wind", "weather")
    assert TARGETS == ("rain_tomorrow", "temp_max_tomorrow")
    assert TIME_COLUMN == "date"


def test_load_weather_reads_every_day_with_types() -> None:
    weather = load_weather()

    assert weather.shape == (1461, 6)
    assert list(weather.columns) == [
        "date",
        "precipitation",
        "temp_max",
        "temp_min",
        "wind",
        "weather",
    ]
    assert pd.api.types.is_datetime64_dtype(weather["date"])
    for column in ["precipitation", "temp_max", "temp_min", "wind"]:
        assert weather[column].dtype == "float64", column
    assert pd.api.types.is_string_dtype(weather["weather"])
    assert weather["date"].iloc[0] == pd.Timestamp("2012-01-01")
    assert weather["date"].iloc[-1] == pd.Timestamp("2015-12-31")
    assert weather["date"].is_monotonic_increasing
    assert weather["date"].diff().dropna().eq(pd.Timedelta(days=1)).all()
    assert weather.loc[1].tolist() == [
        pd.Timestamp("2012-01-02"),
        10.9,
        10.6,
        2.8,
        4.5,
        "rain",
    ]


def test_weather_label_mix_shifts_across_years() -> None:
    # datasets/README.md quotes these counts, and the monitoring lessons rely on them.
    weather = load_weather()
    counts = pd.crosstab(weather["date"].dt.year, weather["weather"])

    assert counts.loc[2012, "rain"] == 191
    assert counts.loc[2014, "rain"] == 3
    assert counts.loc[2012, "fog"] == 5
    assert counts.loc[2014, "fog"] == 151


def test_load_weather_does_not_depend_on_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    assert len(load_weather()) == 1461


def test_load_weather_reads_a_given_path_sorted_and_keeps_only_known_columns(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        "weather,date,wind,temp_min,temp_max,precipitation,station\n"
        "sun,2020/01/03,1.0,0.0,3.0,0.0,SEA\n"
        "rain,2020/01/01,2.0,1.0,4.0,5.5,SEA\n"
        "fog,2020/01/02,3,2,5,,SEA\n",
    )

    weather = load_weather(str(path))

    assert list(weather.columns) == [
        "date",
        "precipitation",
        "temp_max",
        "temp_min",
        "wind",
        "weather",
    ]
    assert weather["date"].tolist() == list(
        pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])
    )
    assert weather["weather"].tolist() == ["rain", "fog", "sun"]
    assert weather["wind"].dtype == "float64"
    assert weather["precipitation"].isna().tolist() == [False, True, False]


def test_load_weather_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(
        DataError,
        match=r"expected a CSV file at '.*nowhere\.csv'; got no such file; fix:",
    ):
        load_weather(tmp_path / "nowhere.csv")


def test_load_weather_rejects_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="got a directory"):
        load_weather(tmp_path)


def test_load_weather_rejects_an_empty_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "")

    with pytest.raises(DataError, match=r"weather\.csv'; got an empty file; fix:"):
        load_weather(path)


def test_load_weather_rejects_a_file_that_is_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "weather.csv"
    path.write_bytes(bytes(range(256)) * 4)

    with pytest.raises(DataError, match="got a file pandas cannot parse"):
        load_weather(path)


def test_load_weather_rejects_a_header_without_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path, HEADER)

    with pytest.raises(DataError, match="got a header and no rows"):
        load_weather(path)


def test_load_weather_names_missing_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "date,precipitation,temp_max,temp_min\n2012/01/01,0,1,2\n"
    )

    with pytest.raises(
        DataError, match=r"weather\.csv'; got .*, missing \['wind', 'weather'\]; fix:"
    ):
        load_weather(path)


def test_load_weather_shows_a_bad_date_and_its_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        HEADER
        + "2012/01/01,0,1,0,1,sun\n"
        + "2012/01/02,0,1,0,1,sun\n"
        + "2012-13-01,0,1,0,1,sun\n",
    )

    with pytest.raises(
        DataError,
        match=r"expected dates written as YYYY/MM/DD .*weather\.csv'; "
        r"got '2012-13-01' on line 4 \(1 bad in all\); fix:",
    ):
        load_weather(path)


def test_load_weather_shows_a_non_numeric_value_its_column_and_line(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path,
        HEADER + "2012/01/01,0,1,0,1,sun\n2012/01/02,0,1,0,calm,sun\n",
    )

    with pytest.raises(
        DataError,
        match=r"expected numbers in column 'wind' of '.*weather\.csv'; "
        r"got 'calm' on line 3 \(1 bad in all\); fix:",
    ):
        load_weather(path)


def test_running_example_targets_are_the_next_days_values() -> None:
    days = make_days(
        ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"],
        precipitation=[0.0, 5.0, 0.0, 2.0],
    )

    example = running_example(days)

    assert list(example.columns) == [TIME_COLUMN, *FEATURES, *TARGETS]
    assert example["date"].tolist() == list(
        pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"])
    )
    assert example["rain_tomorrow"].tolist() == [True, False, True]
    assert example["temp_max_tomorrow"].tolist() == [11.0, 12.0, 13.0]
    assert example["rain_tomorrow"].dtype == "bool"
    assert example["temp_max_tomorrow"].dtype == "float64"
    assert example["precipitation"].tolist() == [0.0, 5.0, 0.0]


def test_running_example_uses_the_calendar_day_not_the_next_row() -> None:
    days = make_days(
        ["2020-01-03", "2020-01-01", "2020-01-02", "2020-01-05", "2020-01-06"],
        precipitation=[1.0, 0.0, 0.0, 0.0, 0.0],
    )

    example = running_example(days)

    # Jan 3 has no Jan 4, and Jan 6 has no Jan 7: both are dropped.
    assert example["date"].dt.day.tolist() == [1, 2, 5]
    assert example["rain_tomorrow"].tolist() == [False, True, False]
    assert example["temp_max_tomorrow"].tolist() == [12.0, 10.0, 14.0]


def test_running_example_leaves_its_input_unchanged() -> None:
    days = make_days(["2020-01-02", "2020-01-01"], precipitation=[1.0, 0.0])
    before = days.copy()

    running_example(days)

    pd.testing.assert_frame_equal(days, before)


def test_running_example_on_the_weather_drops_only_the_last_day() -> None:
    example = running_example(load_weather())

    assert example.shape == (1460, 8)
    assert example["date"].iloc[-1] == pd.Timestamp("2015-12-30")
    assert example["rain_tomorrow"].sum() == 623


def test_running_example_names_missing_columns() -> None:
    days = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0]).drop(columns=["wind"])

    with pytest.raises(
        DataError, match=r"expected weather to have columns .* missing \['wind'\]"
    ):
        running_example(days)


def test_running_example_rejects_dates_stored_as_text() -> None:
    days = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0])
    days["date"] = ["2020-01-01", "2020-01-02"]

    with pytest.raises(
        DataError, match=r"expected weather\['date'\] to hold datetime64 values; got"
    ):
        running_example(days)


def test_running_example_rejects_a_repeated_date() -> None:
    days = make_days(["2020-01-01", "2020-01-02", "2020-01-02"], [0.0, 1.0, 2.0])

    with pytest.raises(
        DataError,
        match=r"expected one row per date .*; got '2020-01-02' more than once",
    ):
        running_example(days)


def test_running_example_rejects_missing_dates() -> None:
    days = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0])
    days.loc[1, "date"] = pd.NaT

    with pytest.raises(DataError, match=r"got 1 missing \(NaT\), the first at index 1"):
        running_example(days)


def test_split_by_time_at_2013_gives_2012_for_training() -> None:
    train, test = split_by_time(load_weather(), at="2013-01-01")

    assert len(train) == 366
    assert len(test) == 1461 - 366
    assert train["date"].dt.year.unique().tolist() == [2012]
    assert test["date"].iloc[0] == pd.Timestamp("2013-01-01")


def test_split_by_time_keeps_order_and_resets_the_index() -> None:
    frame = pd.DataFrame(
        {
            "when": pd.to_datetime(
                ["2020-03-01", "2020-01-01", "2020-02-01", "2020-02-15"]
            ),
            "value": [1, 2, 3, 4],
        },
        index=[10, 20, 30, 40],
    )

    before, after = split_by_time(
        frame, at=pd.Timestamp("2020-02-01"), time_column="when"
    )

    assert before["value"].tolist() == [2]
    assert after["value"].tolist() == [1, 3, 4]
    assert before.index.tolist() == [0]
    assert after.index.tolist() == [0, 1, 2]


def test_split_by_time_rejects_a_missing_time_column() -> None:
    frame = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0])

    with pytest.raises(
        DataError,
        match=r"expected frame to have columns \['time'\]; .* missing \['time'\]",
    ):
        split_by_time(frame, time_column="time")


def test_split_by_time_rejects_an_unparseable_at() -> None:
    frame = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0])

    with pytest.raises(
        DataError, match=r"expected `at` to be a date .*; got 'next spring'; fix:"
    ):
        split_by_time(frame, at="next spring")


def test_split_by_time_rejects_an_at_without_the_columns_time_zone() -> None:
    frame = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0])
    frame["date"] = frame["date"].dt.tz_localize("UTC")

    with pytest.raises(DataError, match=r"to agree on a time zone; got at='2020-01-02"):
        split_by_time(frame, at="2020-01-02")

    before, after = split_by_time(frame, at=pd.Timestamp("2020-01-02", tz="UTC"))
    assert (len(before), len(after)) == (1, 1)


@pytest.mark.parametrize(
    ("at", "counts"),
    [
        ("2019-01-01", "got 0 before and 2 from it"),
        ("2021-01-01", "got 2 before and 0 from it"),
    ],
)
def test_split_by_time_rejects_an_empty_side(at: str, counts: str) -> None:
    frame = make_days(["2020-01-01", "2020-01-02"], [0.0, 1.0])

    with pytest.raises(
        DataError, match=rf"{counts}, as frame\['date'\] runs from '2020-01-01"
    ):
        split_by_time(frame, at=at)
