"""Performance over time: a model's metrics window by window, from the labels that have arrived.

A deployed model is scored only on the predictions whose labels came back, and a window
with few labels gives a number that chance alone can move a long way. So every value
comes with the count of labelled rows behind it and a band of plausible values: a student
sees a dip inside the band as noise, and a dip outside it as news.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from labkit.errors import DataError
from labkit.monitoring._frames import is_labelled, known_labels, require_columns, require_times, windows

__all__ = ["CLASSIFICATION_METRICS", "REGRESSION_METRICS", "performance_over_time"]

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2")

_COLUMNS = ["start", "end", "metric", "value", "n_labelled", "std_error", "lower", "upper"]
# The range each metric can take, so a band never claims an accuracy above 1 or an MAE below 0.
_RANGES = {
    "accuracy": (0.0, 1.0),
    "precision": (0.0, 1.0),
    "recall": (0.0, 1.0),
    "f1": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "log_loss": (0.0, np.inf),
    "mae": (0.0, np.inf),
    "rmse": (0.0, np.inf),
    "r2": (-np.inf, 1.0),
}


def performance_over_time(
    frame: pd.DataFrame,
    *,
    window: str | int = "7D",
    task: str = "classification",
    metrics: list[str] | tuple[str, ...] | None = None,
    positive: object = True,
    confidence: float = 0.95,
    n_bootstrap: int = 200,
    seed: int = 0,
    time_column: str = "event_time",
    label_column: str = "label",
    prediction_column: str = "prediction",
    proba_prefix: str = "proba_",
) -> pd.DataFrame:
    """Compute metrics per window of event time, each with its labelled count and a band.

    Only rows whose label has arrived count. A window without labelled rows gets NaN, as
    does ROC AUC in a window that holds only one class, and precision in a window without
    a positive prediction: there is nothing to measure, and a 0 would look like a failure.

    How the band is made, metric by metric, and why:

    - accuracy, precision and recall are proportions of labelled rows (of all of them, of
      the predicted positives, of the actual positives), so the count is binomial. The
      standard error is sqrt(p(1-p)/n); the band is the Wilson score interval, which,
      unlike value +- z * std_error, does not shrink to nothing when a small window is
      all right or all wrong (3 out of 3 correct is weak evidence, not certainty).
    - log loss and MAE are means of one number per row, so the standard error of the
      mean, std / sqrt(n), applies as it stands. RMSE is the square root of such a mean
      (of squared errors), and its standard error follows by the delta method.
    - ROC AUC uses Hanley and McNeil's (1982) normal approximation, which needs only the
      AUC and the counts of each class. Like any such formula it gives no width at an
      AUC of exactly 1; read n_labelled there.
    - F1 and R2 are ratios with no simple formula, so they are bootstrapped: the window's
      labelled rows are resampled ``n_bootstrap`` times with a seeded generator, and the
      standard error is the spread of the metric over the resamples.

    Outside the binomial metrics the band is value +- z * std_error, cut to the range the
    metric can take. All bands assume the rows of a window are independent draws, which
    is the best a single window can say; with a handful of rows, trust none of them.

    Parameters
    ----------
    frame
        Logged predictions, one row each, as ``PredictionStore.frame`` returns them.
    window
        A pandas offset such as ``"7D"`` or ``"MS"`` (calendar months): consecutive
        windows of event time, empty ones included. Or an int N: every N predictions in
        event-time order, labelled or not.
    task
        ``"classification"`` or ``"regression"``.
    metrics
        The metrics to compute; by default all of :data:`CLASSIFICATION_METRICS` or
        :data:`REGRESSION_METRICS`. Precision, recall, F1, ROC AUC and log loss treat
        the task as ``positive`` against the rest.
    positive
        The label of the positive class; its probability is read from the column
        ``f"{proba_prefix}{positive}"``.
    confidence
        The share of plausible values the band covers.
    n_bootstrap
        How many resamples estimate the standard error of F1 and R2.
    seed
        The seed of the bootstrap's generator, so a rerun gives the same bands.
    time_column, label_column, prediction_column, proba_prefix
        The names of the event time, the label, the prediction, and the prefix of the
        probability columns.

    Returns
    -------
    pandas.DataFrame
        One row per window and metric, in time order: ``start`` and ``end`` of the
        window (offset windows are [start, end); count windows end at their last row),
        ``metric``, ``value``, ``n_labelled`` (labelled rows in the window),
        ``std_error``, and the band ``lower`` and ``upper``.

    Raises
    ------
    DataError
        If a needed column is missing, the times are not datetimes, the task or a metric
        is unknown, or the window is neither an offset nor a positive int.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 60
    >>> truth = rng.random(n) < 0.5
    >>> right = rng.random(n) < 0.8  # the model is right 4 times in 5
    >>> label = np.where(rng.random(n) < 0.7, truth, None)  # 30% of labels still missing
    >>> prediction = np.where(right, truth, ~truth)
    >>> frame = pd.DataFrame({
    ...     "event_time": pd.date_range("2013-01-01", periods=n, freq="D", tz="UTC"),
    ...     "prediction": prediction,
    ...     "proba_True": np.where(prediction, 0.8, 0.2),
    ...     "label": label,
    ... })
    >>> table = performance_over_time(frame, window="30D", metrics=["accuracy", "roc_auc"])
    >>> table["start"] = table["start"].dt.date
    >>> table[["start", "metric", "value", "n_labelled", "lower", "upper"]].round(2)
            start    metric  value  n_labelled  lower  upper
    0  2013-01-01  accuracy   0.81          21   0.60   0.92
    1  2013-01-01   roc_auc   0.80          21   0.59   1.00
    2  2013-01-31  accuracy   0.53          17   0.31   0.74
    3  2013-01-31   roc_auc   0.54          17   0.25   0.82

    One model made every prediction, yet accuracy fell from 0.81 to 0.53: with about 20
    labels a window, chance moves it that far. The bands overlap, so these two windows
    alone do not show that the model got worse.
    """
    chosen = _choose_metrics(task, metrics)
    if isinstance(frame, pd.DataFrame) and frame.empty:
        # An empty store has no probability columns yet (it learns the classes from its
        # first prediction), and no time to cut: nothing logged is nothing to measure.
        return _empty()
    probability_column = f"{proba_prefix}{positive}"
    needed = [time_column, label_column]
    if task == "regression" or set(chosen) & {"accuracy", "precision", "recall", "f1"}:
        needed.append(prediction_column)
    if set(chosen) & {"roc_auc", "log_loss"}:
        needed.append(probability_column)
    require_columns(frame, needed, name="frame")
    require_times(frame, time_column, name="frame")
    if not 0 < confidence < 1:
        raise DataError(
            f"expected confidence between 0 and 1; got {confidence!r}; fix: pass e.g. confidence=0.95"
        )

    z = float(stats.norm.ppf(0.5 + confidence / 2))
    rows = []
    for number, window_ in enumerate(windows(frame, window, time_column=time_column)):
        # A generator per window, so a window's band does not depend on the windows before it.
        rng = np.random.default_rng([seed, number])
        labelled = window_.rows[is_labelled(window_.rows[label_column])]
        y_true = known_labels(labelled[label_column]).to_numpy()
        for metric in chosen:
            if len(labelled) == 0:
                value, std_error, lower, upper = np.nan, np.nan, np.nan, np.nan
            else:
                value, std_error, lower, upper = _measure(
                    metric, labelled, y_true, positive, probability_column, prediction_column, z, n_bootstrap, rng
                )
            rows.append((window_.start, window_.end, metric, value, len(labelled), std_error, lower, upper))
    if not rows:
        return _empty()
    return pd.DataFrame(rows, columns=_COLUMNS).astype({"value": float, "std_error": float, "lower": float, "upper": float})


def _empty() -> pd.DataFrame:
    types = {"start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]", "metric": object, "n_labelled": int}
    return pd.DataFrame({column: pd.Series(dtype=types.get(column, float)) for column in _COLUMNS})


def _choose_metrics(task: str, metrics: list[str] | tuple[str, ...] | None) -> list[str]:
    known = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
    if task not in known:
        raise DataError(
            f"expected task to be 'classification' or 'regression'; got {task!r}; fix: "
            "pass task='regression' for a number, task='classification' for a class"
        )
    if metrics is None:
        return list(known[task])
    unknown = [metric for metric in metrics if metric not in known[task]]
    if unknown or not metrics:
        raise DataError(
            f"expected metrics for {task} among {list(known[task])!r}; got {list(metrics)!r}; "
            f"fix: choose from that list, or leave metrics=None for all of them"
        )
    return list(metrics)


def _measure(
    metric: str,
    labelled: pd.DataFrame,
    y_true: np.ndarray,
    positive: object,
    probability_column: str,
    prediction_column: str,
    z: float,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> tuple[float, float, float, float]:
    """One metric on one window's labelled rows: (value, std_error, lower, upper)."""
    low, high = _RANGES[metric]
    if metric in REGRESSION_METRICS:
        truth = y_true.astype(float)
        predicted = labelled[prediction_column].to_numpy(dtype=float)
        value, std_error = _regression(metric, truth, predicted, n_bootstrap, rng)
    elif metric in ("accuracy", "precision", "recall"):
        return _proportion(metric, y_true, labelled[prediction_column].to_numpy(), positive, z)
    else:
        actual = y_true == positive
        if metric == "f1":
            predicted = labelled[prediction_column].to_numpy() == positive
            value = skm.f1_score(actual, predicted, zero_division=np.nan)
            std_error = _bootstrap_f1(actual, predicted, n_bootstrap, rng)
        else:
            probability = labelled[probability_column].to_numpy(dtype=float)
            value, std_error = _probabilistic(metric, actual, probability)
    if np.isnan(value):
        return np.nan, np.nan, np.nan, np.nan
    if np.isnan(std_error):
        return value, np.nan, np.nan, np.nan  # one row has no spread to measure a band from
    return value, std_error, max(low, value - z * std_error), min(high, value + z * std_error)


