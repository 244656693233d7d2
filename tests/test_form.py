"""Tests for labkit.form: a prediction form's start values, the record it sends, its answer in words."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from labkit.errors import SchemaError
from labkit.form import answer_text, likelihood, record_from_values, start_values
from labkit.profile import training_profile
from labkit.schema import Schema

RAIN = {"name": "rain_tomorrow", "kind": "boolean", "classes": [False, True]}


def info_of(X: pd.DataFrame, *, profile: bool = True) -> dict:
    """What /model answers about a model trained on ``X`` (the parts a form reads)."""
    return {"schema": Schema.infer(X).to_dict(), "profile": training_profile(X) if profile else None, "target": RAIN}


def make_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "wind": [1.0, 2.5, 3.0, 9.5],
        "month": [1, 2, 3, 12],
        "windy": [True, False, False, False],
        "weather": ["rain", "sun", "rain", "sun"],
        "day": pd.to_datetime(["2012-01-01", "2012-03-01", "2012-06-01", "2012-12-31"]),
    })


# start_values ----------------------------------------------------------------------------


def test_start_values_are_what_was_typical_in_training(weather_split):
    train, _ = weather_split
    X = train[["precipitation", "temp_max", "temp_min", "wind", "weather"]]

    values = start_values(info_of(X))

    assert values == {
        "precipitation": train["precipitation"].median(),
        "temp_max": train["temp_max"].median(),
        "temp_min": train["temp_min"].median(),
        "wind": train["wind"].median(),
        "weather": train["weather"].mode()[0],
    }


def test_start_values_of_every_kind():
    values = start_values(info_of(make_frame()))

    assert values == {"wind": 2.75, "month": 2, "windy": False, "weather": "rain", "day": "2012-12-31T00:00:00"}
    assert type(values["month"]) is int and type(values["wind"]) is float


def test_a_category_never_seen_is_not_a_start_value():
    X = pd.DataFrame({"weather": pd.Categorical(["sun"], categories=["fog", "rain", "sun"])})

    assert start_values(info_of(X)) == {"weather": "sun"}


def test_start_values_without_a_profile():
    values = start_values(info_of(make_frame(), profile=False))

    assert values == {"wind": 0.0, "month": 0, "windy": False, "weather": "rain", "day": ""}


def test_free_text_starts_at_its_most_frequent_value():
    info = {"schema": {"columns": [{"name": "station", "kind": "string", "categories": None}]},
            "profile": training_profile(pd.DataFrame({"station": ["b", "a", "b"]}))}

    assert start_values(info) == {"station": "b"}
    assert start_values({**info, "profile": None}) == {"station": ""}


# record_from_values ----------------------------------------------------------------------


def test_the_record_holds_json_values_in_schema_order():
    values = {"day": dt.date(2014, 3, 1), "weather": "sun", "windy": True, "month": 3.0, "wind": np.float64(4.5)}

    record = record_from_values(info_of(make_frame()), values)

    assert record == {"wind": 4.5, "month": 3, "windy": True, "weather": "sun", "day": "2014-03-01"}
    assert list(record) == ["wind", "month", "windy", "weather", "day"]
    assert type(record["wind"]) is float and type(record["month"]) is int


def test_missing_values_become_null():
    values = {"wind": float("nan"), "month": None, "windy": None, "weather": None, "day": "  "}

    assert record_from_values(info_of(make_frame()), values) == dict.fromkeys(values)


def test_a_record_needs_every_column():
    with pytest.raises(SchemaError, match=r"got none for 'day' \(values for \['month', 'weather', 'wind', 'windy'\]\); fix: give 'day' a value"):
        record_from_values(info_of(make_frame()), {"wind": 1.0, "month": 1, "windy": True, "weather": "sun"})


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [("month", 2.5, "integer"), ("wind", "windy", "float"), ("windy", "yes", "boolean")],
)
def test_a_value_of_the_wrong_kind_is_refused(column, value, kind):
    values = {"wind": 1.0, "month": 1, "windy": True, "weather": "sun", "day": "2012-01-01", column: value}

    with pytest.raises(SchemaError, match=rf"expected {kind} for '{column}'; got {value!r}; fix: enter a {kind} value"):
        record_from_values(info_of(make_frame()), values)


# likelihood and answer_text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("probability", "words"),
    [(0.0, "very unlikely"), (0.099, "very unlikely"), (0.1, "unlikely"), (0.399, "unlikely"),
     (0.4, "as likely as not"), (0.599, "as likely as not"), (0.6, "likely"), (0.899, "likely"),
     (0.9, "very likely"), (1.0, "very likely")],
)
def test_likelihood_bands(probability, words):
    assert likelihood(probability) == words


def test_a_yes_or_no_answer_says_how_likely_yes_is():
    assert answer_text(RAIN, {"prediction": True, "proba_False": 0.28, "proba_True": 0.72}) == "rain tomorrow: likely, 72%"
    assert answer_text(RAIN, {"prediction": False, "proba_False": 0.82, "proba_True": 0.18}) == "rain tomorrow: unlikely, 18%"


def test_a_near_certain_answer_is_not_rounded_to_certainty():
    assert answer_text(RAIN, {"prediction": True, "proba_False": 0.004, "proba_True": 0.996}) == (
        "rain tomorrow: very likely, over 99%"
    )
    assert answer_text(RAIN, {"prediction": False, "proba_False": 0.999, "proba_True": 0.001}) == (
        "rain tomorrow: very unlikely, under 1%"
    )


def test_an_answer_from_a_client_frame_row():
    row = pd.DataFrame({"prediction": [np.True_], "proba_False": [0.4], "proba_True": [0.6], "model_version": [1]}).iloc[0]

    assert answer_text(RAIN, row.to_dict()) == "rain tomorrow: likely, 60%"


def test_other_classes_say_the_most_likely_one_and_its_probability():
    sky = {"name": "sky", "kind": "object", "classes": ["dry", "foggy", "wet"]}
    row = {"prediction": "wet", "proba_dry": 0.3, "proba_foggy": 0.1, "proba_wet": 0.6}

    assert answer_text(sky, row) == "sky: most likely wet, 60%"
    assert answer_text(None, row) == "prediction: most likely wet, 60%"
    numbered = {"name": "level", "kind": "int64", "classes": [0, 1, 2]}
    assert answer_text(numbered, {"prediction": 2, "proba_0": 0.1, "proba_1": 0.2, "proba_2": 0.7}) == (
        "level: most likely 2, 70%"
    )


def test_a_number_is_an_estimate():
    target = {"name": "temp_max_tomorrow", "kind": "float", "classes": None}

    assert answer_text(target, {"prediction": np.float64(14.2345)}) == "temp max tomorrow: about 14.2"
    assert answer_text(target, {"prediction": -0.01234}) == "temp max tomorrow: about -0.0123"
    assert answer_text(target, {"prediction": 1234.5}) == "temp max tomorrow: about 1,234"
