"""The reference sample: the training rows a version keeps, so drift can be judged later.

A drift report compares production data with what the model learned from. The registry
keeps that comparison point with every version, so the training data is not needed
later: all of the training frame up to :data:`MAX_ROWS` rows, and above that a seeded
random sample of :data:`MAX_ROWS` rows (in their original order), the same sample on
every run. 50,000 rows pin every drift score Evidently's tests compute to within a few
thousandths of the full frame's, at a few megabytes per version.

The file is a NumPy ``.npz`` archive, read with ``allow_pickle=False``: like the model's
skops file, loading it never runs code from the file. Each column is one plain array
(strings as UTF-8 bytes with offsets, since a fixed-width string array would be as wide
as the longest value on every row), and the dtypes are recorded beside it so the frame
comes back as it went in.

Examples
--------
>>> import io
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"temp": rng.normal(size=5), "sky": ["sun", "rain", None, "sun", "fog"]})
>>> buffer = io.BytesIO()
>>> description = write_reference(X, buffer)
>>> description["rows"], description["sampled_from"]
(5, 5)
>>> read_reference(buffer.getvalue(), description).equals(X)
True
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import pandas as pd

__all__ = ["MAX_ROWS", "SEED", "read_reference", "reference_sample", "write_reference"]

MAX_ROWS = 50_000
# Fixed, so registering the same frame twice keeps the same rows.
SEED = 0


def reference_sample(X: pd.DataFrame) -> pd.DataFrame:
    """All of ``X`` up to :data:`MAX_ROWS` rows, else a seeded sample of that many, in order.

    Examples
    --------
    >>> import pandas as pd
    >>> len(reference_sample(pd.DataFrame({"n": range(60_000)})))
    50000
    """
    if len(X) <= MAX_ROWS:
        return X
    rows = np.random.default_rng(SEED).choice(len(X), size=MAX_ROWS, replace=False)
    # Sorted, so a time-ordered frame stays in time order.
    return X.iloc[np.sort(rows)]


def write_reference(X: pd.DataFrame, file: str | IO[bytes]) -> dict[str, Any]:
    """Write the reference sample of ``X`` to ``file``; return its description for ``meta.json``.

    Returns
    -------
    dict
        ``rows`` (kept), ``sampled_from`` (rows of ``X``), ``seed`` and ``columns``
        (each column's name and dtype), JSON-ready.

    Examples
    --------
    >>> import io
    >>> import pandas as pd
    >>> write_reference(pd.DataFrame({"n": range(60_000)}), io.BytesIO())["rows"]
    50000
    """
    sample = reference_sample(X)
    arrays: dict[str, np.ndarray] = {}
    columns = []
    for position, name in enumerate(sample.columns):
        series = sample[name]
        columns.append({"name": str(name), "dtype": str(series.dtype)})
        arrays.update(_encode(str(position), series))
    np.savez(file, **arrays)
    return {"rows": int(len(sample)), "sampled_from": int(len(X)), "seed": SEED, "columns": columns}


def read_reference(data: bytes, description: Mapping[str, Any]) -> pd.DataFrame:
    """Rebuild the frame :func:`write_reference` wrote, from the file's bytes and its description.

    The index is a fresh ``RangeIndex``: the sample's rows, not their labels, are kept.

    Examples
    --------
    >>> import io
    >>> import pandas as pd
    >>> buffer = io.BytesIO()
    >>> description = write_reference(pd.DataFrame({"sky": ["sun", None]}), buffer)
    >>> read_reference(buffer.getvalue(), description)["sky"].tolist()
    ['sun', nan]
    """
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        columns = {
            column["name"]: _decode(archive, str(position), column["dtype"])
            for position, column in enumerate(description["columns"])
        }
    return pd.DataFrame(columns)


def _encode(key: str, series: pd.Series) -> dict[str, np.ndarray]:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return {key: series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()}
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return {key: series.to_numpy()}
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return {key: series.to_numpy()}
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        # pandas' nullable Int64, Float64 and boolean: floats with NaN for <NA>, cast back on reading.
        return {key: series.to_numpy(dtype=float, na_value=np.nan)}
    missing = series.isna().to_numpy()
    encoded = [b"" if gone else str(value).encode("utf-8") for value, gone in zip(series.tolist(), missing)]
    offsets = np.cumsum([0] + [len(value) for value in encoded], dtype=np.int64)
    return {
        key: np.frombuffer(b"".join(encoded), dtype=np.uint8),
        f"{key}.offsets": offsets,
        f"{key}.missing": missing,
    }


def _decode(archive: Any, key: str, dtype: str) -> pd.Series:
    if f"{key}.offsets" not in archive:
        values = archive[key]
        if dtype.startswith("datetime64[") and "," in dtype:  # e.g. "datetime64[ns, UTC]"
            timezone = dtype.split(",", 1)[1].rstrip("]").strip()
            return pd.Series(values).dt.tz_localize("UTC").dt.tz_convert(timezone)
        return pd.Series(values).astype(dtype)
    text = archive[key].tobytes()
    offsets, missing = archive[f"{key}.offsets"], archive[f"{key}.missing"]
    values = [None if gone else text[start:end].decode("utf-8") for start, end, gone in zip(offsets[:-1], offsets[1:], missing)]
    series = pd.Series(values, dtype=object)
    return series.astype(dtype) if dtype in ("category", "string", "str") else series
