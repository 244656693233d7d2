"""Tests for labkit.schema: inferring a schema, checking requests against it, describing it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from labkit.errors import SchemaError
from labkit.schema import MAX_CATEGORIES, MAX_PROBLEMS, Column, Problem, Schema, json_text, json_type


def training_frame() -> pd.DataFrame:
    """One column of every kind, and a nullable twin of each."""
    return pd.DataFrame(
        {
            "wind": [1.5, 2.0, 3.5],
            "days": [1, 2, 3],
            "dry": [True, False, True],
            "weather": ["sun", "rain", "sun"],
            "level": pd.Categorical(["lo", "hi", "lo"]),
            "date": pd.to_datetime(["2013-01-01", "2013-01-02", "2013-01-03"]),
            "wind_or_none": [1.0, None, 2.0],
            "days_or_none": pd.array([1, None, 3], dtype="Int64"),
            "dry_or_none": pd.array([True, None, False], dtype="boolean"),
            "weather_or_none": ["sun", None, "fog"],
            "date_or_none": pd.to_datetime(["2013-01-01", None, "2013-01-03"]),
        }
    )


@pytest.fixture
def schema() -> Schema:
    return Schema.infer(training_frame())


def record(**changes) -> dict:
    """A valid record for the schema of ``training_frame``, with ``changes`` applied."""
    base = {
        "wind": 2.5,
        "days": 4,
        "dry": False,
        "weather": "rain",
        "level": "hi",
        "date": "2014-03-01",
        "wind_or_none": None,
        "days_or_none": None,
        "dry_or_none": None,
        "weather_or_none": None,
        "date_or_none": None,
    }
    return {**base, **changes}


def problems_of(schema: Schema, records) -> list[Problem]:
    with pytest.raises(SchemaError) as caught:
        schema.frame_from_records(records)
    return caught.value.problems


# inference ----------------------------------------------------------------------------


def test_infer_each_kind(schema):
    columns = {c.name: c for c in schema.columns}

    assert schema.names == tuple(training_frame().columns)
    assert columns["wind"] == Column("wind", "float", "float64", False)
    assert columns["days"] == Column("days", "integer", "int64", False)
    assert columns["dry"] == Column("dry", "boolean", "bool", False)
    assert (columns["weather"].kind, columns["weather"].categories) == ("string", ("rain", "sun"))
    assert columns["level"] == Column("level", "string", "category", False, ("hi", "lo"))
    assert (columns["date"].kind, columns["date"].nullable) == ("datetime", False)
    assert columns["wind_or_none"] == Column("wind_or_none", "float", "float64", True)
    assert columns["days_or_none"] == Column("days_or_none", "integer", "Int64", True)
    assert columns["dry_or_none"] == Column("dry_or_none", "boolean", "boolean", True)
    assert columns["weather_or_none"].categories == ("fog", "sun")
    assert columns["weather_or_none"].nullable is True
    assert (columns["date_or_none"].kind, columns["date_or_none"].nullable) == ("datetime", True)


def test_infer_keeps_few_strings_as_categories_and_many_as_free_text():
    few = Schema.infer(pd.DataFrame({"id": [f"id{i}" for i in range(MAX_CATEGORIES)]}))
    many = Schema.infer(pd.DataFrame({"id": [f"id{i}" for i in range(MAX_CATEGORIES + 1)]}))

    assert MAX_CATEGORIES == 100
    assert len(few.columns[0].categories) == 100
    assert many.columns[0].categories is None
    assert many.columns[0].kind == "string"
    frame, _ = many.frame_from_records([{"id": "never seen"}])
    assert frame["id"].tolist() == ["never seen"]


def test_infer_accepts_object_strings():
    schema = Schema.infer(pd.DataFrame({"s": pd.Series(["b", "a", None], dtype=object)}))

    assert schema.columns[0] == Column("s", "string", "object", True, ("a", "b"))


def test_infer_refuses_mixed_object_columns():
    X = pd.DataFrame({"mixed": pd.Series(["a", 1, "b"], dtype=object)})
    with pytest.raises(SchemaError, match=r"column 'mixed' to hold only strings.*got 1 of type int.*astype\(str\)"):
        Schema.infer(X)


def test_infer_refuses_unsupported_dtypes():
    X = pd.DataFrame({"gap": pd.to_timedelta([1, 2], unit="D")})
    expected = r"column 'gap' to be numeric, boolean, string, categorical or datetime; got dtype timedelta"
    with pytest.raises(SchemaError, match=expected):
        Schema.infer(X)


@pytest.mark.parametrize(
    "X",
    [pd.DataFrame(), pd.DataFrame({"a": []}), pd.DataFrame(index=[0, 1])],
    ids=["nothing", "no rows", "no columns"],
)
def test_infer_refuses_empty_frames(X):
    with pytest.raises(SchemaError, match=r"expected a training frame with rows and columns; got shape"):
        Schema.infer(X)


@pytest.mark.parametrize("X", [np.zeros((2, 2)), [[1, 2]], {"a": [1]}])
def test_infer_refuses_non_frames(X):
    with pytest.raises(SchemaError, match="expected X to be a pandas DataFrame with named columns"):
        Schema.infer(X)


# conversion ---------------------------------------------------------------------------


def test_frame_from_records_converts_to_training_dtypes(schema):
    training = training_frame()
    records = [
        record(wind=1, days=2.0),
        record(
            wind=2.5,
            days=3,
            dry=True,
            weather="sun",
            level="lo",
            date="2014-03-02T10:00:00",
            wind_or_none=2,
            days_or_none=5,
            dry_or_none=True,
            weather_or_none="fog",
            date_or_none="2014-01-01",
        ),
    ]

    frame, ignored = schema.frame_from_records(records)

    assert ignored == []
    assert list(frame.columns) == list(training.columns)
    assert frame.dtypes.to_dict() == training.dtypes.to_dict()
    assert frame["wind"].tolist() == [1.0, 2.5]
    assert frame["days"].tolist() == [2, 3]
    assert frame["dry"].tolist() == [False, True]
    assert frame["weather"].tolist() == ["rain", "sun"]
    assert frame["level"].tolist() == ["hi", "lo"]
    assert list(frame["level"].cat.categories) == ["hi", "lo"]
    assert frame["date"].tolist() == [pd.Timestamp("2014-03-01"), pd.Timestamp("2014-03-02 10:00")]
    assert np.isnan(frame["wind_or_none"][0]) and frame["wind_or_none"][1] == 2.0
    assert frame["days_or_none"].isna().tolist() == [True, False] and frame["days_or_none"][1] == 5
    assert frame["dry_or_none"].isna().tolist() == [True, False] and frame["dry_or_none"][1]
    assert frame["weather_or_none"].isna().tolist() == [True, False] and frame["weather_or_none"][1] == "fog"
    assert frame["date_or_none"].isna().tolist() == [True, False]


def test_frame_from_records_reports_ignored_columns(schema):
    frame, ignored = schema.frame_from_records([record(zeta=1), record(alpha="x")])

    assert ignored == ["alpha", "zeta"]
    assert "zeta" not in frame.columns


def test_frame_from_columns_converts_and_ignores_extra_columns(schema):
    records = [record(), record(wind=3, days=9)]
    columns = {name: [r[name] for r in records] for name in schema.names}

    frame = schema.frame_from_columns({**columns, "extra": [1, 2]}, n_rows=2)

    expected, _ = schema.frame_from_records(records)
    pd.testing.assert_frame_equal(frame, expected)
    assert frame["days"].tolist() == [4, 9]


def test_frame_from_columns_reports_missing_columns(schema):
    with pytest.raises(SchemaError, match="missing required column 'wind'") as caught:
        schema.frame_from_columns({"days": [1]}, n_rows=1)
    assert caught.value.problems[0] == Problem("wind", None, "missing required column 'wind'; fix: add it")


def test_frame_from_columns_refuses_no_rows(schema):
    with pytest.raises(SchemaError, match="expected at least one record; got an empty batch") as caught:
        schema.frame_from_columns({}, n_rows=0)
    assert caught.value.problems == [Problem(None, None, "expected at least one record; got none")]


# problems -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"wind": "fast"}, "wind", r'expected a JSON number; got "fast" \(a string\)'),
        ({"wind": True}, "wind", r"expected a JSON number; got true \(a boolean\)"),
        ({"days": False}, "days", r"expected a whole JSON number; got false \(a boolean\)"),
        ({"days": 2.5}, "days", r"expected a whole JSON number; got 2.5 \(a number\)"),
        ({"days": float("inf")}, "days", r"expected a whole JSON number; got inf"),
        ({"wind": float("inf")}, "wind", r"expected a finite number; got inf"),
        ({"wind": float("nan")}, "wind", r"expected a finite number; got nan"),
        ({"dry": 1}, "dry", r"expected true or false; got 1 \(a number\)"),
        ({"weather": 3}, "weather", r"expected a JSON string; got 3 \(a number\)"),
        ({"weather": "snow"}, "weather", r"categories seen in training \('rain', 'sun'\); got \"snow\""),
        ({"level": "mid"}, "level", r"categories seen in training \('hi', 'lo'\); got \"mid\""),
        ({"wind": None}, "wind", r"expected a value; got null, and this column had no missing values"),
        ({"weather": None}, "weather", r"expected a value; got null"),
        ({"date": "2014-13-01"}, "date", r'expected an ISO 8601 date string .*; got "2014-13-01" \(a string\)'),
        ({"date": "yesterday"}, "date", r'got "yesterday" \(a string\)'),
        ({"date": 20140301}, "date", r"got 20140301 \(a number\)"),
        ({"wind": [1]}, "wind", r"expected a JSON number; got \[1\] \(an array\)"),
        ({"weather": {"a": 1}}, "weather", r'expected a JSON string; got \{"a":1\} \(an object\)'),
    ],
)
def test_each_bad_value_is_a_problem_naming_record_and_column(schema, change, column, message):
    with pytest.raises(SchemaError, match=rf"\(1 problem\):\n- record 1, column '{column}': .*{message}") as caught:
        schema.frame_from_records([record(), record(**change), record(**change)])

    [problem] = caught.value.problems
    assert (problem.row, problem.column) == (1, column)
    assert "fix:" in problem.message


def test_missing_column_is_a_problem(schema):
    incomplete = record()
    del incomplete["weather"]

    with pytest.raises(SchemaError, match=r"- record 2, column 'weather': missing required column 'weather'") as caught:
        schema.frame_from_records([record(), record(), incomplete])
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "weather")]


def test_non_object_record_is_a_problem(schema):
    with pytest.raises(SchemaError, match=r"expected every record to be a JSON object; record 1 is an array") as caught:
        schema.frame_from_records([record(), [1, 2]])
    assert caught.value.problems == [Problem(None, 1, "expected a JSON object; got an array")]


@pytest.mark.parametrize(("payload", "kind"), [({"wind": 1}, "an object"), ("x", "a string"), (None, "null")])
def test_non_list_is_refused(schema, payload, kind):
    with pytest.raises(SchemaError, match=rf"expected a JSON array of records; got {kind}"):
        schema.frame_from_records(payload)


def test_empty_list_is_refused(schema):
    with pytest.raises(SchemaError, match="expected at least one record") as caught:
        schema.frame_from_records([])
    assert caught.value.problems == [Problem(None, None, "expected at least one record; got none")]


def test_problems_in_several_columns_are_all_listed(schema):
    problems = problems_of(schema, [record(wind="x"), record(weather="snow", dry=None)])

    assert [(p.row, p.column) for p in problems] == [(0, "wind"), (1, "dry"), (1, "weather")]


def test_at_most_twenty_problems_are_listed():
    wide = Schema.infer(pd.DataFrame({f"c{i:02d}": [1.0] for i in range(30)}))

    with pytest.raises(SchemaError) as caught:
        wide.frame_from_records([{f"c{i:02d}": "bad" for i in range(30)}])

    assert MAX_PROBLEMS == 20
    assert len(caught.value.problems) == 20
    assert str(caught.value).count("\n- record 0, column") == 20
    assert [p.column for p in caught.value.problems] == [f"c{i:02d}" for i in range(20)]


def test_at_most_twenty_missing_columns_are_listed():
    wide = Schema.infer(pd.DataFrame({f"c{i:02d}": [1.0] for i in range(30)}))

    with pytest.raises(SchemaError, match=r"\(at least 30 problems; the first 20 are listed\)") as caught:
        wide.frame_from_records([{}])

    assert len(caught.value.problems) == 20
    assert str(caught.value).count("missing required column") == 20


def test_problem_text():
    assert str(Problem("wind", 3, "bad")) == "record 3, column 'wind': bad"
    assert str(Problem("wind", None, "bad")) == "column 'wind': bad"
    assert str(Problem(None, 2, "bad")) == "record 2: bad"
    assert str(Problem(None, None, "bad")) == "bad"


def test_nan_in_a_nullable_float_column_does_not_depend_on_other_records():
    schema = Schema.infer(pd.DataFrame({"wind": [1.0, None]}))

    def outcome(records):
        try:
            schema.frame_from_records(records)
        except SchemaError as error:
            return [(p.row, p.column) for p in error.problems]
        return "accepted"

    alone = outcome([{"wind": float("nan")}])
    beside_a_null = outcome([{"wind": float("nan")}, {"wind": None}])

    assert alone == [(0, "wind")]
    assert beside_a_null == alone


def test_huge_whole_number_for_integer_is_a_problem():
    schema = Schema.infer(pd.DataFrame({"days": [1, 2]}))

    with pytest.raises(SchemaError, match=r"record 0, column 'days'"):
        schema.frame_from_records([{"days": 1e20}])


# description --------------------------------------------------------------------------


def test_to_dict_from_dict_round_trip(schema):
    data = schema.to_dict()
    rebuilt = Schema.from_dict(json.loads(json.dumps(data)))

    assert rebuilt == schema
    assert rebuilt.columns == schema.columns
    assert json.loads(json.dumps(data))["columns"][3] == {
        "name": "weather",
        "kind": "string",
        "dtype": "str",
        "nullable": False,
        "categories": ["rain", "sun"],
    }
    assert repr(rebuilt) == f"Schema(columns={list(schema.names)!r})"
    assert schema != Schema(columns=schema.columns[:2])
    assert schema != "not a schema"


def test_json_schema(schema):
    described = schema.json_schema()
    properties = described["properties"]
    int64 = {"minimum": -(2**63), "maximum": 2**63 - 1}
    date = {
        "anyOf": [{"format": "date"}, {"format": "date-time"}],
        "description": "an ISO 8601 date (2014-03-01) or date-time (2014-03-01T10:00:00Z)",
    }

    assert described["type"] == "object"
    assert described["required"] == list(schema.names)
    assert properties["wind"] == {"type": "number"}
    assert properties["days"] == {"type": "integer", **int64}
    assert properties["dry"] == {"type": "boolean"}
    assert properties["weather"] == {"type": "string", "enum": ["rain", "sun"]}
    assert properties["level"] == {"type": "string", "enum": ["hi", "lo"]}
    assert properties["date"] == {"type": "string", **date}
    assert properties["wind_or_none"] == {"type": ["number", "null"]}
    assert properties["days_or_none"] == {"type": ["integer", "null"], **int64}
    assert properties["dry_or_none"] == {"type": ["boolean", "null"]}
    assert properties["date_or_none"] == {"type": ["string", "null"], **date}
    json.dumps(described)


# Values of every JSON type, and the edges the checks care about: whole and fractional
# numbers, the ends of int64, known and unknown categories, dates and non-dates.
JSON_VALUES = [
    None, True, False, 0, 7, -3, 2.0, 1.5, -0.25, 1e300,
    2**63 - 1, 2**63, -(2**63), -(2**63) - 1,
    "sun", "rain", "fog", "hi", "lo", "hail", "", "2014-03-01", "2014-03-01T10:00:00Z", "2014", "yesterday",
    [1], {"a": 1},
]


@pytest.mark.parametrize("name", list(training_frame().columns))
def test_json_schema_admits_what_frame_from_records_accepts(schema, name):
    # The service's OpenAPI document is built from json_schema(): a client that trusts
    # it must never be refused, and the document must refuse what the service refuses.
    validator = Draft202012Validator(schema.json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    lenient = schema.columns[schema.names.index(name)].kind == "datetime"
    disagreements = []

    for value in JSON_VALUES:
        candidate = record(**{name: value})
        documented = validator.is_valid(candidate)
        try:
            schema.frame_from_records([candidate])
            accepted = True
        except SchemaError:
            accepted = False
        # The service reads more ISO 8601 forms ("2014") than the document promises.
        if documented != accepted and not (lenient and accepted):
            disagreements.append((value, f"document {'allows' if documented else 'refuses'}",
                                  f"service {'accepts' if accepted else 'refuses'}"))

    assert disagreements == []


def test_json_schema_requires_every_column_and_allows_extra_ones(schema):
    validator = Draft202012Validator(schema.json_schema())
    without_wind = {key: value for key, value in record().items() if key != "wind"}

    assert not validator.is_valid(without_wind)
    assert validator.is_valid(record(station="SEA"))
    assert schema.frame_from_records([record(station="SEA")])[1] == ["station"]


def test_json_schema_enum_of_a_nullable_category_admits_null(schema):
    # In JSON Schema, "enum" restricts values on its own: null must be listed to be valid.
    prop = schema.json_schema()["properties"]["weather_or_none"]

    assert prop["type"] == ["string", "null"]
    assert prop["enum"] == ["fog", "sun", None]


# JSON rendering -----------------------------------------------------------------------


def test_json_text_shows_values_as_json():
    assert [json_text(v) for v in (True, False, None, "a", 1.5, [1, "x"], {"a": 1})] == [
        "true",
        "false",
        "null",
        '"a"',
        "1.5",
        '[1,"x"]',
        '{"a":1}',
    ]
    assert json_text(object).startswith("<class")


def test_json_text_shortens_long_values():
    text = json_text("x" * 200)

    assert len(text) == 80 and text.endswith("...")
    assert json_text("x" * 200, limit=10) == '"xxxxxx...'


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_json_text_does_not_show_non_finite_numbers_as_null(value):
    # orjson writes these as null, which would tell the sender "got null (a number)".
    assert json_text(value) == repr(value)


def test_json_type_names_json_types():
    assert [json_type(v) for v in (None, True, 0, 1.5, "a", [], {})] == [
        "null",
        "a boolean",
        "a number",
        "a number",
        "a string",
        "an array",
        "an object",
    ]
