"""The statistical tests behind a drift report, and the rule that picks one per column.

Each test compares one column's reference values with its current values (missing and
infinite values already removed) and returns a score; a :class:`StatTest` says how the
score becomes a verdict. Test choice, scores and thresholds are Evidently 0.7's defaults
(its ``DataDriftPreset``), computed with scipy and numpy on whole arrays:

=================  =========================================  ==============
test               score                                      drift when
=================  =========================================  ==============
``ks``             Kolmogorov-Smirnov p-value (two-sample)    p <= 0.05
``chisquare``      chi-square goodness-of-fit p-value         p < 0.05
``z``              two-proportion Z-test p-value              p < 0.05
``wasserstein``    Wasserstein-1 distance / reference std     score >= 0.1
``jensenshannon``  Jensen-Shannon distance (natural log)      score >= 0.1
``psi``            population stability index (on request)   score >= 0.1
=================  =========================================  ==============

How each is computed, so a verdict can be checked by hand:

- ``ks``: ``scipy.stats.ks_2samp(reference, current).pvalue`` (two-sided, scipy's
  ``method="auto"``: exact for small samples, asymptotic otherwise).
- ``chisquare``: over every value seen on either side, the observed counts are the
  current ones and the expected counts the reference ones scaled to the current size
  (``count_ref * n_cur / n_ref``); ``scipy.stats.chisquare(observed, expected).pvalue``.
  A value seen only in current has an expected count of 0, so the statistic is infinite
  and p is 0: drift.
- ``z``: the values are sorted; the first is "0", the other "1". With ``p1``, ``p2`` the
  shares of "1" in reference and current and ``P`` their pooled share,
  ``z = (p1 - p2) / sqrt(P (1 - P) (1/n1 + 1/n2))`` and ``p = 2 (1 - Phi(|z|))``. A
  column holding one and the same value on both sides has p = 1.
- ``wasserstein``: ``scipy.stats.wasserstein_distance(reference, current)`` divided by
  the reference's population standard deviation (``ddof=0``), floored at 0.001 so that
  a constant reference does not divide by zero.
- ``jensenshannon``: the share of each value on each side (Sturges' histogram over both
  sides together for a numeric column with more than 20 reference values), then
  ``scipy.spatial.distance.jensenshannon(ref_shares, cur_shares)`` with the natural log,
  so the distance lies between 0 and sqrt(ln 2) = 0.833.
- ``psi``: the same shares as ``jensenshannon``, a share of 0 replaced by a tiny one
  (0.0001, or a millionth of the smallest share if that is smaller), then
  ``sum((ref - cur) * ln(ref / cur))``.

Where NannyML differs, for a student comparing tools (see NannyML's "how it works" page
on univariate drift): NannyML compares chunks of the analysis data (by size or by
period) with the reference, and drops missing values as labkit does, but

- its Kolmogorov-Smirnov reports the D statistic (the largest gap between the two CDFs,
  0 to 1), not the p-value, and from 10,000 reference rows on it works from quantile
  bins of the reference rather than the values;
- its chi-square is a test of independence on the reference-and-chunk contingency table
  (expected counts from both samples' margins), not a goodness of fit of the current
  counts to the reference's shares;
- its Jensen-Shannon distance lies between 0 and 1 (base-2 logs; labkit's natural log
  gives 0 to 0.833 for the same data), and bins a number with Doane's rule on the
  reference, each distinct value its own bin when there are few, with an extra bin
  for current values outside the reference's range;
- its Wasserstein distance is not divided by the standard deviation, and from 10,000
  reference rows on it works from equal-width bins;
- its thresholds are set per method, and can be derived from how much the metric
  varies between reference chunks, rather than Evidently's fixed 0.05 and 0.1.

The same data can therefore get a different verdict from NannyML; to check a labkit
verdict by hand, follow the recipe above with scipy.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> reference, current = rng.normal(size=500), rng.normal(0.5, size=500)
>>> test = choose_test(kind="numerical", reference_rows=500, n_unique=1000)
>>> test.name, test.drifted(test.score(reference, current))
('ks', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
# scipy imports a submodule the first time it is used (scipy.stats adds some 35 MiB of
# memory), so a report of distances never loads the p-value tests it does not run.
import scipy

__all__ = [
    "StatTest",
    "STAT_TESTS",
    "choose_test",
    "chisquare",
    "jensenshannon",
    "ks",
    "psi",
    "wasserstein",
    "z_test",
]

# Evidently's boundaries, from its default test selection: a reference of at most this
# many (non-missing) rows is "small" and gets a p-value test; above it, a distance.
SMALL_REFERENCE_ROWS = 1000
# At most this many distinct values (both sides together) and a number counts as
# categorical for the choice of test; at most 2 and a proportion test fits.
FEW_VALUES = 5
TWO_VALUES = 2
# A numeric column with more distinct reference values than this is binned (Sturges)
# for Jensen-Shannon and PSI, instead of counted value by value.
MAX_VALUES_COUNTED = 20
# Evidently's floor for the reference's standard deviation in the Wasserstein score.
MIN_STD = 0.001


def ks(reference: np.ndarray, current: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov test's two-sided p-value.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> round(ks(rng.normal(size=200), rng.normal(size=200)), 3)
    0.221
    """
    return float(scipy.stats.ks_2samp(reference, current).pvalue)


def chisquare(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """The chi-square goodness-of-fit p-value of current counts against scaled reference counts.

    Parameters
    ----------
    reference_counts, current_counts
        How often each value occurs on each side, aligned: position ``i`` is one value.

    Examples
    --------
    >>> import numpy as np
    >>> round(chisquare(np.array([50, 30, 20]), np.array([45, 35, 20])), 3)
    0.513
    """
    expected = reference_counts * (current_counts.sum() / reference_counts.sum())
    # A value absent from the reference has an expected count of 0: the statistic is
    # infinite (p = 0) by definition, and numpy's warning about it would only alarm.
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(scipy.stats.chisquare(current_counts, expected).pvalue)


def z_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> float:
    """The two-proportion Z-test's two-sided p-value, for a column of at most two values.

    Parameters
    ----------
    reference_counts, current_counts
        How often each value occurs on each side, aligned, in the values' sorted order:
        the first value counts as 0, any other as 1.

    Examples
    --------
    >>> import numpy as np
    >>> round(z_test(np.array([60, 40]), np.array([40, 60])), 4)
    0.0047
    """
    n1, n2 = reference_counts.sum(), current_counts.sum()
    if len(reference_counts) == 1:
        # One and the same value on both sides: no difference at all (and P(1 - P) = 0).
        return 1.0
    p1 = float(reference_counts[1:].sum()) / n1
    p2 = float(current_counts[1:].sum()) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    # 1 - cdf rather than sf, as Evidently computes it, so tiny p-values round to 0 alike.
    return float(2 * (1 - scipy.special.ndtr(np.abs(z))))


def wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """The Wasserstein-1 distance divided by the reference's standard deviation (at least 0.001).

    ``scipy.stats.wasserstein_distance`` computes the area between the two sides'
    cumulative distribution functions; this computes the same area the other way round,
    between their quantile functions (the CDFs' inverses), which is equal in one
    dimension. Both quantile functions are steps, at multiples of ``1/n`` and ``1/m``,
    so where each step lies is integer arithmetic: no merged sort and no binary search,
    only each side sorted once. The two agree to about 1e-15.

    Examples
    --------
    >>> import numpy as np
    >>> round(wasserstein(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])), 4)
    1.2247
    """
    norm = max(float(np.std(reference)), MIN_STD)
    return _quantile_area(np.sort(reference), np.sort(current)) / norm


def _quantile_area(u: np.ndarray, v: np.ndarray) -> float:
    """The area between the quantile functions of two sorted samples."""
    n, m = len(u), len(v)
    # On the scale t * n * m, u's quantile steps at i * m (i = 1..n) and v's at k * n
    # (k = 1..m). Between two neighbouring steps of either, the pair of quantiles is
    # constant: the area is a sum over those stretches, each named by the step ending it.
    # A stretch ending at u's step e = i * m holds u's i-th value and v's ceil(e / n)-th;
    # it starts at the step before, u's (e - m) or v's (the last multiple of n below e).
    ends = np.arange(m, n * m + 1, m, dtype=np.int64)
    at = (ends - 1) // n
    widths = np.minimum(ends - at * n, m)
    # A sum of products rather than np.dot: for one dot product, a BLAS built for many
    # threads spends longer waking its threads (tens of ms on a busy machine) than adding.
    area = np.sum(widths * np.abs(u - v[at]))
    # One ending at v's step e = k * n holds v's k-th value and u's ceil(e / m)-th; where
    # u steps at e too, that stretch was counted above and this one is empty (width 0).
    ends = np.arange(n, n * m + 1, n, dtype=np.int64)
    at = (ends - 1) // m
    widths = np.minimum(ends % m, n)
    area += np.sum(widths * np.abs(u[at] - v))
    return float(area) / (n * m)


def jensenshannon(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """The Jensen-Shannon distance (natural log) between two aligned vectors of shares.

    Examples
    --------
    >>> import numpy as np
    >>> round(jensenshannon(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])), 4)
    0.5887
    """
    return float(scipy.spatial.distance.jensenshannon(reference_shares, current_shares))


def psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """The population stability index between two aligned vectors of shares.

    A share of 0 would make the logarithm infinite, so it is replaced by 0.0001, or by a
    millionth of the side's smallest share when that is 0.0001 or less.

    Examples
    --------
    >>> import numpy as np
    >>> round(psi(np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3, 0.3])), 4)
    0.0629
    """
    reference_shares, current_shares = _no_zeros(reference_shares), _no_zeros(current_shares)
    return float(np.sum((reference_shares - current_shares) * np.log(reference_shares / current_shares)))


def _no_zeros(shares: np.ndarray) -> np.ndarray:
    smallest = shares[shares != 0].min()
    filler = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(shares == 0, filler, shares)


@dataclass(frozen=True)
class StatTest:
    """A drift test: what its score means and when the score says "drift".

    Parameters
    ----------
    name
        The test's name, as Evidently spells it (``"ks"``, ``"wasserstein"``, ...).
    input
        What the test reads: ``"values"`` (the raw numbers), ``"counts"`` (how often each
        value occurs) or ``"shares"`` (counts, or Sturges bins, divided by the size).
    threshold
        The score at which the verdict turns.
    higher_is_drift
        True for a distance (drift when ``score >= threshold``), False for a p-value.
    strict
        For a p-value: drift only when ``p < threshold`` (chi-square, Z) rather than
        ``p <= threshold`` (Kolmogorov-Smirnov), exactly as Evidently compares.

    Examples
    --------
    >>> import numpy as np
    >>> test = STAT_TESTS["chisquare"]
    >>> score = test.score(np.array([50, 30, 20]), np.array([20, 30, 50]))
    >>> round(score, 6), test.drifted(score), test.drifted(test.threshold)
    (0.0, True, False)
    """

    name: str
    input: str
    threshold: float
    higher_is_drift: bool
    strict: bool = False

    @property
    def score(self) -> Callable[[np.ndarray, np.ndarray], float]:
        """The function computing this test's score from reference and current."""
        return _FUNCTIONS[self.name]

    def drifted(self, score: float) -> bool:
        """Whether ``score`` means drift."""
        if self.higher_is_drift:
            return bool(score >= self.threshold)
        return bool(score < self.threshold) if self.strict else bool(score <= self.threshold)


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ks": ks,
    "chisquare": chisquare,
    "z": z_test,
    "wasserstein": wasserstein,
    "jensenshannon": jensenshannon,
    "psi": psi,
}

STAT_TESTS: dict[str, StatTest] = {
    "ks": StatTest("ks", "values", 0.05, higher_is_drift=False),
    "chisquare": StatTest("chisquare", "counts", 0.05, higher_is_drift=False, strict=True),
    "z": StatTest("z", "counts", 0.05, higher_is_drift=False, strict=True),
    "wasserstein": StatTest("wasserstein", "values", 0.1, higher_is_drift=True),
    "jensenshannon": StatTest("jensenshannon", "shares", 0.1, higher_is_drift=True),
    "psi": StatTest("psi", "shares", 0.1, higher_is_drift=True),
}
"""Every test by name; ``STAT_TESTS["psi"]`` is the one a report uses on request only."""


def choose_test(*, kind: str, reference_rows: int, n_unique: int) -> StatTest:
    """The test Evidently 0.7's ``DataDriftPreset`` picks for a column.

    Parameters
    ----------
    kind
        ``"numerical"`` or ``"categorical"``.
    reference_rows
        The reference's count of non-missing values in the column.
    n_unique
        How many distinct non-missing values the column holds, both sides together.

    Examples
    --------
    >>> choose_test(kind="numerical", reference_rows=1000, n_unique=6).name
    'ks'
    >>> choose_test(kind="numerical", reference_rows=1001, n_unique=6).name
    'wasserstein'
    >>> choose_test(kind="categorical", reference_rows=1000, n_unique=2).name
    'z'
    """
    if kind not in ("numerical", "categorical"):
        raise ValueError(
            f"expected kind 'numerical' or 'categorical'; got {kind!r}; fix: pass one of those two"
        )
    many = kind == "numerical" and n_unique > FEW_VALUES
    if reference_rows <= SMALL_REFERENCE_ROWS:
        if many:
            return STAT_TESTS["ks"]
        return STAT_TESTS["chisquare"] if n_unique > TWO_VALUES else STAT_TESTS["z"]
    return STAT_TESTS["wasserstein"] if many else STAT_TESTS["jensenshannon"]
