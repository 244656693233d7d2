"""The input schema of a model: which columns it needs, of which kind, and what values.

A :class:`Schema` is inferred once from the training frame ``X`` when a model is
registered, stored with the version, and used by the service to check every request
before the model sees it. Checks run column by column on plain Python lists (one pass
per column, no per-record objects), which is what keeps a 1000-row request cheap.

Examples
--------
>>> import pandas as pd
>>> X = pd.DataFrame({"wind": [1.5, 2.0], "weather": ["sun", "rain"]})
>>> schema = Schema.infer(X)
>>> [(c.name, c.kind, c.categories) for c in schema.columns]
[('wind', 'float', None), ('weather', 'string', ('rain', 'sun'))]
>>> frame, ignored = schema.frame_from_records([{"wind": 3, "weather": "sun", "x": 1}])
>>> frame.to_dict("list"), ignored
({'wind': [3.0], 'weather': ['sun']}, ['x'])
"""

from __future__ import annotations

import math
from itertools import chain
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from labkit.errors import SchemaError

__all__ = ["Column", "Problem", "Schema", "json_text", "json_type"]

# A string column with at most this many distinct training values is a set of
# categories, and the service refuses values outside it; above it, it is free text
# (an identifier, a comment) and any string is accepted.
MAX_CATEGORIES = 100

# How many problems one error lists: enough to fix a batch, short enough to read.
MAX_PROBLEMS = 20

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT_MAX = float(np.finfo(np.float64).max)

_JSON_TYPES = {"float": "number", "integer": "integer", "boolean": "boolean", "string": "string", "datetime": "string"}

_KIND_HINT = {
    "float": "a JSON number",
    "integer": "a whole JSON number",
    "boolean": "true or false",
    "string": "a JSON string",
    "datetime": 'an ISO 8601 date string such as "2014-03-01"',
}


