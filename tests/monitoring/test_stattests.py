"""Tests for labkit.monitoring.stattests: each score equals scipy's on fixed data, and the choice rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import spatial, stats

from labkit.monitoring.stattests import (
    STAT_TESTS,
    chisquare,
    choose_test,
    jensenshannon,
    ks,
    psi,
    wasserstein,
    z_test,
)

TOLERANCE = 1e-12


@pytest.fixture
def samples() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(0.0, 2.0, size=700), rng.normal(0.3, 2.5, size=450)


def test_ks_is_scipys_two_sided_p_value(samples):
    reference, current = samples

    assert ks(reference, current) == pytest.approx(stats.ks_2samp(reference, current).pvalue, rel=TOLERANCE)


def test_chisquare_is_scipys_goodness_of_fit_against_scaled_reference_counts():
    reference_counts, current_counts = np.array([50, 30, 20]), np.array([40, 35, 25])
    # Expected current counts: the reference's shares times the current size, 100.
    expected = stats.chisquare([40, 35, 25], [50.0, 30.0, 20.0]).pvalue

    assert chisquare(reference_counts, current_counts) == pytest.approx(expected, rel=TOLERANCE)
    assert chisquare(np.array([500, 300, 200]), current_counts) == pytest.approx(expected, rel=TOLERANCE)


def test_chisquare_is_zero_for_a_value_the_reference_never_had():
    assert chisquare(np.array([10, 10, 0]), np.array([10, 10, 1])) == 0.0


def test_z_test_is_the_two_proportion_z_test():
    reference_counts, current_counts = np.array([60, 40]), np.array([45, 55])
    p1, p2, pooled = 0.4, 0.55, 95 / 200
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 100))

    assert z_test(reference_counts, current_counts) == pytest.approx(2 * stats.norm.sf(abs(z)), rel=TOLERANCE)


def test_z_test_of_one_shared_value_is_one():
    assert z_test(np.array([30]), np.array([70])) == 1.0


def test_wasserstein_is_scipys_distance_over_the_reference_population_std(samples):
    reference, current = samples
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)

    assert wasserstein(reference, current) == pytest.approx(expected, rel=TOLERANCE)


def test_wasserstein_agrees_with_scipy_on_ties_across_both_sides():
    rng = np.random.default_rng(1)
    reference, current = rng.integers(0, 8, size=3001).astype(float), rng.integers(2, 9, size=1777).astype(float)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)

    assert wasserstein(reference, current) == pytest.approx(expected, rel=TOLERANCE)


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 7), (7, 1), (6, 3), (3000, 1500), (1001, 1000), (997, 1009)])
def test_wasserstein_agrees_with_scipy_whatever_the_two_sizes(n, m):
    # Sizes where one divides the other put steps of both quantile functions at the same
    # place; coprime sizes put them all apart.
    rng = np.random.default_rng(n * 10_000 + m)
    reference, current = rng.normal(size=n), rng.normal(0.3, size=m)
    expected = stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)

    assert wasserstein(reference, current) == pytest.approx(expected, rel=TOLERANCE)


def test_wasserstein_floors_a_constant_references_std_at_a_thousandth():
    reference, current = np.full(50, 2.0), np.array([2.0, 3.0])

    # Half the current mass moves by 1: distance 0.5, over the floor 0.001.
    assert wasserstein(reference, current) == pytest.approx(500.0, rel=TOLERANCE)


def test_jensenshannon_is_scipys_distance_with_natural_logs():
    reference, current = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.3, 0.4, 0.2])

    assert jensenshannon(reference, current) == pytest.approx(spatial.distance.jensenshannon(reference, current), rel=TOLERANCE)
    assert jensenshannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(np.sqrt(np.log(2)), rel=TOLERANCE)


def test_psi_replaces_empty_shares_before_the_logarithm():
    reference, current = np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])
    filled = np.array([0.5, 0.5, 0.0001])  # the smallest share, 0.5, is above 0.0001

    expected = np.sum((filled - current) * np.log(filled / current))
    assert psi(reference, current) == pytest.approx(expected, rel=TOLERANCE)


def test_psi_fills_with_a_millionth_of_a_tiny_smallest_share():
    reference, current = np.array([0.99995, 0.00005, 0.0]), np.array([0.5, 0.3, 0.2])
    filled = np.array([0.99995, 0.00005, 0.00005 / 10**6])

    expected = np.sum((filled - current) * np.log(filled / current))
    assert psi(reference, current) == pytest.approx(expected, rel=TOLERANCE)


@pytest.mark.parametrize(
    ("kind", "rows", "n_unique", "expected"),
    [
        ("numerical", 1000, 6, "ks"),
        ("numerical", 1000, 5, "chisquare"),
        ("numerical", 1000, 3, "chisquare"),
        ("numerical", 1000, 2, "z"),
        ("numerical", 1000, 1, "z"),
        ("numerical", 1001, 6, "wasserstein"),
        ("numerical", 1001, 5, "jensenshannon"),
        ("numerical", 1001, 2, "jensenshannon"),
        ("categorical", 1000, 6, "chisquare"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("categorical", 1001, 6, "jensenshannon"),
        ("categorical", 1001, 2, "jensenshannon"),
        ("numerical", 5, 6, "ks"),
        ("numerical", 1_000_000, 1000, "wasserstein"),
    ],
)
def test_choose_test_follows_evidentlys_default_rule(kind, rows, n_unique, expected):
    assert choose_test(kind=kind, reference_rows=rows, n_unique=n_unique).name == expected


def test_thresholds_and_directions_are_evidentlys():
    assert [(t.name, t.threshold) for t in STAT_TESTS.values()] == [
        ("ks", 0.05), ("chisquare", 0.05), ("z", 0.05), ("wasserstein", 0.1), ("jensenshannon", 0.1), ("psi", 0.1)
    ]
    # Kolmogorov-Smirnov drifts at p == threshold; chi-square and Z only below it.
    assert STAT_TESTS["ks"].drifted(0.05) and not STAT_TESTS["chisquare"].drifted(0.05)
    assert not STAT_TESTS["z"].drifted(0.05) and STAT_TESTS["z"].drifted(0.0499)
    assert STAT_TESTS["wasserstein"].drifted(0.1) and not STAT_TESTS["jensenshannon"].drifted(0.0999)


def test_choose_test_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="expected kind 'numerical' or 'categorical'; got 'text'"):
        choose_test(kind="text", reference_rows=10, n_unique=3)
