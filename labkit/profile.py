"""The training profile: what each input column looked like in the data a model learned from.

The registry records a profile with every version, next to its schema. The schema says
what a request *may* hold (and the service refuses anything else); the profile says what
the model has *seen*: the range and spread of each number, how often each category came
up, how many values were missing. A value can pass the schema and still lie where the
model never learned anything, such as a temperature of 45 for a model trained on a year
that never went above 34. :func:`unfamiliar_values` finds such values, so that an answer
about them can come with a warning instead of false confidence.

A profile is plain JSON (a missing statistic is ``None``, never NaN), so it travels in
``meta.json`` and in the service's ``/model`` answer. Versions registered before profiles
existed have none: every function here takes ``None`` for "unknown" and then warns of
nothing, because it knows nothing.

Examples
--------
>>> import pandas as pd
>>> X = pd.DataFrame({"temp": [2.0, 8.0, 11.0, None], "sky": ["sun", "rain", "rain", "sun"]})
>>> profile = training_profile(X)
>>> seen_in_training(profile, "temp"), seen_in_training(profile, "sky")
('2 to 11', 'rain, sun')
>>> unfamiliar_values(profile, {"temp": 45.0, "sky": "rain"})
{'temp': 'the model has never seen a temp of 45 (in training: 2 to 11); trust this answer less'}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from labkit.schema import MAX_CATEGORIES

__all__ = ["QUANTILES", "seen_in_training", "training_profile", "unfamiliar_values"]

# The quantiles recorded for every number: the middle half (25% to 75%), most values
# (5% to 95%), nearly all (1% to 99%), and the median.
QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def training_profile(X: pd.DataFrame) -> dict[str, Any]:
    """Describe each column of a training frame: its range and spread, or its values' counts.

    Parameters
    ----------
    X
        The training frame, one column per model input.

    Returns
    -------
    dict
        ``{"rows": n, "columns": {name: entry}}``, JSON-ready. Every entry has
        ``missing``, the count of missing values, and by the column's type:

        - numbers: ``min``, ``max``, ``mean``, ``std`` and ``quantiles`` (keys ``"1%"``
          to ``"99%"``, see :data:`QUANTILES`), over the finite values; ``None`` when
          there are none (``std`` needs two);
        - booleans, strings and categories: ``distinct``, the number of different values,
          and ``counts``, a list of ``{"value": v, "count": n}``, most frequent first
          (at most the 100 most frequent: above that a column is free text, not
          categories);
        - dates and times: ``min`` and ``max``, in ISO 8601.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(3.0, 1.0, size=200), "rain": rng.random(200) < 0.3})
    >>> profile = training_profile(X)
    >>> wind = profile["columns"]["wind"]
    >>> sorted(wind)
    ['max', 'mean', 'min', 'missing', 'quantiles', 'std']
    >>> round(wind["quantiles"]["50%"], 2), wind["missing"]
    (3.05, 0)
    >>> profile["columns"]["rain"]["counts"]
    [{'value': False, 'count': 147}, {'value': True, 'count': 53}]
    """
    return {"rows": int(len(X)), "columns": {str(name): _profile_column(X[name]) for name in X.columns}}


def seen_in_training(profile: Mapping[str, Any] | None, name: str) -> str | None:
    """Say in a few words what a column held in training: ``"-1.1 to 34.4"``, ``"rain, sun"``.

    Parameters
    ----------
    profile
        A profile from :func:`training_profile`, or ``None`` when it was not recorded.
    name
        The column.

    Returns
    -------
    str or None
        The range of a number or a time, or a category's values (most frequent first,
        ending in ``...`` when there were too many to record); ``None`` when unknown.

    Examples
    --------
    >>> import pandas as pd
    >>> profile = training_profile(pd.DataFrame({"wind": [0.5, 9.25], "sky": ["sun", "sun"]}))
    >>> seen_in_training(profile, "wind"), seen_in_training(profile, "sky"), seen_in_training(None, "wind")
    ('0.5 to 9.25', 'sun', None)
    """
    entry = _entry(profile, name)
    if entry is None:
        return None
    if "counts" in entry:
        values = [_value_text(item["value"]) for item in entry["counts"] if item["count"] > 0]
        more = ", ..." if entry["distinct"] > len(entry["counts"]) else ""
        return ", ".join(values) + more if values else None
    if entry.get("min") is None:
        return None
    if "quantiles" not in entry:
        return f"{entry['min']} to {entry['max']}"
    low, high = _rounded_inward(entry["min"], up=True), _rounded_inward(entry["max"], up=False)
    if float(low.replace(",", "")) > float(high.replace(",", "")):
        low, high = _number_text(entry["min"]), _number_text(entry["max"])  # one value, too close to round
    return f"{low} to {high}"


def unfamiliar_values(profile: Mapping[str, Any] | None, record: Mapping[str, Any]) -> dict[str, str]:
    """Find the values of one record that the model never saw in training.

    A number outside the training range, a category (or a boolean) that never came up,
    a missing value where none was missing, a time outside the training period: the
    model may still answer, but what it answers there was never learned from data.

    Parameters
    ----------
    profile
        The version's profile, or ``None`` when it was not recorded (then nothing is
        known to be unfamiliar, and nothing is reported).
    record
        One record, as sent to the service: column name to JSON value.

    Returns
    -------
    dict
        For each unfamiliar value, its column and a sentence saying why, for people.
        Columns the profile does not know and values of the wrong type (the service
        refuses those itself) are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"temp_max": [-1.1, 12.0, 34.4], "weather": ["sun", "rain", "fog"]})
    >>> profile = training_profile(X)
    >>> for column, why in unfamiliar_values(profile, {"temp_max": 45, "weather": "hail"}).items():
    ...     print(f"{column}: {why}")
    temp_max: the model has never seen a temp_max of 45 (in training: -1.1 to 34.4); trust this answer less
    weather: the model has never seen a weather of hail (in training: fog, rain, sun); trust this answer less
    >>> unfamiliar_values(profile, {"temp_max": 20.0, "weather": "sun"})
    {}
    """
    found: dict[str, str] = {}
    for name, value in record.items():
        value = _plain(value)
        entry = _entry(profile, name)
        if entry is None:
            continue
        if _is_missing(value):
            if entry["missing"] == 0:
                found[name] = f"the model has never seen a missing {name}; trust this answer less"
            continue
        if "counts" in entry:
            unseen = _unseen_value(entry, value)
        elif "quantiles" in entry:
            unseen = _unseen_number(entry, value)
        else:
            unseen = _unseen_time(entry, value)
        if unseen:
            seen = seen_in_training(profile, name)
            found[name] = (
                f"the model has never seen a {name} of {_value_text(value)} (in training: {seen}); "
                "trust this answer less"
            )
    return found


def _profile_column(series: pd.Series) -> dict[str, Any]:
    missing = int(series.isna().sum())
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        present = series.dropna()
        low, high = (present.min().isoformat(), present.max().isoformat()) if len(present) else (None, None)
        return {"missing": missing, "min": low, "max": high}
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return {"missing": missing, **_counts(series)}
    values = series.to_numpy(dtype=float, na_value=np.nan)
    # Infinities are left out with the missing values: no statistic survives one, and the
    # service never accepts one in a request.
    values = values[np.isfinite(values)]
    if len(values) == 0:
        quantiles = dict.fromkeys(_quantile_keys())
        return {"missing": missing, "min": None, "max": None, "mean": None, "std": None, "quantiles": quantiles}
    return {
        "missing": missing,
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        # ddof=1, as pandas' describe(): the rows are a sample, and this estimates the spread
        # of what they were sampled from.
        "std": float(values.std(ddof=1)) if len(values) > 1 else None,
        "quantiles": dict(zip(_quantile_keys(), map(float, np.quantile(values, QUANTILES)))),
    }


def _counts(series: pd.Series) -> dict[str, Any]:
    # value_counts keeps a categorical's declared categories with a count of 0: worth
    # recording, since the schema accepts them but the model never saw one.
    counts = [(_plain(value), int(count)) for value, count in series.value_counts(dropna=True).items()]
    counts.sort(key=lambda item: (-item[1], str(item[0])))
    return {
        "distinct": sum(1 for _, count in counts if count > 0),
        "counts": [{"value": value, "count": count} for value, count in counts[:MAX_CATEGORIES]],
    }


def _quantile_keys() -> list[str]:
    return [f"{q * 100:g}%" for q in QUANTILES]


def _entry(profile: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    if not profile:
        return None
    return profile.get("columns", {}).get(name)


def _unseen_value(entry: Mapping[str, Any], value: Any) -> bool:
    if entry["distinct"] > len(entry["counts"]):
        return False  # free text: only the most frequent values were kept, so any may be known
    seen = [item["value"] for item in entry["counts"] if item["count"] > 0]
    if not any(type(value) is type(known) for known in seen):
        return False  # the wrong type (1 for a boolean, say), which the service refuses itself
    return value not in seen


def _unseen_number(entry: Mapping[str, Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or entry["min"] is None:
        return False
    return not entry["min"] <= value <= entry["max"]


def _unseen_time(entry: Mapping[str, Any], value: Any) -> bool:
    if not isinstance(value, str) or entry.get("min") is None:
        return False  # a time travels as ISO 8601 text; anything else the service refuses itself
    try:
        moment, low, high = (_utc(v) for v in (value, entry["min"], entry["max"]))
    except (ValueError, TypeError):
        return False
    return not low <= moment <= high


def _utc(value: Any) -> pd.Timestamp:
    # As the service reads times: one without an offset is taken as UTC.
    moment = pd.Timestamp(value)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as the Python value JSON writes."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, np.number)):
        return _number_text(float(value))
    return str(value)


def _rounded_inward(value: float, *, up: bool) -> str:
    """Three significant digits, rounded towards the inside of the range it bounds.

    Rounded so, every number shown as inside the range really is: a person who types the
    shown minimum is not then told that the model never saw it.
    """
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    # round() first, so that 54.1 * 10 = 541.0000000000001 is not taken up to 542.
    scaled = round(value * 10**decimals, 6)
    whole = math.ceil(scaled) if up else math.floor(scaled)
    text = f"{whole / 10**decimals:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number_text(value: float) -> str:
    """A number as people write it: ``45``, ``-1.1``, ``0.00125``; no exponent below a million."""
    if abs(value) >= 1e6:
        return f"{value:,.0f}"
    return f"{value:.6g}"
