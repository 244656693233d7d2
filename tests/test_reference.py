"""Tests for labkit.reference: the reference sample's size, seed and lossless round trip."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from labkit.reference import MAX_ROWS, read_reference, reference_sample, write_reference


def round_trip(X: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    buffer = io.BytesIO()
    description = write_reference(X, buffer)
    return read_reference(buffer.getvalue(), description), description


def test_a_small_frame_is_kept_whole():
    X = pd.DataFrame({"n": np.arange(MAX_ROWS)})

    assert reference_sample(X) is X


def test_a_large_frame_is_sampled_with_a_fixed_seed_in_its_original_order():
    X = pd.DataFrame({"n": np.arange(MAX_ROWS + 1000)})

    first, second = reference_sample(X), reference_sample(X)

    assert len(first) == MAX_ROWS
    assert first["n"].is_unique and first["n"].is_monotonic_increasing
    assert first.equals(second)
    # A sample, not the head: some of the last rows are in it.
    assert first["n"].max() > MAX_ROWS


def test_every_column_kind_comes_back_with_its_dtype_and_missing_values():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "float": [1.5, np.nan, np.inf, -0.0],
            "int": np.array([1, 2, 3, 4], dtype=np.int64),
            "bool": [True, False, True, True],
            "text": ["sun", None, "très, \"long\"\nline", ""],
            "category": pd.Categorical(["a", "b", None, "a"]),
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "time": pd.to_datetime(["2013-01-01", "2013-01-02", None, "2013-01-04"]),
            "utc": pd.to_datetime(["2013-01-01", "2013-01-02", "2013-01-03", None]).tz_localize("Europe/Paris"),
            "random": rng.normal(size=4),
        }
    )

    back, description = round_trip(X)

    assert [c["dtype"] for c in description["columns"]] == [str(X[c].dtype) for c in X.columns]
    pd.testing.assert_frame_equal(back, X)
    # An empty string and a missing value stay apart.
    assert back["text"].iloc[3] == "" and pd.isna(back["text"].iloc[1])


def test_the_description_records_what_was_kept():
    X = pd.DataFrame({"n": np.arange(MAX_ROWS + 5)})

    _, description = round_trip(X)

    assert (description["rows"], description["sampled_from"], description["seed"]) == (MAX_ROWS, MAX_ROWS + 5, 0)
