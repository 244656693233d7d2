"""The drift report: has each input column's distribution moved away from the reference?

:func:`drift_report` judges every column as Evidently 0.7's ``DataDriftPreset`` does by
default, with the tests of :mod:`labkit.monitoring.stattests`:

1. **The kind** of each column, from the current frame's dtype, as Evidently infers it:
   floats are numerical; integers are numerical with more than 10 distinct values, else
   categorical; booleans, pandas categoricals and strings are categorical. Strings with
   more distinct values than half their count are free text, and datetimes are times:
   neither is tested (Evidently runs a text classifier on text; labkit lists them in
   :attr:`DriftReport.skipped`, and they do not count in the share). Where the current
   strings look like text but the reference's are categories (a short window: 4 values
   in 7 rows), labkit tests them as categories, where Evidently would run its text test.
2. **The values**: missing and infinite values are dropped on each side first.
3. **The test**, from the reference's (non-missing) row count and the number of distinct
   values on both sides together (:func:`~labkit.monitoring.stattests.choose_test`):

   ==============  ===============================  ========================================
   reference rows  numerical, more than 5 values    otherwise
   ==============  ===============================  ========================================
   at most 1000    ``ks`` (p <= 0.05)               ``chisquare`` (p < 0.05); ``z`` (p < 0.05)
                                                    for at most 2 values
   more than 1000  ``wasserstein`` (>= 0.1)         ``jensenshannon`` (>= 0.1)
   ==============  ===============================  ========================================

4. **The dataset** drifted when at least half the tested columns did.

Where labkit differs from Evidently, on purpose: the columns are the reference's (the
model's inputs), so extra columns in the current frame (a timestamp, a prediction) are
ignored rather than refused; pandas' nullable ``Int64``, ``Float64`` and ``boolean``
columns are tested like their numpy counterparts (Evidently's type check is
case-sensitive and skips them); text columns are left out of the share of drifted
columns (Evidently tests them with a classifier and counts them); and a column that is
all missing on one side is an error that names it, as in Evidently, but says how to fix
it. One inconsistency inside Evidently is settled its per-column way: its per-column
``ValueDrift`` always drops infinities, while its ``DriftedColumnsCount`` drops them only
from columns that also hold a missing value; labkit always drops them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> reference = pd.DataFrame({"temp": rng.normal(10, 3, 2000), "sky": rng.choice(["sun", "rain"], 2000)})
>>> current = pd.DataFrame({"temp": rng.normal(14, 3, 500), "sky": rng.choice(["sun", "rain"], 500)})
>>> report = drift_report(reference, current)
>>> report.table[["column", "test", "drifted"]]
  column           test  drifted
0   temp    wasserstein     True
1    sky  jensenshannon    False
>>> report.share_drifted, report.dataset_drift
(0.5, True)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from labkit.errors import DataError
from labkit.monitoring.stattests import FEW_VALUES, MAX_VALUES_COUNTED, STAT_TESTS, StatTest, choose_test

if TYPE_CHECKING:
    from labkit.registry import ModelVersion

__all__ = ["DriftReport", "drift_report"]

# Evidently's rule: an integer column with at most this many distinct values is categorical.
MAX_INTEGER_CATEGORIES = 10
# The share of drifted columns at which the whole dataset counts as drifted.
DRIFT_SHARE = 0.5

_TABLE_COLUMNS = ["column", "kind", "test", "score", "threshold", "drifted"]


class DriftReport:
    """The verdict of :func:`drift_report`: one row per tested column, and the dataset's.

    Parameters
    ----------
    table
        One row per tested column: ``column, kind, test, score, threshold, drifted``.
    skipped
        The columns not tested, each with the reason.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"column": ["a", "b"], "kind": ["numerical"] * 2, "test": ["ks"] * 2,
    ...                       "score": [0.01, 0.5], "threshold": [0.05] * 2, "drifted": [True, False]})
    >>> report = DriftReport(table)
    >>> report.share_drifted, report.dataset_drift
    (0.5, True)
    """

    def __init__(self, table: pd.DataFrame, *, skipped: dict[str, str] | None = None) -> None:
        self._table = table
        self._skipped = dict(skipped or {})

    @property
    def table(self) -> pd.DataFrame:
        """One row per tested column (a copy: changing it changes nothing here)."""
        return self._table.copy()

    @property
    def skipped(self) -> dict[str, str]:
        """The columns not tested (free text, times), each with the reason."""
        return dict(self._skipped)

    @property
    def share_drifted(self) -> float:
        """The share of tested columns that drifted."""
        return float(self._table["drifted"].mean())

    @property
    def dataset_drift(self) -> bool:
        """Whether at least half the tested columns drifted (Evidently's ``drift_share=0.5``)."""
        return bool(self.share_drifted >= DRIFT_SHARE)

    def __repr__(self) -> str:
        drifted = int(self._table["drifted"].sum())
        return f"DriftReport(drifted={drifted} of {len(self._table)} columns, dataset_drift={self.dataset_drift})"


def drift_report(
    reference: pd.DataFrame | ModelVersion,
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    method: str | None = None,
) -> DriftReport:
    """Test each column of the reference for drift of its values in ``current``.

    Parameters
    ----------
    reference
        What the data should look like: a frame, or a registered version, whose
        reference sample (:attr:`labkit.registry.ModelVersion.reference`) is used.
    current
        The data to judge, such as a window of logged requests; columns the reference
        does not have are ignored.
    columns
        The columns to test (default: all of the reference's).
    method
        One test for every column instead of the default choice, such as ``"psi"``;
        any name in :data:`~labkit.monitoring.stattests.STAT_TESTS`.

    Returns
    -------
    DriftReport
        The per-column table and the dataset's verdict.

    Raises
    ------
    DataError
        A column is missing from a frame, holds no values on one side, or cannot take
        the requested test; or no column can be tested at all.
    IntegrityError
        The version's reference sample changed since registration.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> reference = pd.DataFrame({"wind": rng.gamma(2.0, 2.0, 800)})
    >>> current = pd.DataFrame({"wind": rng.gamma(2.0, 2.0, 300) * 1.2})
    >>> drift_report(reference, current).table.round(4)
      column       kind test   score  threshold  drifted
    0   wind  numerical   ks  0.0102       0.05     True
    >>> drift_report(reference, current, method="psi").table.round(4)
      column       kind test   score  threshold  drifted
    0   wind  numerical  psi  0.1199        0.1     True
    """
    if not isinstance(reference, pd.DataFrame):
        # Only a registered version needs the registry, and with it scikit-learn and skops.
        from labkit.registry import ModelVersion

        if isinstance(reference, ModelVersion):
            reference = reference.reference
    _require_frame(reference, "reference")
    _require_frame(current, "current")
    if method is not None and method not in STAT_TESTS:
        raise DataError(
            f"expected method None or one of {sorted(STAT_TESTS)}; got {method!r}; "
            "fix: leave it out for Evidently's default choice, or pass e.g. method='psi'"
        )
    names = list(reference.columns) if columns is None else list(columns)
    if not names:
        raise DataError(
            f"expected at least one column to test; got columns={columns!r} and a reference of "
            f"{reference.shape[1]} columns; fix: pass the frame the model was trained on, or name its columns"
        )
    for frame, side in ((reference, "reference"), (current, "current")):
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise DataError(
                f"expected the {side} frame to have columns {absent!r}; got columns {list(frame.columns)!r}; "
                f"fix: pass columns=[...] that both frames have, or add the missing ones"
            )
    # Each column's test runs in numpy, scipy and pandas code that releases the GIL
    # (sorting, hashing, counting), so columns are judged side by side, one thread per core.
    jobs = [(name, reference[name], current[name], method) for name in names]
    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda job: _judge(*job), jobs))
    rows = [result for result in results if not isinstance(result, str)]
    skipped = {name: result for name, result in zip(names, results) if isinstance(result, str)}
    if not rows:
        raise DataError(
            f"expected at least one numerical or categorical column to test; got {skipped!r}; "
            "fix: pass columns=[...] holding numbers or categories"
        )
    return DriftReport(pd.DataFrame(rows, columns=_TABLE_COLUMNS), skipped=skipped)


