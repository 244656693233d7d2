"""Tests for labkit.monitoring.drift: Evidently's choice of test per column, edge cases, references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import spatial, stats

from labkit.errors import DataError, IntegrityError
from labkit.monitoring import DriftReport, drift_report
from labkit.registry import Registry

TOLERANCE = 1e-12


def numbers(n: int, n_unique: int, *, seed: int = 0, shift: int = 0) -> np.ndarray:
    """``n`` floats taking exactly ``n_unique`` values (each at least once), shifted by ``shift``."""
    rng = np.random.default_rng(seed)
    values = np.concatenate((np.arange(n_unique), rng.integers(0, n_unique, size=n - n_unique)))
    return (values + shift).astype(float)


def only_row(report: DriftReport) -> dict:
    (row,) = report.table.to_dict("records")
    return row


@pytest.mark.parametrize(
    ("reference_rows", "n_unique", "expected"),
    [
        (1000, 6, "ks"),
        (1000, 5, "chisquare"),
        (1000, 2, "z"),
        (1001, 6, "wasserstein"),
        (1001, 5, "jensenshannon"),
        (1001, 2, "jensenshannon"),
    ],
)
def test_the_test_follows_reference_rows_and_distinct_values(reference_rows, n_unique, expected):
    reference = pd.DataFrame({"x": numbers(reference_rows, n_unique)})
    current = pd.DataFrame({"x": numbers(300, n_unique, seed=1)})

    assert only_row(drift_report(reference, current))["test"] == expected


def test_distinct_values_are_counted_on_both_sides_together():
    # 5 values in reference, a 6th only in current: more than 5 together, so Kolmogorov-Smirnov.
    reference = pd.DataFrame({"x": numbers(500, 5)})
    current = pd.DataFrame({"x": numbers(300, 5, seed=1, shift=1)})

    assert only_row(drift_report(reference, current))["test"] == "ks"


def test_reference_rows_are_counted_without_missing_values():
    values = numbers(1001, 50)
    values[0] = np.nan
    reference = pd.DataFrame({"x": values})

    assert only_row(drift_report(reference, pd.DataFrame({"x": numbers(300, 50, seed=1)})))["test"] == "ks"


def test_each_score_is_scipys_on_the_values_left_after_dropping_missing_ones():
    rng = np.random.default_rng(0)
    small = rng.normal(size=800)
    large = rng.normal(size=3000)
    shifted = rng.normal(0.2, 1.1, size=600)
    with_gaps = np.concatenate((shifted, [np.nan, np.inf, -np.inf]))

    ks_row = only_row(drift_report(pd.DataFrame({"x": small}), pd.DataFrame({"x": with_gaps})))
    wasserstein_row = only_row(drift_report(pd.DataFrame({"x": large}), pd.DataFrame({"x": with_gaps})))

    assert ks_row["score"] == pytest.approx(stats.ks_2samp(small, shifted).pvalue, rel=TOLERANCE)
    expected = stats.wasserstein_distance(large, shifted) / np.std(large)
    assert wasserstein_row["score"] == pytest.approx(expected, rel=TOLERANCE)
    assert (wasserstein_row["threshold"], wasserstein_row["drifted"]) == (0.1, expected >= 0.1)


def test_categories_get_chisquare_on_a_small_reference_and_jensen_shannon_on_a_large_one():
    reference = pd.Series(["sun"] * 500 + ["rain"] * 300 + ["fog"] * 200)
    current = pd.Series(["sun"] * 40 + ["rain"] * 35 + ["fog"] * 25)

    small = only_row(drift_report(reference.to_frame("sky"), current.to_frame("sky")))
    large = only_row(drift_report(pd.concat([reference] * 2).to_frame("sky"), current.to_frame("sky")))

    assert (small["kind"], small["test"]) == ("categorical", "chisquare")
    # Sorted values: fog, rain, sun.
    assert small["score"] == pytest.approx(stats.chisquare([25, 35, 40], [20.0, 30.0, 50.0]).pvalue, rel=TOLERANCE)
    assert large["test"] == "jensenshannon"
    expected = spatial.distance.jensenshannon([0.2, 0.3, 0.5], [0.25, 0.35, 0.4])
    assert large["score"] == pytest.approx(expected, rel=TOLERANCE)


def test_two_categories_get_the_z_test():
    reference = pd.DataFrame({"rain": [True] * 40 + [False] * 60})
    current = pd.DataFrame({"rain": [True] * 55 + [False] * 45})
    pooled = 95 / 200
    z = (0.4 - 0.55) / np.sqrt(pooled * (1 - pooled) * (2 / 100))

    row = only_row(drift_report(reference, current))

    assert (row["kind"], row["test"]) == ("categorical", "z")
    # False sorts first and counts as 0: p1 and p2 are the shares of True.
    assert row["score"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=TOLERANCE)
    assert row["drifted"] == (row["score"] < 0.05)


def test_a_category_only_in_current_is_drift():
    reference = pd.DataFrame({"sky": ["sun", "rain", "fog"] * 100})
    current = pd.DataFrame({"sky": ["sun", "rain", "fog"] * 30 + ["snow"]})

    row = only_row(drift_report(reference, current))

    assert (row["test"], row["score"], row["drifted"]) == ("chisquare", 0.0, True)


def test_a_constant_column_the_same_on_both_sides_is_no_drift():
    small = only_row(drift_report(pd.DataFrame({"x": [3.0] * 100}), pd.DataFrame({"x": [3.0] * 10})))
    large = only_row(drift_report(pd.DataFrame({"x": [3.0] * 2000}), pd.DataFrame({"x": [3.0] * 10})))

    assert (small["test"], small["score"], small["drifted"]) == ("z", 1.0, False)
    assert (large["test"], large["score"], large["drifted"]) == ("jensenshannon", 0.0, False)


def test_a_constant_reference_against_spread_values_is_scored_with_the_std_floor():
    reference = pd.DataFrame({"x": [3.0] * 2000})
    current = pd.DataFrame({"x": np.linspace(3.0, 4.0, 11)})

    row = only_row(drift_report(reference, current))

    assert row["test"] == "wasserstein"
    assert row["score"] == pytest.approx(stats.wasserstein_distance([3.0] * 2000, current["x"]) / 0.001, rel=TOLERANCE)


def test_a_column_without_values_on_one_side_is_named():
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 3.0]})
    current = pd.DataFrame({"x": [1.0, 2.0], "y": [np.nan, np.nan]})

    with pytest.raises(DataError, match="expected column 'y' to hold at least one value in the current data; got 2 rows"):
        drift_report(reference, current)


def test_kinds_follow_evidentlys_inference_from_the_current_frame():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "few_ints": rng.integers(0, 10, size=400),
            "many_ints": rng.integers(0, 11, size=400),
            "flag": rng.random(400) > 0.5,
            "sky": rng.choice(["sun", "rain"], size=400),
            "comment": [f"note {i}" for i in range(400)],
            "day": pd.date_range("2013-01-01", periods=400),
        }
    )
    frame.loc[:10, "many_ints"] = 10  # make sure the 11th value occurs

    report = drift_report(frame, frame)

    assert dict(zip(report.table["column"], report.table["kind"])) == {
        "few_ints": "categorical", "many_ints": "numerical", "flag": "categorical", "sky": "categorical"
    }
    assert report.skipped == {
        "comment": "text columns are not tested for drift", "day": "datetime columns are not tested for drift"
    }


def test_the_dataset_drifts_when_at_least_half_the_columns_do():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({name: rng.normal(size=2000) for name in "abcd"})
    current = reference.copy()
    current["a"] += 1.0

    one = drift_report(reference, current)
    current["b"] += 1.0
    two = drift_report(reference, current)

    assert (one.share_drifted, one.dataset_drift) == (0.25, False)
    assert (two.share_drifted, two.dataset_drift) == (0.5, True)
    assert list(two.table.columns) == ["column", "kind", "test", "score", "threshold", "drifted"]


def test_columns_and_method_choose_what_is_tested_and_how():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})
    current = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300), "prediction": 1})

    report = drift_report(reference, current, columns=["b"], method="psi")

    assert report.table[["column", "test", "threshold"]].values.tolist() == [["b", "psi", 0.1]]
    # Many distinct numbers: Sturges' bins over both sides together, as Evidently bins them.
    edges = np.histogram_bin_edges(np.concatenate((reference["b"], current["b"])), bins="sturges")
    ref_shares, cur_shares = np.histogram(reference["b"], edges)[0] / 500, np.histogram(current["b"], edges)[0] / 300
    ref_shares[ref_shares == 0], cur_shares[cur_shares == 0] = 0.0001, 0.0001
    expected = np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares))
    assert report.table["score"].iloc[0] == pytest.approx(expected, rel=TOLERANCE)


def test_a_method_that_does_not_fit_a_column_is_refused():
    frame = pd.DataFrame({"sky": ["sun", "rain"] * 10})

    with pytest.raises(DataError, match="expected a numerical column for method 'ks'; got categorical column 'sky'"):
        drift_report(frame, frame, method="ks")
    with pytest.raises(DataError, match="expected method None or one of"):
        drift_report(frame, frame, method="kl")


def test_a_column_missing_from_current_is_named():
    with pytest.raises(DataError, match=r"expected the current frame to have columns \['b'\]; got columns \['a'\]"):
        drift_report(pd.DataFrame({"a": [1.0], "b": [2.0]}), pd.DataFrame({"a": [1.0]}))


def make_version(tmp_path, X: pd.DataFrame):
    from sklearn.linear_model import LinearRegression

    y = X["wind"] * 2
    registry = Registry(tmp_path / "registry")
    return registry.register(LinearRegression().fit(X, y), name="wind", X=X, y=y)


def test_a_registered_version_is_a_reference(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"wind": rng.normal(3, 1, size=1500), "temp": rng.normal(10, 4, size=1500)})
    version = make_version(tmp_path, X)
    current = pd.DataFrame({"wind": rng.normal(5, 1, size=400), "temp": rng.normal(10, 4, size=400)})

    from_version = drift_report(version, current).table
    from_frame = drift_report(X, current).table

    pd.testing.assert_frame_equal(from_version, from_frame)
    assert from_version["drifted"].tolist() == [True, False]


def test_a_tampered_reference_sample_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"wind": rng.normal(3, 1, size=100), "temp": rng.normal(10, 4, size=100)})
    version = make_version(tmp_path, X)
    path = version.directory / "reference.npz"
    with np.load(path, allow_pickle=False) as archive:
        arrays = dict(archive)
    arrays["0"] = arrays["0"] + 2.0  # a reference moved to where production is: drift hidden
    np.savez(path, **arrays)

    with pytest.raises(IntegrityError, match="reference.npz to have sha256"):
        drift_report(version, X)


def test_column_names_that_are_not_strings_are_kept_as_they_are():
    rng = np.random.default_rng(0)
    reference, current = pd.DataFrame({0: rng.normal(size=100)}), pd.DataFrame({0: rng.normal(size=100)})

    assert drift_report(reference, current).table["column"].tolist() == [0]


def test_no_column_to_test_is_refused():
    frame = pd.DataFrame({"x": [1.0, 2.0]})

    with pytest.raises(DataError, match=r"expected at least one column to test; got columns=\[\]"):
        drift_report(frame, frame, columns=[])
    with pytest.raises(DataError, match="expected at least one numerical or categorical column to test"):
        drift_report(pd.DataFrame({"day": pd.date_range("2013-01-01", periods=3)}), pd.DataFrame({"day": pd.date_range("2014-01-01", periods=3)}))


def test_a_category_column_without_values_in_the_reference_is_named():
    reference = pd.DataFrame({"sky": pd.Series([None, None], dtype=object)})
    current = pd.DataFrame({"sky": ["sun", "rain"] * 5})

    with pytest.raises(DataError, match="expected column 'sky' to hold at least one value in the reference data; got 2 rows"):
        drift_report(reference, current)


def test_a_short_window_of_categories_is_tested_as_categories_when_the_reference_shows_them():
    reference = pd.DataFrame({"sky": ["sun", "rain", "fog", "snow"] * 50})
    week = pd.DataFrame({"sky": ["sun", "rain", "fog", "snow", "sun", "rain", "sun"]})  # 4 values in 7 rows
    comments = pd.DataFrame({"sky": [f"note {i}" for i in range(200)], "x": np.arange(200.0)})

    row = only_row(drift_report(reference, week))

    assert (row["kind"], row["test"]) == ("categorical", "chisquare")
    # Text on both sides stays text.
    assert drift_report(comments, comments.head(7)).skipped == {"sky": "text columns are not tested for drift"}


@pytest.mark.parametrize("size", [300, 3000])
def test_strings_held_as_str_or_as_objects_get_the_same_report(size):
    # pandas 3 reads strings into its str dtype; pandas 2, and frames built with
    # dtype=object, hold them in object columns. The verdict must not depend on which.
    rng = np.random.default_rng(size)
    skies = np.array(["sun", "rain", "fog", None], dtype=object)
    reference, current = rng.choice(skies, size, p=[0.5, 0.3, 0.1, 0.1]), rng.choice(skies, 200, p=[0.3, 0.5, 0.1, 0.1])
    as_str = drift_report(pd.DataFrame({"sky": pd.Series(reference, dtype="str")}),
                          pd.DataFrame({"sky": pd.Series(current, dtype="str")}))
    as_objects = drift_report(pd.DataFrame({"sky": pd.Series(reference, dtype=object)}),
                              pd.DataFrame({"sky": pd.Series(current, dtype=object)}))

    assert pd.Series(reference, dtype="str").dtype != object
    pd.testing.assert_frame_equal(as_str.table, as_objects.table)
    assert as_str.table.loc[0, "kind"] == "categorical"
