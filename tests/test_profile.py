"""Tests for labkit.profile: what the training data looked like, and which values it never held."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labkit.profile import QUANTILES, seen_in_training, training_profile, unfamiliar_values
from labkit.schema import MAX_CATEGORIES


def make_frame() -> pd.DataFrame:
    """Weather-like training data of every kind, with missing values where they may be."""
    rng = np.random.default_rng(0)
    n = 50
    frame = pd.DataFrame(
        {
            "temp": rng.normal(10.0, 5.0, size=n),
            "month": rng.integers(1, 13, size=n),
            "windy": rng.random(n) < 0.2,
            "weather": rng.choice(["sun", "rain", "fog"], size=n, p=[0.5, 0.4, 0.1]),
            "day": pd.date_range("2012-01-01", periods=n, freq="D"),
        }
    )
    frame.loc[[3, 7], "temp"] = np.nan
    return frame


# training_profile ---------------------------------------------------------------------


def test_numbers_record_range_spread_quantiles_and_missing():
    X = make_frame()
    temp = training_profile(X)["columns"]["temp"]
    present = X["temp"].dropna()

    assert temp["missing"] == 2
    assert temp["min"] == present.min() and temp["max"] == present.max()
    assert temp["mean"] == pytest.approx(present.mean())
    assert temp["std"] == pytest.approx(present.std())
    assert list(temp["quantiles"]) == ["1%", "5%", "25%", "50%", "75%", "95%", "99%"]
    assert list(temp["quantiles"].values()) == pytest.approx(list(present.quantile(list(QUANTILES))))


def test_integers_and_nullable_integers_are_numbers():
    X = pd.DataFrame({"month": pd.array([1, 12, None, 6], dtype="Int64")})
    month = training_profile(X)["columns"]["month"]

    assert (month["min"], month["max"], month["missing"]) == (1.0, 12.0, 1)
    assert month["quantiles"]["50%"] == 6.0


def test_profile_counts_rows():
    assert training_profile(make_frame())["rows"] == 50


def test_a_column_with_no_numbers_has_no_statistics_and_stays_json():
    X = pd.DataFrame({"gust": [np.nan, np.nan], "one": [1.5, np.nan]})
    profile = training_profile(X)
    gust, one = profile["columns"]["gust"], profile["columns"]["one"]

    assert gust == {
        "missing": 2, "min": None, "max": None, "mean": None, "std": None,
        "quantiles": dict.fromkeys(["1%", "5%", "25%", "50%", "75%", "95%", "99%"]),
    }
    assert one["std"] is None and one["min"] == one["max"] == 1.5
    assert json.loads(json.dumps(profile, allow_nan=False)) == profile


def test_infinities_are_left_out_of_the_statistics():
    X = pd.DataFrame({"wind": [1.0, np.inf, 3.0, -np.inf]})
    wind = training_profile(X)["columns"]["wind"]

    assert (wind["min"], wind["max"], wind["mean"]) == (1.0, 3.0, 2.0)


def test_categories_are_counted_most_frequent_first():
    X = pd.DataFrame({"weather": ["rain", "sun", "sun", "fog", "rain", "sun", None]})
    weather = training_profile(X)["columns"]["weather"]

    assert weather == {
        "missing": 1,
        "distinct": 3,
        "counts": [{"value": "sun", "count": 3}, {"value": "rain", "count": 2}, {"value": "fog", "count": 1}],
    }


def test_equal_counts_are_listed_in_value_order():
    weather = training_profile(pd.DataFrame({"weather": ["sun", "fog", "rain"]}))["columns"]["weather"]

    assert [item["value"] for item in weather["counts"]] == ["fog", "rain", "sun"]


def test_booleans_are_counted_as_json_booleans():
    X = make_frame()
    windy = training_profile(X)["columns"]["windy"]

    assert windy["counts"] == [
        {"value": False, "count": int((~X["windy"]).sum())},
        {"value": True, "count": int(X["windy"].sum())},
    ]
    assert all(type(item["value"]) is bool and type(item["count"]) is int for item in windy["counts"])


def test_a_declared_category_never_seen_is_counted_as_zero():
    X = pd.DataFrame({"weather": pd.Categorical(["sun", "rain", "sun"], categories=["rain", "snow", "sun"])})
    weather = training_profile(X)["columns"]["weather"]

    assert weather["counts"][-1] == {"value": "snow", "count": 0}
    assert weather["distinct"] == 2


def test_free_text_keeps_only_the_most_frequent_values():
    names = [f"station-{i:03d}" for i in range(MAX_CATEGORIES + 20)]
    X = pd.DataFrame({"station": ["station-007"] * 3 + names})
    station = training_profile(X)["columns"]["station"]

    assert station["distinct"] == MAX_CATEGORIES + 20
    assert len(station["counts"]) == MAX_CATEGORIES
    assert station["counts"][0] == {"value": "station-007", "count": 4}


def test_times_record_their_first_and_last_moment():
    X = make_frame()
    X["stamp"] = X["day"].dt.tz_localize("Europe/Paris")
    columns = training_profile(X)["columns"]

    assert columns["day"] == {"missing": 0, "min": "2012-01-01T00:00:00", "max": "2012-02-19T00:00:00"}
    assert columns["stamp"]["min"] == "2012-01-01T00:00:00+01:00"


def test_the_profile_of_every_kind_is_json():
    profile = training_profile(make_frame())

    assert json.loads(json.dumps(profile, allow_nan=False)) == profile


# seen_in_training ---------------------------------------------------------------------


def test_seen_in_training_says_the_range_or_the_values():
    profile = training_profile(pd.DataFrame({
        "temp": [-1.1, 20.0, 34.4], "weather": ["sun", "rain", "rain"], "windy": [True, False, True],
        "day": pd.to_datetime(["2012-01-01", "2012-06-01", "2012-12-31"]),
    }))

    assert seen_in_training(profile, "temp") == "-1.1 to 34.4"
    assert seen_in_training(profile, "weather") == "rain, sun"
    assert seen_in_training(profile, "windy") == "true, false"
    assert seen_in_training(profile, "day") == "2012-01-01T00:00:00 to 2012-12-31T00:00:00"


def test_seen_in_training_writes_numbers_for_people():
    profile = training_profile(pd.DataFrame({"income": [12_000.0, 2_500_000.0], "share": [0.0001234, 0.5]}))

    assert seen_in_training(profile, "income") == "12,000 to 2,500,000"
    assert seen_in_training(profile, "share") == "0.000124 to 0.5"


def test_the_range_shown_is_rounded_inwards_so_every_number_in_it_was_seen():
    profile = training_profile(pd.DataFrame({"wind": [0.349938, 8.92052], "calm": [5.123456, 5.123456]}))

    assert seen_in_training(profile, "wind") == "0.35 to 8.92"
    assert unfamiliar_values(profile, {"wind": 0.35}) == unfamiliar_values(profile, {"wind": 8.92}) == {}
    assert seen_in_training(profile, "calm") == "5.12346 to 5.12346"


def test_seen_in_training_marks_free_text_as_incomplete():
    X = pd.DataFrame({"station": [f"s{i:03d}" for i in range(MAX_CATEGORIES + 1)]})

    assert seen_in_training(training_profile(X), "station").endswith("s099, ...")


def test_seen_in_training_is_none_when_unknown():
    profile = training_profile(pd.DataFrame({"gust": [np.nan], "sky": pd.Series([None], dtype=object)}))

    assert seen_in_training(None, "gust") is None
    assert seen_in_training(profile, "gust") is None
    assert seen_in_training(profile, "sky") is None
    assert seen_in_training(profile, "no such column") is None


# unfamiliar_values ---------------------------------------------------------------------


@pytest.fixture
def profile() -> dict:
    return training_profile(make_frame())


def test_a_number_outside_the_training_range_is_unfamiliar(profile):
    high = profile["columns"]["temp"]["max"] + 1

    found = unfamiliar_values(profile, {"temp": high, "month": 0})

    assert set(found) == {"temp", "month"}
    assert found["month"] == "the model has never seen a month of 0 (in training: 1 to 12); trust this answer less"
    assert found["temp"].startswith(f"the model has never seen a temp of {high:.6g} (in training: ")


def test_the_training_range_itself_is_familiar(profile):
    temp = profile["columns"]["temp"]

    assert unfamiliar_values(profile, {"temp": temp["min"], "month": 12}) == {}
    assert unfamiliar_values(profile, {"temp": temp["max"], "month": np.int64(1)}) == {}


def test_a_category_or_boolean_never_seen_is_unfamiliar():
    profile = training_profile(pd.DataFrame({
        "weather": pd.Categorical(["sun", "rain"], categories=["rain", "snow", "sun"]), "windy": [False, False],
    }))

    found = unfamiliar_values(profile, {"weather": "snow", "windy": True})

    assert found == {
        "weather": "the model has never seen a weather of snow (in training: rain, sun); trust this answer less",
        "windy": "the model has never seen a windy of true (in training: false); trust this answer less",
    }
    assert unfamiliar_values(profile, {"weather": "sun", "windy": np.False_}) == {}


def test_free_text_is_never_unfamiliar():
    X = pd.DataFrame({"station": [f"s{i:03d}" for i in range(MAX_CATEGORIES + 1)]})

    assert unfamiliar_values(training_profile(X), {"station": "a new one"}) == {}


def test_a_missing_value_is_unfamiliar_only_where_none_was_missing(profile):
    found = unfamiliar_values(profile, {"temp": None, "month": float("nan"), "weather": None})

    assert found == {
        "month": "the model has never seen a missing month; trust this answer less",
        "weather": "the model has never seen a missing weather; trust this answer less",
    }


def test_a_time_outside_the_training_period_is_unfamiliar(profile):
    assert list(unfamiliar_values(profile, {"day": "2013-06-01"})) == ["day"]
    assert unfamiliar_values(profile, {"day": "2012-02-01T12:00:00+00:00"}) == {}


def test_values_of_the_wrong_type_are_left_to_the_service(profile):
    record = {"temp": "warm", "month": True, "windy": 1, "weather": 3, "day": "not a date"}
    assert unfamiliar_values(profile, {"day": 10**18}) == {}

    assert unfamiliar_values(profile, record) == {}


def test_without_a_profile_nothing_is_known_to_be_unfamiliar():
    assert unfamiliar_values(None, {"temp": 1e9}) == {}
    assert unfamiliar_values({}, {"temp": 1e9}) == {}


def test_columns_the_profile_does_not_know_are_left_out(profile):
    assert unfamiliar_values(profile, {"pressure": 1e9}) == {}