def _proportion(
    metric: str, y_true: np.ndarray, y_pred: np.ndarray, positive: object, z: float
) -> tuple[float, float, float, float]:
    actual, predicted = y_true == positive, y_pred == positive
    if metric == "accuracy":
        value, n = skm.accuracy_score(y_true, y_pred), len(y_true)
    elif metric == "precision":
        value, n = skm.precision_score(actual, predicted, zero_division=np.nan), int(predicted.sum())
    else:
        value, n = skm.recall_score(actual, predicted, zero_division=np.nan), int(actual.sum())
    if n == 0 or np.isnan(value):
        return np.nan, np.nan, np.nan, np.nan
    lower, upper = _wilson(value, n, z)
    return value, float(np.sqrt(value * (1 - value) / n)), lower, upper


def _wilson(p: float, n: int, z: float) -> tuple[float, float]:
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    # At p = 0 or 1 one end is exactly 0 or 1; rounding must not move it off.
    lower = 0.0 if p == 0 else max(0.0, centre - half)
    upper = 1.0 if p == 1 else min(1.0, centre + half)
    return lower, upper


def _probabilistic(metric: str, actual: np.ndarray, probability: np.ndarray) -> tuple[float, float]:
    if metric == "log_loss":
        value = skm.log_loss(actual, probability, labels=[False, True])
        # The per-row losses whose mean log_loss is, clipped as scikit-learn clips them.
        eps = np.finfo(probability.dtype).eps
        p_actual = np.clip(np.where(actual, probability, 1 - probability), eps, 1)
        losses = -np.log(p_actual)
        return value, _sem(losses)
    n_positive, n_negative = int(actual.sum()), int((~actual).sum())
    if n_positive == 0 or n_negative == 0:
        return np.nan, np.nan
    auc = skm.roc_auc_score(actual, probability)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (
        auc * (1 - auc) + (n_positive - 1) * (q1 - auc**2) + (n_negative - 1) * (q2 - auc**2)
    ) / (n_positive * n_negative)
    return auc, float(np.sqrt(max(variance, 0.0)))


