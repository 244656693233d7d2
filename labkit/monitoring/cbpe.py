"""Confidence-based performance estimation (CBPE): a model's accuracy before its labels arrive.

Labels come late (tomorrow's rain is known tomorrow; a loan's default, years later), but
a classifier says how sure it is with every prediction. If those probabilities are
right, a prediction made with probability 0.9 is right 9 times in 10, and the expected
confusion matrix of a window is a sum of probabilities. This is NannyML's CBPE for
binary classification, rebuilt small enough to read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.utils.validation import check_is_fitted

from labkit.errors import DataError
from labkit.monitoring._frames import is_labelled, known_labels, require_columns, require_times, windows

__all__ = ["CBPE"]

_METRICS = ("accuracy", "f1")
_COLUMNS = ["start", "end", "metric", "estimated", "std_error", "lower", "upper", "n", "realised", "n_labelled"]


class CBPE(BaseEstimator):
    """Estimate accuracy and F1 per window from predicted probabilities alone, as NannyML's CBPE does.

    :meth:`fit` learns from a labelled reference period (typically the test set, or the
    first weeks in production): an isotonic regression that maps the model's probability
    of the positive class to the share of positives actually seen at that probability,
    and the spread that the sampling error is scaled from. :meth:`estimate` then needs no
    labels. In each window, with calibrated probability p of the positive class:

    - a positive prediction is a true positive with probability p, a false positive with
      1 - p; a negative prediction is a false negative with p, a true negative with 1 - p;
    - the expected confusion-matrix entries are the sums of those over the window (TP is
      the sum of p over positive predictions, and so on);
    - estimated accuracy = (TP + TN) / n and estimated F1 = TP / (TP + (FP + FN) / 2).

    The band is ``n_std`` (3, as NannyML) standard errors either side, cut to [0, 1].
    The standard error follows NannyML's own formula (``nannyml.sampling_error``), not a
    std over reference chunks: on the reference, each row's contribution to the metric
    is one number (for accuracy, 1 if right, 0 if wrong; for F1, 1 for a true positive
    and 0 for a false positive or negative, both scaled so they average to the
    reference's F1), and the standard error of a window of n rows is the std of those
    numbers over the reference divided by sqrt(n) (for F1, by sqrt of n times the share
    of reference rows that are TP, FP or FN, the rows F1 counts). Unlike NannyML, which
    calibrates only when its check finds the probabilities off, the isotonic step always
    runs; on calibrated probabilities it changes little.

    What it assumes, and where it fails:

    - after the isotonic step, probabilities are calibrated in production as they were
      in the reference: P(label = positive | probability p) = p;
    - hence no concept drift. The inputs may shift (covariate shift is what CBPE is for:
      more days that the model is unsure about show as a lower estimate), but the
      relation between inputs and label must stay as it was. When the concept changes,
      the model is as confident as ever, so the estimate stays high, with a narrow
      band, while the realised accuracy falls. The example below shows it.

    Parameters
    ----------
    window
        A pandas offset such as ``"7D"``, or an int N for every N predictions.
    metrics
        Which of ``"accuracy"`` and ``"f1"`` to estimate.
    positive
        The label of the positive class.
    n_std
        How many standard errors the band reaches either side of the estimate.
    time_column, label_column, prediction_column
        The names of the event time, the label and the prediction columns.
    proba_column
        The column with the probability of ``positive``; by default
        ``f"proba_{positive}"``, as the prediction store names it.

    Attributes
    ----------
    calibrator_ : sklearn.isotonic.IsotonicRegression
        Maps the model's probability of ``positive`` to a calibrated one.
    accuracy_std_ : float
        The std of right (1) and wrong (0) over the reference rows.
    f1_std_ : float
        The std of the reference rows' contributions to F1.
    f1_fraction_ : float
        The share of reference rows that F1 counts (true positives, false positives and
        false negatives).
    n_reference_ : int
        How many labelled reference rows were learned from.

    Examples
    --------
    A model whose probabilities are right, in a world that then turns upside down: for
    the last 400 predictions, the label is the opposite of what it used to be.

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 2000
    >>> x = rng.normal(size=n)
    >>> probability = 1 / (1 + np.exp(-3 * x))
    >>> label = rng.random(n) < probability
    >>> label[-400:] = ~label[-400:]  # the concept changes
    >>> frame = pd.DataFrame({
    ...     "event_time": pd.date_range("2013-01-01", periods=n, freq="6h", tz="UTC"),
    ...     "prediction": probability > 0.5,
    ...     "proba_True": probability,
    ...     "label": label,
    ... })
    >>> reference, analysis = frame.iloc[:1000], frame.iloc[1000:]
    >>> estimator = CBPE(window=200, metrics=["accuracy"]).fit(reference)
    >>> estimates = estimator.estimate(analysis)
    >>> estimates[["estimated", "lower", "upper", "realised"]].round(2)
       estimated  lower  upper  realised
    0       0.86   0.79   0.94      0.87
    1       0.87   0.79   0.94      0.83
    2       0.85   0.78   0.93      0.86
    3       0.86   0.79   0.94      0.14
    4       0.87   0.80   0.95      0.10

    While the concept holds, the estimate tracks the realised accuracy, without seeing a
    label. Once it changes, the estimate stays at 0.86 with the same narrow band while the
    realised accuracy falls to about 0.1: a change of concept is invisible to CBPE. Only
    the labels, when they come, show it.
    """

    def __init__(
        self,
        *,
        window: str | int = "7D",
        metrics: tuple[str, ...] | list[str] = _METRICS,
        positive: object = True,
        n_std: float = 3.0,
        time_column: str = "event_time",
        label_column: str = "label",
        prediction_column: str = "prediction",
        proba_column: str | None = None,
    ) -> None:
        self.window = window
        self.metrics = metrics
        self.positive = positive
        self.n_std = n_std
        self.time_column = time_column
        self.label_column = label_column
        self.prediction_column = prediction_column
        self.proba_column = proba_column

    def fit(self, reference: pd.DataFrame, y: None = None) -> CBPE:
        """Learn the calibration and the sampling-error components from labelled reference rows.

        Parameters
        ----------
        reference
            Logged predictions whose labels are known; rows without a label are ignored.
        y
            Unused: the labels are ``reference``'s label column. Present for scikit-learn.

        Returns
        -------
        CBPE
            This estimator, fitted.

        Raises
        ------
        DataError
            If a column is missing, a setting is invalid, or the labelled rows do not
            hold both classes.
        """
        self._check_settings()
        require_columns(reference, [self.label_column, self.prediction_column, self._proba], name="reference")
        labelled = reference[is_labelled(reference[self.label_column])]
        actual = (known_labels(labelled[self.label_column]) == self.positive).to_numpy()
        if actual.all() or not actual.any():
            raise DataError(
                f"expected reference rows labelled with both {self.positive!r} and another class; "
                f"got {len(actual)} labelled rows, {int(actual.sum())} of them {self.positive!r}; "
                "fix: use a longer reference period, with labels of both classes"
            )
        predicted = (labelled[self.prediction_column] == self.positive).to_numpy()
        probability = labelled[self._proba].to_numpy(dtype=float)

        # Clipped at both ends, so a probability outside the reference's range maps to
        # the nearest calibrated value instead of NaN.
        self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(probability, actual)

        self.accuracy_std_ = float(np.std(actual == predicted))
        tp = int((actual & predicted).sum())
        fp = int((~actual & predicted).sum())
        fn = int((actual & ~predicted).sum())
        counted = tp + fp + fn
        # Each counted row contributes 1 (TP) or 0 (FP, FN), scaled so that their mean is
        # the reference's F1, 2TP / (2TP + FP + FN); the std of that is F1's spread.
        contributions = np.concatenate([np.ones(tp), np.zeros(fp + fn)]) * counted / (tp + (fp + fn) / 2)
        self.f1_std_ = float(np.std(contributions))
        self.f1_fraction_ = counted / len(actual)
        self.n_reference_ = len(actual)
        return self

    def estimate(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Estimate the metrics per window from the probabilities; labels, where present, are only compared.

        Parameters
        ----------
        frame
            Logged predictions, labelled or not, as ``PredictionStore.frame`` returns them.

        Returns
        -------
        pandas.DataFrame
            One row per window and metric: ``start``, ``end``, ``metric``, ``estimated``,
            ``std_error``, the band ``lower`` and ``upper``, ``n`` (rows in the window),
            and for comparison the ``realised`` metric on the ``n_labelled`` rows whose
            label has arrived (NaN when none has). The estimate never uses the labels.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If :meth:`fit` has not been called.
        DataError
            If a column is missing or the times are not datetimes.
        """
        check_is_fitted(self)
        if isinstance(frame, pd.DataFrame) and frame.empty:
            # An empty store has no probability columns yet: nothing logged, nothing to estimate.
            return pd.DataFrame(columns=_COLUMNS)
        require_columns(frame, [self.time_column, self.prediction_column, self._proba], name="frame")
        require_times(frame, self.time_column, name="frame")
        rows = []
        for window_ in windows(frame, self.window, time_column=self.time_column):
            estimated = self._expected(window_.rows)
            realised, n_labelled = self._realised(window_.rows)
            n = len(window_.rows)
            for metric in self.metrics:
                std_error = self._std_error(metric, n)
                value = estimated[metric]
                lower = max(0.0, value - self.n_std * std_error)
                upper = min(1.0, value + self.n_std * std_error)
                if np.isnan(value):
                    lower = upper = np.nan
                rows.append(
                    (window_.start, window_.end, metric, value, std_error, lower, upper, n, realised[metric], n_labelled)
                )
        return pd.DataFrame(rows, columns=_COLUMNS)

    @property
    def _proba(self) -> str:
        return self.proba_column if self.proba_column is not None else f"proba_{self.positive}"

    def _check_settings(self) -> None:
        unknown = [metric for metric in self.metrics if metric not in _METRICS]
        if unknown or not list(self.metrics):
            raise DataError(
                f"expected metrics among {list(_METRICS)!r}; got {list(self.metrics)!r}; "
                "fix: CBPE here estimates accuracy and F1, pass metrics=['accuracy', 'f1']"
            )
        if not self.n_std > 0:
            raise DataError(f"expected n_std above 0; got {self.n_std!r}; fix: pass e.g. n_std=3")

    def _expected(self, rows: pd.DataFrame) -> dict[str, float]:
        if rows.empty:
            return {"accuracy": np.nan, "f1": np.nan}
        p = self.calibrator_.predict(rows[self._proba].to_numpy(dtype=float))
        predicted = (rows[self.prediction_column] == self.positive).to_numpy()
        tp, fp = p[predicted].sum(), (1 - p[predicted]).sum()
        fn, tn = p[~predicted].sum(), (1 - p[~predicted]).sum()
        f1_denominator = tp + (fp + fn) / 2
        return {
            "accuracy": float((tp + tn) / len(rows)),
            "f1": float(tp / f1_denominator) if f1_denominator > 0 else np.nan,
        }

    def _realised(self, rows: pd.DataFrame) -> tuple[dict[str, float], int]:
        if self.label_column not in rows.columns:
            return {"accuracy": np.nan, "f1": np.nan}, 0
        labelled = rows[is_labelled(rows[self.label_column])]
        if labelled.empty:
            return {"accuracy": np.nan, "f1": np.nan}, 0
        actual = (known_labels(labelled[self.label_column]) == self.positive).to_numpy()
        predicted = (labelled[self.prediction_column] == self.positive).to_numpy()
        return {
            "accuracy": float(accuracy_score(actual, predicted)),
            "f1": float(f1_score(actual, predicted, zero_division=np.nan)),
        }, len(labelled)

    def _std_error(self, metric: str, n: int) -> float:
        if n == 0:
            return np.nan
        if metric == "accuracy":
            return self.accuracy_std_ / np.sqrt(n)
        return self.f1_std_ / np.sqrt(n * self.f1_fraction_)
