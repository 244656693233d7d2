"""A prediction form for people: what it starts with, what it sends, and how it answers.

Everything here works from a service's ``/model`` answer (or a version's ``meta.json``,
which holds the same ``schema``, ``profile`` and ``target``), so a form built on it works
against any labkit service. :class:`labkit.widgets.PredictForm` is the ipywidgets view;
these functions are its logic, which a notebook can also call directly.

Examples
--------
>>> info = {"target": {"name": "rain_tomorrow", "kind": "boolean", "classes": [False, True]},
...         "schema": {"columns": [{"name": "wind", "kind": "float", "nullable": False},
...                                {"name": "weather", "kind": "string", "nullable": False,
...                                 "categories": ["rain", "sun"]}]},
...         "profile": None}
>>> start_values(info)
{'wind': 0.0, 'weather': 'rain'}
>>> record_from_values(info, {"wind": 3, "weather": "sun"})
{'wind': 3.0, 'weather': 'sun'}
>>> answer_text(info["target"], {"prediction": True, "proba_False": 0.28, "proba_True": 0.72})
'rain tomorrow: likely, 72%'
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping
from typing import Any

from labkit.errors import SchemaError

__all__ = ["answer_text", "likelihood", "record_from_values", "start_values"]

# How a probability is said in words: the first band it reaches from the top.
_LIKELIHOOD = ((0.9, "very likely"), (0.6, "likely"), (0.4, "as likely as not"), (0.1, "unlikely"), (0.0, "very unlikely"))


def start_values(info: Mapping[str, Any]) -> dict[str, Any]:
    """The value each input starts at: what was typical in training.

    Parameters
    ----------
    info
        A service's ``/model`` answer (or a version's metadata): its ``schema`` and,
        when recorded, its ``profile``.

    Returns
    -------
    dict
        Column name to value: a number at its training median (rounded for a whole
        number), a category or boolean at its most frequent value, a date at the last
        day seen. Without a profile: 0, the first category, false, or empty text.

    Examples
    --------
    >>> import pandas as pd
    >>> from labkit.profile import training_profile
    >>> from labkit.schema import Schema
    >>> X = pd.DataFrame({"wind": [1.0, 2.0, 7.0], "weather": ["sun", "rain", "rain"]})
    >>> start_values({"schema": Schema.infer(X).to_dict(), "profile": training_profile(X)})
    {'wind': 2.0, 'weather': 'rain'}
    """
    profile = info.get("profile") or {}
    values = {}
    for column in info["schema"]["columns"]:
        entry = (profile.get("columns") or {}).get(column["name"]) or {}
        values[column["name"]] = _start_value(column, entry)
    return values


def record_from_values(info: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Build the record to send from a form's values: one JSON value per input column.

    Parameters
    ----------
    info
        A service's ``/model`` answer (or a version's metadata), for its ``schema``.
    values
        Column name to the value a control holds: a number, a bool, a string, a date.

    Returns
    -------
    dict
        The record, in the schema's column order: numbers as float (int for whole-number
        columns), dates as ISO 8601 text, and a missing value (None, NaN, empty date) as
        None, which the service reads as null.

    Raises
    ------
    SchemaError
        A column has no value, or a value cannot be read as its column's kind.

    Examples
    --------
    >>> import datetime as dt
    >>> info = {"schema": {"columns": [{"name": "month", "kind": "integer"}, {"name": "day", "kind": "datetime"},
    ...                                {"name": "gust", "kind": "float"}]}}
    >>> record_from_values(info, {"month": 3.0, "day": dt.date(2014, 3, 1), "gust": float("nan")})
    {'month': 3, 'day': '2014-03-01', 'gust': None}
    """
    record = {}
    for column in info["schema"]["columns"]:
        name = column["name"]
        if name not in values:
            raise SchemaError(
                f"expected a value for every input column; got none for {name!r} (values for {sorted(values)!r}); "
                f"fix: give {name!r} a value"
            )
        try:
            record[name] = _json_value(column["kind"], values[name])
        except (TypeError, ValueError, OverflowError):
            raise SchemaError(
                f"expected {column['kind']} for {name!r}; got {values[name]!r}; fix: enter a {column['kind']} value"
            ) from None
    return record