@dataclass(frozen=True)
class Column:
    """One input column of a model.

    Parameters
    ----------
    name
        The column name, as in the training frame.
    kind
        One of ``"float"``, ``"integer"``, ``"boolean"``, ``"string"``, ``"datetime"``.
    dtype
        The pandas dtype seen in training, for the record.
    nullable
        Whether the training data held missing values in this column.
    categories
        The allowed values of a string column, or ``None`` for free text.
    """

    name: str
    kind: str
    dtype: str
    nullable: bool
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value (or one whole column) of a request.

    Parameters
    ----------
    column
        The column concerned, or ``None`` when the problem is not about a column.
    row
        The index of the record concerned, or ``None`` when it concerns every record.
    message
        What was expected, what arrived, and how to fix it.
    """

    column: str | None
    row: int | None
    message: str

    def __str__(self) -> str:
        parts = [f"record {self.row}"] if self.row is not None else []
        parts += [f"column {self.column!r}"] if self.column is not None else []
        return f"{', '.join(parts)}: {self.message}" if parts else self.message


class Schema:
    """The columns a model expects, inferred from its training frame.

    Parameters
    ----------
    columns
        The columns, in the order the model was trained on.

    Examples
    --------
    >>> import pandas as pd
    >>> schema = Schema.infer(pd.DataFrame({"n": [1, 2], "ok": [True, False]}))
    >>> schema.names
    ('n', 'ok')
    >>> Schema.from_dict(schema.to_dict()) == schema
    True
    """

    def __init__(self, *, columns: Sequence[Column]) -> None:
        self._columns = tuple(columns)

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns, in training order."""
        return self._columns

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in training order."""
        return tuple(column.name for column in self._columns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self._columns == other._columns

    def __repr__(self) -> str:
        return f"Schema(columns={list(self.names)!r})"

    @classmethod
    def infer(cls, X: pd.DataFrame) -> Schema:
        """Infer the schema of a training frame.

        Parameters
        ----------
        X
            The frame the model was trained on, with named columns.

        Returns
        -------
        Schema
            One :class:`Column` per column of ``X``.

        Raises
        ------
        SchemaError
            If ``X`` is not a DataFrame, is empty, or has a column of an unsupported kind.

        Examples
        --------
        >>> import pandas as pd
        >>> Schema.infer(pd.DataFrame({"t": [1.0, None]})).columns[0].nullable
        True
        """
        if not isinstance(X, pd.DataFrame):
            raise SchemaError(
                f"expected X to be a pandas DataFrame with named columns; got {type(X).__name__}; "
                "fix: pass the training frame, e.g. pd.DataFrame(X, columns=[...])"
            )
        if X.shape[1] == 0 or len(X) == 0:
            raise SchemaError(
                f"expected a training frame with rows and columns; got shape {X.shape}; "
                "fix: pass the frame the model was fitted on"
            )
        return cls(columns=[_infer_column(str(name), X[name]) for name in X.columns])

    def to_dict(self) -> dict[str, Any]:
        """The schema as plain JSON-ready data."""
        return {"columns": [asdict(column) for column in self._columns]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Rebuild a schema from :meth:`to_dict` output."""
        columns = []
        for item in data["columns"]:
            categories = item.get("categories")
            columns.append(Column(**{**item, "categories": tuple(categories) if categories is not None else None}))
        return cls(columns=columns)

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema of one record: what :meth:`frame_from_records` accepts, for the OpenAPI page.

        Every column is required; a column without missing values in training refuses
        null; a column with categories allows only those; integers must fit the int64
        the model was trained on. Columns the model does not use are allowed (and ignored).

        Examples
        --------
        >>> import pandas as pd
        >>> schema = Schema.infer(pd.DataFrame({"wind": [1.5, None], "weather": ["sun", "rain"]}))
        >>> schema.json_schema()["properties"]
        {'wind': {'type': ['number', 'null']}, 'weather': {'type': 'string', 'enum': ['rain', 'sun']}}
        >>> schema.json_schema()["required"]
        ['wind', 'weather']
        """
        properties: dict[str, Any] = {}
        for column in self._columns:
            base = _JSON_TYPES[column.kind]
            prop: dict[str, Any] = {"type": [base, "null"] if column.nullable else base}
            if column.categories is not None:
                prop["enum"] = list(column.categories) + ([None] if column.nullable else [])
            if column.kind == "integer":
                prop.update(minimum=_INT64_MIN, maximum=_INT64_MAX)
            if column.kind == "datetime":
                # "format" applies to strings only, so a nullable column still takes null.
                prop["anyOf"] = [{"format": "date"}, {"format": "date-time"}]
                prop["description"] = "an ISO 8601 date (2014-03-01) or date-time (2014-03-01T10:00:00Z)"
            properties[column.name] = prop
        return {"type": "object", "properties": properties, "required": list(self.names)}

    def frame_from_records(self, records: Any) -> tuple[pd.DataFrame, list[str]]:
        """Check a list of JSON records and build the frame the model expects.

        Parameters
        ----------
        records
            A list of mappings from column name to value, as parsed from JSON.

        Returns
        -------
        frame : pandas.DataFrame
            The schema's columns, in order, with the training dtypes.
        ignored : list of str
            Columns present in the records that the model does not use.

        Raises
        ------
        SchemaError
            Listing every problem found (up to 20), each naming the record and column.
        """
        if not isinstance(records, list):
            raise SchemaError(
                f"expected a JSON array of records; got {json_type(records)}; "
                'fix: send {"records": [{"column": value, ...}, ...]}'
            )
        for row, record in enumerate(records):
            if not isinstance(record, dict):
                raise SchemaError(
                    f"expected every record to be a JSON object; record {row} is {json_type(record)}; "
                    'fix: send each record as {"column": value, ...}',
                    problems=[Problem(None, row, f"expected a JSON object; got {json_type(record)}")],
                )
        columns: dict[str, list[Any]] = {}
        missing: list[Problem] = []
        for name in self.names:
            try:
                columns[name] = [record[name] for record in records]
            except KeyError:
                row = next(i for i, record in enumerate(records) if name not in record)
                missing.append(Problem(name, row, f"missing required column {name!r}; fix: add it to every record"))
        # Records holding exactly the schema's columns (the usual case) need no search
        # for extras: every key is then one of them.
        width = len(self.names)
        extra = any(len(record) != width for record in records)
        ignored = sorted(set(chain.from_iterable(records)) - set(self.names)) if extra else []
        return self._build(columns, len(records), missing), ignored

    def frame_from_columns(self, columns: Mapping[str, list[Any]], *, n_rows: int) -> pd.DataFrame:
        """Check column lists of JSON values and build the frame the model expects.

        Parameters
        ----------
        columns
            Every schema column's values as a list of length ``n_rows``; others are ignored.
        n_rows
            The number of rows.

        Returns
        -------
        pandas.DataFrame
            The schema's columns, in order, with the training dtypes.

        Raises
        ------
        SchemaError
            Listing every problem found (up to 20), each naming the record and column.
        """
        problems = [
            Problem(name, None, f"missing required column {name!r}; fix: add it") for name in self.names if name not in columns
        ]
        problems += [
            Problem(name, None, f"expected {n_rows} values, one per row; got {len(columns[name])}; fix: give every column every row")
            for name in self.names if name in columns and len(columns[name]) != n_rows
        ]
        return self._build(columns, n_rows, problems)

    def _build(self, columns: Mapping[str, list[Any]], n_rows: int, problems: list[Problem]) -> pd.DataFrame:
        """Convert the columns that are present; raise with every problem found, missing columns first."""
        if n_rows == 0:
            raise SchemaError(
                "expected at least one record; got an empty batch; fix: send one or more records",
                problems=[Problem(None, None, "expected at least one record; got none")],
            )
        problems = list(problems)
        unusable = {problem.column for problem in problems}
        data: dict[str, Any] = {}
        for column in self._columns:
            if len(problems) >= MAX_PROBLEMS:
                raise _schema_error(problems, complete=False)
            if column.name in columns and column.name not in unusable:
                data[column.name], found = _convert(column, columns[column.name])
                problems.extend(found)
        if problems:
            raise _schema_error(problems)
        return pd.DataFrame(data, copy=False)


def _infer_column(name: str, series: pd.Series) -> Column:
    dtype = series.dtype
    nullable = bool(series.isna().any())
    if pd.api.types.is_bool_dtype(dtype):
        kind = "boolean"
    elif pd.api.types.is_integer_dtype(dtype):
        kind = "integer"
    elif pd.api.types.is_float_dtype(dtype):
        kind = "float"
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        kind = "datetime"
    elif isinstance(dtype, pd.CategoricalDtype):
        return Column(name, "string", str(dtype), nullable, tuple(str(c) for c in dtype.categories))
    elif pd.api.types.is_string_dtype(dtype) or dtype == object:
        values = series.dropna()
        odd = values[~values.map(lambda v: isinstance(v, str))]
        if len(odd):
            raise SchemaError(
                f"expected column {name!r} to hold only strings (or only numbers); "
                f"got {odd.iloc[0]!r} of type {type(odd.iloc[0]).__name__} among strings; "
                f"fix: convert it with X[{name!r}].astype(str) or to a numeric dtype"
            )
        unique = sorted(values.unique().tolist())
        categories = tuple(unique) if len(unique) <= MAX_CATEGORIES else None
        return Column(name, "string", str(dtype), nullable, categories)
    else:
        raise SchemaError(
            f"expected column {name!r} to be numeric, boolean, string, categorical or datetime; "
            f"got dtype {dtype}; fix: convert it to one of those before training"
        )
    return Column(name, kind, str(dtype), nullable)


def _convert(column: Column, values: list[Any]) -> tuple[Any, list[Problem]]:
    """Check one column's JSON values and convert them to an array; return problems found."""
    # One set of types per column tells, in one fast pass, whether the slow per-value
    # search for the offending record is needed at all.
    types = set(map(type, values))
    has_null = type(None) in types
    problems: list[Problem] = []
    if has_null and not column.nullable:
        row = values.index(None)
        problems.append(
            Problem(column.name, row, "expected a value; got null, and this column had no missing values in "
                    "training; fix: fill it in (the model was never shown a missing value here)")
        )
    kind = column.kind
    if kind in ("float", "integer"):
        allowed = {int, float, type(None)}
    elif kind == "boolean":
        allowed = {bool, type(None)}
    else:
        allowed = {str, type(None)}
    if not types <= allowed:
        row, bad = next((i, v) for i, v in enumerate(values) if type(v) not in allowed)
        problems.append(_type_problem(column, row, bad))
    if problems:
        return None, problems
    if kind == "float":
        try:
            array = np.array(values, dtype=np.float64)
        except OverflowError:  # an integer beyond any float, such as 10**400
            bad = next(i for i, v in enumerate(values) if type(v) is int and abs(v) > _FLOAT_MAX)
        else:
            # Convert first and search value by value only when something is off: null
            # becomes NaN legitimately, but a NaN or infinity that was sent never is.
            if np.isfinite(array).all():
                return array, []
            bad = next((i for i, v in enumerate(values) if v is not None and not math.isfinite(v)), None)
            if bad is None:
                return array, []
        return None, [Problem(column.name, bad, f"expected a finite number; got {json_text(values[bad])}; "
                              "fix: send a finite number (null for a missing value, if allowed)")]
    if kind == "integer":
        bad = next((i for i, v in enumerate(values) if v is not None and not _is_int64(v)), None)
        if bad is not None:
            return None, [_type_problem(column, bad, values[bad])]
        if has_null:
            return pd.array(values, dtype="Int64"), []
        return np.array(values, dtype=np.int64), []
    if kind == "boolean":
        return (pd.array(values, dtype="boolean") if has_null else np.array(values, dtype=bool)), []
    if kind == "datetime":
        # utc=True accepts a mix of offsets; times without one are taken as UTC.
        try:
            parsed = pd.to_datetime(values, format="ISO8601", utc=True)
        except (ValueError, TypeError):
            row = next((i for i, v in enumerate(values) if v is not None and not _is_iso_time(v)), 0)
            return None, [_type_problem(column, row, values[row])]
        trained = pd.api.types.pandas_dtype(column.dtype)
        return parsed.tz_convert(trained.tz if isinstance(trained, pd.DatetimeTZDtype) else None), []
    if column.categories is not None:
        unknown = set(values) - set(column.categories) - {None}
        if unknown:
            row = next(i for i, v in enumerate(values) if v in unknown)
            allowed_text = ", ".join(repr(c) for c in column.categories)
            return None, [
                Problem(column.name, row, f"expected one of the categories seen in training ({allowed_text}); "
                        f"got {json_text(values[row])}; fix: send a known category, or retrain with this one")
            ]
    if column.dtype.startswith("category"):
        return pd.Categorical(values, categories=list(column.categories or ())), []
    if column.dtype == "object":
        return np.array(values, dtype=object), []
    # The training dtype (pandas' "str" or "string"), built directly: cheaper than an
    # object array that pandas would convert when the frame is made.
    try:
        return pd.array(values, dtype=column.dtype), []
    except (TypeError, ValueError):  # a dtype name this pandas does not know (another version)
        return np.array(values, dtype=object), []


def _is_iso_time(value: str) -> bool:
    try:
        pd.to_datetime(value, format="ISO8601")
    except (ValueError, TypeError):
        return False
    return True


def _is_int64(value: int | float) -> bool:
    """Whether a JSON number is whole and fits the int64 the model was trained on."""
    if type(value) is float and not (math.isfinite(value) and value.is_integer()):
        return False
    return _INT64_MIN <= value <= _INT64_MAX


def _type_problem(column: Column, row: int, value: Any) -> Problem:
    return Problem(
        column.name,
        row,
        f"expected {_KIND_HINT[column.kind]}; got {json_text(value)} ({json_type(value)}); "
        f"fix: send {_KIND_HINT[column.kind]}",
    )


def json_text(value: Any, limit: int = 80) -> str:
    """Show a parsed JSON value as the sender wrote it (``true``, ``null``, ``{"a": 1}``), shortened.

    Examples
    --------
    >>> json_text(True), json_text(None), json_text({"a": [1, 2]})
    ('true', 'null', '{"a":[1,2]}')
    """
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # orjson would write null, hiding what was really sent
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type(value: Any) -> str:
    """Name a parsed JSON value's type the way the sender wrote it.

    Examples
    --------
    >>> json_type(None), json_type(True), json_type(1.5), json_type([1])
    ('null', 'a boolean', 'a number', 'an array')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _schema_error(problems: list[Problem], *, complete: bool = True) -> SchemaError:
    shown = problems[:MAX_PROBLEMS]
    lines = "\n".join(f"- {problem}" for problem in shown)
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    if not complete:
        count = f"at least {len(problems)} problems; the first {len(shown)} are listed"
    elif len(problems) > MAX_PROBLEMS:
        count += f"; the first {len(shown)} are listed"
    return SchemaError(f"the input does not match the model's schema ({count}):\n{lines}", problems=shown)