def _require_frame(frame: object, side: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"expected the {side} data to be a pandas DataFrame; got {type(frame).__name__}; "
            "fix: pass a DataFrame (for the reference, a registered ModelVersion also works)"
        )


def _judge(name: str, reference: pd.Series, current: pd.Series, method: str | None) -> list | str:
    """One row of the table, or the reason the column is not tested."""
    kind, categories = _kind(current)
    if kind == "text" and _kind(reference)[0] == "categorical":
        # A short window makes any category column look like free text (4 values in 7
        # rows); the reference, usually far longer, tells categories from text better.
        # Evidently would run its text test here, which labkit does not have either way.
        kind = "categorical"
    if kind not in ("numerical", "categorical"):
        return f"{kind} columns are not tested for drift"
    if kind == "numerical":
        reference_values, current_values = _numbers(reference, name, "reference"), _numbers(current, name, "current")
        n_unique, reference_rows = _count_distinct(reference_values, current_values), len(reference_values)
    else:
        values, reference_counts, current_counts = _category_counts(reference, categories or pd.factorize(current), name)
        n_unique, reference_rows = len(values), int(reference_counts.sum())
    if method is None:
        test = choose_test(kind=kind, reference_rows=reference_rows, n_unique=n_unique)
    else:
        test = _check_fits(STAT_TESTS[method], kind, name)
    if test.input == "values":
        score = test.score(reference_values, current_values)
    elif kind == "numerical":
        _, reference_counts, current_counts = _counts(reference_values, current_values)
        if test.input == "counts":
            score = test.score(reference_counts, current_counts)
        else:
            score = test.score(*_number_shares(reference_values, current_values, reference_counts, current_counts))
    elif test.input == "counts":
        score = test.score(reference_counts, current_counts)
    else:
        score = test.score(reference_counts / reference_counts.sum(), current_counts / current_counts.sum())
    return [name, kind, test.name, score, test.threshold, test.drifted(score)]