def likelihood(probability: float) -> str:
    """Say a probability in words, from ``"very unlikely"`` to ``"very likely"``.

    Examples
    --------
    >>> [likelihood(p) for p in (0.05, 0.3, 0.5, 0.72, 0.95)]
    ['very unlikely', 'unlikely', 'as likely as not', 'likely', 'very likely']
    """
    return next(words for floor, words in _LIKELIHOOD if probability >= floor)


def answer_text(target: Mapping[str, Any] | None, row: Mapping[str, Any]) -> str:
    """Say one answer of the service in plain words, with how sure the model is.

    Parameters
    ----------
    target
        The ``target`` of a ``/model`` answer: ``name``, ``kind`` and ``classes``; ``None``
        when none was recorded.
    row
        One row of :meth:`labkit.ModelClient.predict`: ``prediction`` and, for a
        classifier, a ``proba_<class>`` per class.

    Returns
    -------
    str
        For a yes-or-no target, how likely "yes" is, in words and as a percentage
        (``"rain tomorrow: likely, 72%"``); for other classes, the most likely one and its
        probability (``"sky: most likely wet, 64%"``); for a number, the estimate
        (``"temp max tomorrow: about 14.2"``).

    Examples
    --------
    >>> answer_text({"name": "sky", "kind": "object", "classes": ["dry", "wet"]},
    ...             {"prediction": "wet", "proba_dry": 0.36, "proba_wet": 0.64})
    'sky: most likely wet, 64%'
    >>> answer_text({"name": "temp_max_tomorrow", "kind": "float", "classes": None}, {"prediction": 14.2345})
    'temp max tomorrow: about 14.2'
    """
    what = str(target["name"]).replace("_", " ") if target else "prediction"
    # The client names probability columns proba_<class>, with the class as text.
    probabilities = {str(key)[len("proba_"):]: float(value) for key, value in row.items() if str(key).startswith("proba_")}
    prediction = row["prediction"]
    if target and target.get("kind") == "boolean" and "True" in probabilities:
        chance = probabilities["True"]
        return f"{what}: {likelihood(chance)}, {_percent(chance)}"
    if probabilities:
        chance = probabilities.get(str(prediction))
        sure = f", {_percent(chance)}" if chance is not None else ""
        return f"{what}: most likely {prediction}{sure}"
    if isinstance(prediction, numbers.Real) and not isinstance(prediction, bool):
        return f"{what}: about {_rounded(float(prediction))}"
    return f"{what}: {prediction}"


def _start_value(column: Mapping[str, Any], entry: Mapping[str, Any]) -> Any:
    kind = column["kind"]
    seen = [item["value"] for item in entry.get("counts", []) if item["count"] > 0]
    if kind in ("float", "integer"):
        median = (entry.get("quantiles") or {}).get("50%")
        median = 0.0 if median is None else median
        return int(round(median)) if kind == "integer" else float(median)
    if kind == "boolean":
        return bool(seen[0]) if seen else False
    if kind == "datetime":
        return entry.get("max") or ""
    categories = column.get("categories")
    if categories:
        return next((value for value in seen if value in categories), categories[0])
    return seen[0] if seen else ""


def _json_value(kind: str, value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "float":
        return float(value)
    if kind == "integer":
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if kind == "datetime":
        if isinstance(value, (dt.date, dt.datetime)):
            return value.isoformat()
        return str(value).strip() or None
    return str(value)


def _percent(probability: float) -> str:
    # Rounding 99.6% to "100%" would claim a certainty the model does not have.
    if probability >= 0.995:
        return "over 99%"
    if probability < 0.005:
        return "under 1%"
    return f"{round(probability * 100)}%"


def _rounded(value: float) -> str:
    """Three significant digits, no exponent: how people write an estimate."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    digits = 2 - math.floor(math.log10(abs(value)))
    return f"{value:.{digits}f}"