def _regression(
    metric: str, truth: np.ndarray, predicted: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> tuple[float, float]:
    errors = truth - predicted
    if metric == "mae":
        return skm.mean_absolute_error(truth, predicted), _sem(np.abs(errors))
    if metric == "rmse":
        rmse = skm.root_mean_squared_error(truth, predicted)
        # Delta method: d sqrt(m) = dm / (2 sqrt(m)); a perfect window has no spread to scale.
        return rmse, (_sem(errors**2) / (2 * rmse) if rmse > 0 else 0.0)
    if len(truth) < 2:
        return np.nan, np.nan  # R2 compares with the mean of the labels, which needs two of them
    value = skm.r2_score(truth, predicted)
    resamples = rng.integers(0, len(truth), size=(n_bootstrap, len(truth)))
    t, e = truth[resamples], errors[resamples]
    total = ((t - t.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    # A resample whose labels are all equal has no variance to explain; it says nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = 1 - (e**2).sum(axis=1) / total
    replicates = replicates[np.isfinite(replicates)]
    return value, (float(replicates.std(ddof=1)) if len(replicates) > 1 else np.nan)


def _bootstrap_f1(actual: np.ndarray, predicted: np.ndarray, n_bootstrap: int, rng: np.random.Generator) -> float:
    resamples = rng.integers(0, len(actual), size=(n_bootstrap, len(actual)))
    a, p = actual[resamples], predicted[resamples]
    tp, fp, fn = (a & p).sum(axis=1), (~a & p).sum(axis=1), (a & ~p).sum(axis=1)
    relevant = 2 * tp + fp + fn
    # F1 is undefined in a resample with no positives at all, predicted or actual.
    replicates = 2 * tp[relevant > 0] / relevant[relevant > 0]
    return float(replicates.std(ddof=1)) if len(replicates) > 1 else np.nan


def _sem(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan
