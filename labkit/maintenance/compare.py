"""Champion against challenger, offline, on recent labelled data that neither learned from.

Both versions predict the same rows, the most recent labelled window, and each gets the
metric. The difference alone does not say which is better: on 60 rows, two equally good
models differ by a few points of accuracy by chance. So the rows are resampled with
replacement, the *same* resample for both models (a **paired** bootstrap: the two are
judged on the same days, so a hard day counts against both), and the spread of the
difference over the resamples gives an interval. When that interval includes 0, the
gain may be noise.

The window must be one neither version was trained on: where a version's lineage says
what it learned from (:func:`labkit.maintenance.retrain`), :func:`compare` refuses a
window that overlaps it, unless it was that version's holdout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from labkit.errors import DataError
from labkit.maintenance._known import as_span, as_time, day, known_at
from labkit.monitoring._frames import is_labelled, known_labels
from labkit.registry import ModelVersion, Registry
from labkit.store import PredictionStore

__all__ = ["GREATER_IS_BETTER", "Comparison", "compare"]

# Whether a larger value of each metric is better: what the promotion gate needs to know too.
GREATER_IS_BETTER: dict[str, bool] = {
    "accuracy": True, "precision": True, "recall": True, "f1": True, "roc_auc": True, "log_loss": False,
    "mae": False, "rmse": False, "r2": True,
}


@dataclass(frozen=True)
class Comparison:
    """The champion and the challenger on the same labelled rows, with a paired bootstrap interval.

    Parameters
    ----------
    name
        The model's name in the registry.
    metric
        The metric compared, such as ``"accuracy"``.
    greater_is_better
        Whether a larger value of the metric is better.
    champion, challenger
        The version numbers compared.
    start, end
        The window of event times compared on: ``start <= event_time < end``.
    n_rows
        The labelled rows in the window.
    champion_value, challenger_value
        Each version's metric on those rows.
    difference
        ``challenger_value - champion_value``.
    lower, upper
        The bootstrap interval of the difference.
    confidence
        The share of resampled differences the interval covers.
    n_bootstrap, seed
        How many resamples, and the seed of their generator.

    Examples
    --------
    >>> import pandas as pd
    >>> day = pd.Timestamp("2014-01-01", tz="UTC")
    >>> result = Comparison(name="weather", metric="log_loss", greater_is_better=False, champion=1, challenger=2,
    ...                     start=day, end=day + pd.Timedelta(days=30), n_rows=30, champion_value=0.61,
    ...                     challenger_value=0.55, difference=-0.06, lower=-0.13, upper=0.01, confidence=0.95,
    ...                     n_bootstrap=1000, seed=0)
    >>> round(result.gain, 2), result.gain_interval, result.beyond_noise  # lower log loss is a gain
    (0.06, (-0.01, 0.13), False)
    """

    name: str
    metric: str
    greater_is_better: bool
    champion: int
    challenger: int
    start: pd.Timestamp
    end: pd.Timestamp
    n_rows: int
    champion_value: float
    challenger_value: float
    difference: float
    lower: float
    upper: float
    confidence: float
    n_bootstrap: int
    seed: int

    @property
    def gain(self) -> float:
        """How much better the challenger is: the difference, with its sign flipped where lower is better."""
        return self.difference if self.greater_is_better else -self.difference

    @property
    def gain_interval(self) -> tuple[float, float]:
        """The bootstrap interval of :attr:`gain`, lower end first."""
        return (self.lower, self.upper) if self.greater_is_better else (-self.upper, -self.lower)

    @property
    def beyond_noise(self) -> bool:
        """Whether the whole interval of the gain lies above 0: the challenger is better, not just luckier."""
        return bool(self.gain_interval[0] > 0)

    @property
    def summary(self) -> str:
        """The comparison in two sentences a student can read."""
        direction = "" if self.greater_is_better else f" (lower is better for {self.metric})"
        low, high = self.gain_interval
        if low > 0:
            verdict = "The whole interval is above 0: the challenger is better beyond the noise of this window."
        elif high < 0:
            verdict = "The whole interval is below 0: the challenger is worse beyond the noise of this window."
        else:
            verdict = "The interval includes 0: on these rows the difference may be noise."
        return (
            f"On {self.n_rows} labelled rows from {day(self.start)} to {day(self.end)}, the challenger "
            f"(version {self.challenger}) has {self.metric} {self.challenger_value:.3f} and the champion (version "
            f"{self.champion}) {self.champion_value:.3f}{direction}: a gain of {self.gain:+.3f}, with a "
            f"{self.confidence:.0%} paired bootstrap interval from {low:+.3f} to {high:+.3f}. {verdict}"
        )

    def __str__(self) -> str:
        return self.summary


def compare(
    registry: Registry,
    name: str,
    *,
    store: PredictionStore,
    now: Any,
    window: str | tuple[Any, Any] = "30D",
    metric: str = "accuracy",
    champion: str = "champion",
    challenger: str = "challenger",
    positive: object = True,
    confidence: float = 0.95,
    n_bootstrap: int = 1000,
    seed: int = 0,
    model: str | None = None,
    trusted: Iterable[str] = (),
    shadow: bool = False,
) -> Comparison:
    """Score the champion and the challenger on the same recent labelled rows, with a paired bootstrap interval.

    Parameters
    ----------
    registry, name
        The registry and the model's name.
    store
        The prediction store: its logged inputs and the labels known at ``now``.
    now
        The moment of the comparison: later events and later labels do not exist yet.
    window
        The rows to compare on: the last duration before ``now`` (``"30D"``, the same
        duration as a retrain's ``holdout``), or a ``(start, end)`` pair of event times.
    metric
        One of :data:`GREATER_IS_BETTER`'s keys; ``roc_auc`` and ``log_loss`` use
        ``predict_proba``, the others ``predict``.
    champion, challenger
        The aliases of the two versions.
    positive
        The positive class, for precision, recall, F1, ROC AUC and log loss.
    confidence
        The share of resampled differences the interval covers (a percentile interval).
    n_bootstrap, seed
        How many paired resamples, and the seed of their generator.
    model
        The model name in the store, if it differs from ``name``.
    trusted
        Type names to trust when loading, as in :meth:`labkit.Registry.load`.
    shadow
        Compare what the two versions predicted live, instead of predicting again: the
        champion's answers and the challenger's shadow predictions on the same requests
        (a deployment with ``shadow="challenger"``; see :meth:`labkit.PredictionStore.shadow`).
        Only requests both versions scored count.

    Returns
    -------
    Comparison
        Both values, the difference, its interval and a :attr:`~Comparison.summary`.

    Raises
    ------
    DataError
        No labelled rows in the window, a window one of the versions was trained on, an
        unknown metric, or a bad setting.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(size=200)})
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(LogisticRegression().fit(X, X["wind"] > 0), name="demo", X=X)
    >>> _ = reg.register(LogisticRegression().fit(X, X["wind"] > 0.3), name="demo", X=X)
    >>> _ = reg.promote("demo", version=1, alias="champion"), reg.promote("demo", version=2, alias="challenger")
    >>> store = lk.PredictionStore(folder / "monitor.db")
    >>> wind = rng.normal(size=40)
    >>> store.log([{"request_id": f"r{i}", "event_time": pd.Timestamp("2013-01-01") + pd.Timedelta(days=i),
    ...             "model_name": "demo", "model_version": 1, "inputs": {"wind": w}, "prediction": bool(w > 0),
    ...             "probabilities": None, "latency_ms": 1.0} for i, w in enumerate(wind)])
    >>> truth = wind + rng.normal(0, 0.5, size=40) > 0.3
    >>> _ = store.add_labels([f"r{i}" for i in range(40)], truth, at="2013-02-10")
    >>> result = compare(reg, "demo", store=store, now="2013-02-10", window="40D")
    >>> round(result.challenger_value, 3), round(result.champion_value, 3)
    (0.95, 0.9)
    >>> print(result.summary)
    On 40 labelled rows from 2013-01-01 to 2013-02-10, the challenger (version 2) has accuracy 0.950 and the champion (version 1) 0.900: a gain of +0.050, with a 95% paired bootstrap interval from +0.000 to +0.125. The interval includes 0: on these rows the difference may be noise.

    Two more right answers in 40 look like progress; the interval says that a window
    this small cannot tell.
    """
    now = as_time(now, what="now")
    if metric not in GREATER_IS_BETTER:
        raise DataError(
            f"expected metric to be one of {sorted(GREATER_IS_BETTER)}; got {metric!r}; fix: e.g. metric='accuracy'"
        )
    if not 0 < confidence < 1:
        raise DataError(f"expected confidence between 0 and 1; got {confidence!r}; fix: e.g. confidence=0.95")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 100:
        raise DataError(
            f"expected n_bootstrap to be a whole number of at least 100; got {n_bootstrap!r}; fix: e.g. n_bootstrap=1000"
        )
    start, end = _window(now, window)
    versions = {role: registry.get(name, alias=alias) for role, alias in (("champion", champion), ("challenger", challenger))}
    for role, version in versions.items():
        _require_unseen(version, role, start, end)
    rows = known_at(store, now, start=start, end=end, model=model or name)
    if not rows.empty:
        rows = rows[is_labelled(rows["label"])].reset_index(drop=True)
    if rows.empty:
        raise DataError(
            f"expected labelled rows of model {model or name!r} with events from {day(start)} to {day(end)} and "
            f"labels known by {day(now)}; got none; fix: widen the window, or compare later, once labels are back"
        )
    if shadow:
        rows, outputs = _live(store, rows, versions, metric, positive, start, end)
    truth = known_labels(rows["label"]).to_numpy()
    if not shadow:
        outputs = {}
        for role, version in versions.items():
            fitted = registry.load(name, version=version.version, trusted=trusted)
            outputs[role] = _output(fitted, rows[list(version.schema.names)], metric, positive)
    everything = np.arange(len(truth))[np.newaxis, :]
    champion_value = _scores(metric, truth, outputs["champion"], positive, everything)[0]
    challenger_value = _scores(metric, truth, outputs["challenger"], positive, everything)[0]
    # One matrix of resampled row numbers, used for both models: the pairing.
    resamples = np.random.default_rng(seed).integers(0, len(truth), size=(n_bootstrap, len(truth)))
    differences = (_scores(metric, truth, outputs["challenger"], positive, resamples)
                   - _scores(metric, truth, outputs["champion"], positive, resamples))
    differences = differences[np.isfinite(differences)]  # e.g. a resample with one class has no ROC AUC
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(differences, [tail, 1 - tail]) if len(differences) else (np.nan, np.nan)
    return Comparison(
        name=name, metric=metric, greater_is_better=GREATER_IS_BETTER[metric],
        champion=versions["champion"].version, challenger=versions["challenger"].version,
        start=start, end=end, n_rows=len(rows),
        champion_value=float(champion_value), challenger_value=float(challenger_value),
        difference=float(challenger_value - champion_value), lower=float(lower), upper=float(upper),
        confidence=confidence, n_bootstrap=int(n_bootstrap), seed=seed,
    )


def _live(
    store: PredictionStore, rows: pd.DataFrame, versions: dict[str, ModelVersion], metric: str, positive: object,
    start: pd.Timestamp, end: pd.Timestamp,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The labelled requests the champion answered and the challenger scored in shadow, and each one's output."""
    champion, challenger = versions["champion"].version, versions["challenger"].version
    live = store.shadow(start, end, version=challenger)
    answered = rows[rows["model_version"] == champion]
    both = answered.merge(live, on="request_id", how="inner", suffixes=("", "_shadow"))
    if both.empty:
        raise DataError(
            f"expected labelled requests answered by the champion (version {champion}) and scored in shadow by the "
            f"challenger (version {challenger}) from {day(start)} to {day(end)}; got none; fix: deploy with "
            "shadow='challenger' and a store, send traffic, and compare once its labels are back"
        )
    column = f"proba_{positive}" if metric in ("roc_auc", "log_loss") else "prediction"
    missing = [c for c in (column, f"{column}_shadow") if c not in both.columns]
    if missing:
        raise DataError(f"expected the logged column {column!r} for both versions; got none for {missing!r}; "
                        "fix: use a metric of the predictions, e.g. metric='accuracy'")
    outputs = {"champion": both[column].to_numpy(), "challenger": both[f"{column}_shadow"].to_numpy()}
    if column == "prediction":  # JSON kept the predictions as they were; labels come back the same way
        outputs = {role: known_labels(pd.Series(values)).to_numpy() for role, values in outputs.items()}
    return both, outputs


def _window(now: pd.Timestamp, window: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    if isinstance(window, tuple):
        if len(window) != 2:
            raise DataError(
                f"expected window to be a duration or a (start, end) pair; got {window!r}; fix: e.g. window='30D'"
            )
        start, end = as_time(window[0], what="window start"), as_time(window[1], what="window end")
        if end <= start or start >= now:
            raise DataError(
                f"expected a window that starts before it ends and before now ({day(now)}); got {window!r}; "
                "fix: pass (start, end) in that order, with start before now"
            )
        return start, min(end, now)
    return now - as_span(window, what="window"), now


def _require_unseen(version: ModelVersion, role: str, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Refuse a window the version learned from, where its lineage says what it learned from."""
    lineage = version.lineage
    if not lineage or not lineage.get("window"):
        return  # a version registered by hand says nothing about its data: nothing to check
    learned = lineage["window"]
    seen_start = as_time(learned["start"], what="start") if learned.get("start") else None
    seen_end = as_time(learned["end"], what="end")
    overlap_start = max(start, seen_start) if seen_start is not None else start
    overlap_end = min(end, seen_end)
    if overlap_start >= overlap_end:
        return
    but = ""
    if lineage.get("holdout"):
        held_start, held_end = (as_time(t, what="holdout") for t in lineage["holdout"])
        if held_start <= overlap_start and overlap_end <= held_end:
            return
        but = f", all but those of {day(held_start)} to {day(held_end)} (its holdout)"
    learned_from = f"{day(seen_start)} to {day(seen_end)}" if seen_start is not None else f"before {day(seen_end)}"
    raise DataError(
        f"expected a window the {role} (version {version.version}) did not learn from; got {day(start)} to "
        f"{day(end)}, and it learned from events of {learned_from}{but}; fix: compare on the retrain's holdout "
        "(the same duration as its holdout=), or on data that came after it"
    )


def _scores(metric: str, truth: np.ndarray, output: np.ndarray, positive: object, rows: np.ndarray) -> np.ndarray:
    """The metric on each row of ``rows`` (row numbers of a resample), all resamples at once."""
    if metric in ("mae", "rmse", "r2"):
        errors = (truth.astype(float) - output.astype(float))[rows]
        if metric == "mae":
            return np.abs(errors).mean(axis=1)
        if metric == "rmse":
            return np.sqrt((errors**2).mean(axis=1))
        resampled = truth.astype(float)[rows]
        total = ((resampled - resampled.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):  # all labels equal: nothing to explain
            return np.where(total > 0, 1 - (errors**2).sum(axis=1) / total, np.nan)
    if metric == "accuracy":
        return (truth == output)[rows].mean(axis=1)
    actual = (truth == positive)[rows]
    if metric == "log_loss":
        # As scikit-learn's log_loss: the probability given to what happened, clipped away from 0.
        eps = np.finfo(float).eps
        given = np.clip(np.where(truth == positive, output, 1 - output), eps, 1)
        return -np.log(given)[rows].mean(axis=1)
    if metric == "roc_auc":
        # The Mann-Whitney form of ROC AUC: how often a positive outranks a negative, ties counting half.
        ranks = stats.rankdata(output.astype(float)[rows], axis=1)
        n_positive, n_negative = actual.sum(axis=1), (~actual).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((ranks * actual).sum(axis=1) - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)
        return np.where((n_positive > 0) & (n_negative > 0), auc, np.nan)
    predicted = (output == positive)[rows]
    tp = (actual & predicted).sum(axis=1)
    fp, fn = (~actual & predicted).sum(axis=1), (actual & ~predicted).sum(axis=1)
    numerator, denominator = {"precision": (tp, tp + fp), "recall": (tp, tp + fn), "f1": (2 * tp, 2 * tp + fp + fn)}[metric]
    with np.errstate(divide="ignore", invalid="ignore"):  # as zero_division=nan: nothing to measure
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _output(fitted: Any, X: pd.DataFrame, metric: str, positive: object) -> np.ndarray:
    if metric in ("roc_auc", "log_loss"):
        classes = list(fitted.classes_)
        if positive not in classes:
            raise DataError(
                f"expected positive={positive!r} to be one of the model's classes {classes!r}; got it missing; "
                "fix: pass positive= one of those classes"
            )
        return fitted.predict_proba(X)[:, classes.index(positive)]
    return np.asarray(fitted.predict(X))