def _kind(series: pd.Series) -> tuple[str, tuple[np.ndarray, np.ndarray] | None]:
    """The column's kind as Evidently 0.7 infers it (save for pandas' nullable dtypes, see the module).

    For a string column, also its factorized values (codes and distinct values), which
    counting its distinct values has computed and its test needs again.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical", None
    if pd.api.types.is_float_dtype(dtype):
        return "numerical", None
    if pd.api.types.is_integer_dtype(dtype):
        return ("categorical" if series.nunique() <= MAX_INTEGER_CATEGORIES else "numerical"), None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime", None
    if pd.api.types.is_string_dtype(dtype):
        present = series.dropna() if dtype == object else series
        if dtype == object and (len(present) == 0 or not (isinstance(present.iloc[0], str) and isinstance(present.iloc[-1], str))):
            return "unknown", None
        codes, uniques = pd.factorize(series)
        # Mostly distinct strings are free text (names, comments), not categories.
        kind = "text" if len(uniques) > 0.5 * np.count_nonzero(codes >= 0) else "categorical"
        return kind, (codes, uniques)
    return "unknown", None


def _numbers(series: pd.Series, name: str, side: str) -> np.ndarray:
    """The column's finite values as floats: missing and infinite ones dropped, as Evidently drops them."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    # Most columns have nothing to drop; a mask would copy every value for nothing.
    kept = values if finite.all() else values[finite]
    if len(kept) == 0:
        raise _no_values(name, side, rows=len(series))
    return kept


def _category_counts(
    reference: pd.Series, current: tuple[np.ndarray, np.ndarray], name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values of both sides, sorted, and how often each occurs on each side (missing ones left out)."""
    sides = {"reference": pd.factorize(reference), "current": current}
    values = np.unique(np.concatenate([np.asarray(uniques, dtype=object) for _, uniques in sides.values()]))
    counts = []
    for side, (codes, uniques) in sides.items():
        present = codes[codes >= 0]
        if len(present) == 0:
            raise _no_values(name, side, rows=len(codes))
        on_side = np.zeros(len(values), dtype=np.int64)
        on_side[np.searchsorted(values, np.asarray(uniques, dtype=object))] = np.bincount(present, minlength=len(uniques))
        counts.append(on_side)
    return values, counts[0], counts[1]


def _no_values(name: str, side: str, *, rows: int) -> DataError:
    return DataError(
        f"expected column {name!r} to hold at least one value in the {side} data; got {rows} rows, "
        f"none of them a value; fix: leave it out with columns=[...], or pick data where it has values"
    )


def _count_distinct(reference: np.ndarray, current: np.ndarray) -> int:
    """How many distinct values both sides hold together: exact up to 6, all the choice of test needs.

    Counting every distinct value of a million numbers costs a hash of each; a handful of
    leading values already shows a continuous column to have more than 5.
    """
    leading = len(pd.unique(np.concatenate((reference[:64], current[:64]))))
    if leading > FEW_VALUES:
        return leading
    return len(pd.unique(np.concatenate((reference, current))))


def _counts(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct values of both sides, sorted, and how often each occurs on each side."""
    codes, values = pd.factorize(np.concatenate((reference, current)), sort=True)
    reference_counts = np.bincount(codes[: len(reference)], minlength=len(values))
    current_counts = np.bincount(codes[len(reference) :], minlength=len(values))
    return np.asarray(values), reference_counts, current_counts


def _number_shares(
    reference: np.ndarray, current: np.ndarray, reference_counts: np.ndarray, current_counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each side's share per value, or per Sturges bin for a many-valued number (Evidently's binning)."""
    if np.count_nonzero(reference_counts) > MAX_VALUES_COUNTED:
        edges = np.histogram_bin_edges(np.concatenate((reference, current)), bins="sturges")
        return np.histogram(reference, edges)[0] / len(reference), np.histogram(current, edges)[0] / len(current)
    return reference_counts / len(reference), current_counts / len(current)


def _check_fits(test: StatTest, kind: str, name: str) -> StatTest:
    fits = {"ks": "numerical", "wasserstein": "numerical", "chisquare": "categorical", "z": "categorical"}
    if fits.get(test.name, kind) != kind:
        raise DataError(
            f"expected a {fits[test.name]} column for method {test.name!r}; got {kind} column {name!r}; "
            "fix: leave method out, or pass one that fits every column, such as 'psi' or 'jensenshannon'"
        )
    return test
