"""Retrain: fit a fresh copy of the champion on what production has taught since, and register it as the challenger.

The new version learns from the logged predictions whose labels came back: their inputs
are what the model will meet, and their labels are the truth. Three rules keep it honest,
so that its score on later data means what it says:

- **No future.** At ``now`` only the events before ``now`` whose labels had arrived by
  ``now`` exist, even if the store (in a replay) already holds later ones.
- **No test data.** The ``holdout`` window is kept out of training, so the challenger and
  the champion can be compared on it by :func:`labkit.maintenance.compare`.
- **A fresh copy.** ``sklearn.base.clone`` copies the champion's pipeline and settings,
  not what it learned: the new version is fitted from scratch, and differs from the
  champion only by its data.

The window is **sliding** (``window="90D"``: the last 90 days, forgetting older ones, so
the model follows the seasons) or **expanding** (``since="2013-01-01"``: everything since,
so it keeps what it learned), optionally mixed with the original training data.

The new version's lineage (parent, data window, holdout, rows, what triggered it) is kept
in its ``meta.json`` and shown in its card, and the ``challenger`` alias points at it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pandas as pd
from sklearn.base import clone

from labkit.errors import DataError
from labkit.maintenance._known import as_span, as_time, known_at, span_words
from labkit.maintenance.policies import Decision
from labkit.monitoring._frames import is_labelled, known_labels
from labkit.registry import ModelVersion, Registry
from labkit.store import PredictionStore

__all__ = ["retrain", "training_rows"]


def training_rows(
    store: PredictionStore,
    *,
    now: Any,
    window: str | timedelta | None = None,
    since: Any = None,
    holdout: str | timedelta | tuple[Any, Any] | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """The logged, labelled rows a retrain at ``now`` may learn from.

    Parameters
    ----------
    store
        The prediction store.
    now
        The moment of the retrain: only events before it, with labels that had arrived
        by it, are used.
    window, since
        Exactly one: the last ``window`` of events before ``now`` (sliding), or every
        event from ``since`` on (expanding).
    holdout
        Events kept out for comparison: a ``(start, end)`` pair (``start <= event_time <
        end``), or a duration, meaning the last one before ``now``.
    model
        Keep only the predictions logged under this model name.

    Returns
    -------
    pandas.DataFrame
        The rows, as :meth:`labkit.PredictionStore.frame` returns them, oldest first.

    Raises
    ------
    DataError
        Both or neither of ``window`` and ``since``, or a time or duration that is not one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import labkit as lk
    >>> store = lk.PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
    >>> store.log([{"request_id": f"r{day}", "event_time": f"2013-01-{day:02d}", "model_name": "demo",
    ...             "model_version": 1, "inputs": {"wind": float(day)}, "prediction": True,
    ...             "probabilities": None, "latency_ms": 1.0} for day in range(1, 11)])
    >>> _ = store.add_labels([f"r{day}" for day in range(1, 11)], [True] * 10, at="2013-01-08")
    >>> rows = training_rows(store, now="2013-01-09", window="7D", holdout="2D")
    >>> rows["request_id"].tolist()  # r1 is too old, r7 and r8 held out, r9 and r10 not yet happened
    ['r2', 'r3', 'r4', 'r5', 'r6']
    """
    now = as_time(now, what="now")
    start, _ = _window(now, window, since)
    frame = known_at(store, now, start=start, model=model)
    if frame.empty:
        return frame
    keep = is_labelled(frame["label"])
    span = _holdout(now, holdout)
    if span is not None:
        keep &= ~((frame["event_time"] >= span[0]) & (frame["event_time"] < span[1]))
    return frame[keep].reset_index(drop=True)


def retrain(
    registry: Registry,
    name: str,
    *,
    store: PredictionStore,
    now: Any,
    window: str | timedelta | None = None,
    since: Any = None,
    holdout: str | timedelta | tuple[Any, Any] | None = None,
    original: tuple[pd.DataFrame, Any] | None = None,
    decision: Decision | None = None,
    reason: str = "",
    parent: str = "champion",
    alias: str = "challenger",
    model: str | None = None,
    trusted: Iterable[str] = (),
) -> ModelVersion:
    """Fit a fresh copy of the ``parent`` version's model on production data, register it, and make it the challenger.

    Parameters
    ----------
    registry, name
        The registry and the model's name.
    store
        The prediction store the model's predictions and labels are logged in.
    now
        The moment of the retrain (a simulated time in a replay): see :func:`training_rows`.
    window, since, holdout
        Which rows to learn from, as in :func:`training_rows`.
    original
        The original training data ``(X, y)``, to learn from too: the new version then
        keeps what the first one knew (at the cost of learning the new more slowly).
    decision
        The policy's decision that triggered this retrain: recorded in the lineage, so
        the policy does not trigger again for the same incident.
    reason
        Why, in words, for the history and the card (default: the decision's reason).
    parent
        The alias of the version to copy (its pipeline and its input columns).
    alias
        The alias to point at the new version.
    model
        The model name in the store, if it differs from ``name``.
    trusted
        Type names to trust when loading the parent, as in :meth:`labkit.Registry.load`.

    Returns
    -------
    ModelVersion
        The new version; its ``lineage`` holds ``parent``, ``trained_at`` (``now``),
        ``window``, ``holdout``, ``rows`` (production, original, total), ``request_ids_sha256``
        (of the sorted request ids learned from), ``trigger`` and ``reason``.

    Raises
    ------
    DataError
        No labelled rows to learn from, rows without the parent's input columns, or a
        bad window (see :func:`training_rows`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(size=40)})
    >>> y = X["wind"] > 0
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(LogisticRegression().fit(X, y), name="demo", X=X, y=y)
    >>> _ = reg.promote("demo", version=1, alias="champion")
    >>> store = lk.PredictionStore(folder / "monitor.db")
    >>> wind = rng.normal(size=60)
    >>> store.log([{"request_id": f"r{i}", "event_time": pd.Timestamp("2013-01-01") + pd.Timedelta(days=i),
    ...             "model_name": "demo", "model_version": 1, "inputs": {"wind": w}, "prediction": bool(w > 0),
    ...             "probabilities": None, "latency_ms": 1.0} for i, w in enumerate(wind)])
    >>> _ = store.add_labels([f"r{i}" for i in range(60)], wind > 0.5, at="2013-03-15")  # the world moved
    >>> v2 = retrain(reg, "demo", store=store, now="2013-03-15", window="60D", holdout="14D", reason="rain came later")
    >>> v2, reg.aliases("demo")
    (ModelVersion(name='demo', version=2), {'champion': 1, 'challenger': 2})
    >>> v2.lineage["rows"], v2.lineage["window"]["start"]
    ({'production': 46, 'original': 0, 'total': 46}, '2013-01-14T00:00:00+00:00')
    >>> print(v2.card.split("## Lineage")[1].split("##")[0].strip())
    - Retrained from version 1.
    - Production data: events from 2013-01-14T00:00:00+00:00 to 2013-03-15T00:00:00+00:00 (the last 60 days), labels known by 2013-03-15T00:00:00+00:00.
    - Held out for comparison: events from 2013-03-01T00:00:00+00:00 to 2013-03-15T00:00:00+00:00.
    - Rows: 46 from production and 0 from the original training data, 46 in all.
    - Why: rain came later
    """
    now = as_time(now, what="now")
    start, span = _window(now, window, since)
    if decision is not None and not isinstance(decision, Decision):
        raise DataError(
            f"expected decision to be a Decision from policy.decide(store, now); got {type(decision).__name__}; "
            "fix: pass the decision itself, or leave it out and say why in reason="
        )
    parent_version = registry.get(name, alias=parent)
    features = list(parent_version.schema.names)
    rows = training_rows(store, now=now, window=window, since=since, holdout=holdout, model=model or name)
    if rows.empty:
        raise DataError(
            f"expected labelled rows of model {model or name!r} with events from {_iso(start) or 'the start'} to "
            f"{_iso(now)} and labels known by then; got none; fix: widen the window, wait for labels, "
            "or check the model name the store logs under"
        )
    missing = [column for column in features if column not in rows.columns]
    if missing:
        raise DataError(
            f"expected the logged inputs to hold the columns version {parent_version.version} learned from, "
            f"{features!r}; got {[c for c in rows.columns if c not in _STORE_COLUMNS]!r}, missing {missing!r}; "
            "fix: retrain from a version with the same inputs as the service logs"
        )
    X = rows[features].reset_index(drop=True)
    # Named as the parent's target, so the new card says what it predicts as the old one did.
    target = (parent_version.meta.get("target") or {}).get("name", "label")
    y = known_labels(rows["label"]).reset_index(drop=True).rename(target)
    n_original = 0
    if original is not None:
        X_original, y_original = _original(original, features)
        n_original = len(X_original)
        X = pd.concat([X_original, X], ignore_index=True)
        y = pd.concat([y_original.rename(target), y], ignore_index=True).infer_objects()
    fresh = clone(registry.load(name, version=parent_version.version, trusted=trusted)).fit(X, y)
    why = reason or (decision.reason if decision is not None else "")
    held = _holdout(now, holdout)
    lineage = {
        "parent": parent_version.version,
        "trained_at": _iso(now),
        "window": {
            "kind": "sliding" if window is not None else "expanding",
            "span": span_words(span) if span is not None else None,
            "start": _iso(start),
            "end": _iso(now),
        },
        "holdout": [_iso(held[0]), _iso(held[1])] if held is not None else None,
        "rows": {"production": len(rows), "original": n_original, "total": len(X)},
        "request_ids_sha256": hashlib.sha256("\n".join(sorted(rows["request_id"])).encode()).hexdigest(),
        "trigger": decision.trigger() if decision is not None else None,
        "reason": why,
    }
    version = registry.register(fresh, name=name, X=X, y=y, notes=why, lineage=lineage, trusted=trusted)
    registry.promote(name, version=version.version, alias=alias,
                     reason=f"retrained from version {parent_version.version}" + (f": {why}" if why else ""))
    return version


_STORE_COLUMNS = {"request_id", "event_time", "arrival_time", "model_name", "model_version", "prediction",
                  "latency_ms", "label", "label_time"}


def _window(now: pd.Timestamp, window: Any, since: Any) -> tuple[pd.Timestamp | None, pd.Timedelta | None]:
    if (window is None) == (since is None):
        raise DataError(
            f"expected window= (sliding: the last N days) or since= (expanding: everything from a date), exactly one; "
            f"got window={window!r}, since={since!r}; fix: e.g. window='90D' or since='2013-01-01'"
        )
    if window is not None:
        span = as_span(window, what="window")
        return now - span, span
    start = as_time(since, what="since")
    if start >= now:
        raise DataError(
            f"expected since= before now ({_iso(now)}); got {_iso(start)}; fix: pass an earlier date"
        )
    return start, None


def _holdout(now: pd.Timestamp, holdout: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if holdout is None:
        return None
    if isinstance(holdout, tuple):
        if len(holdout) != 2:
            raise DataError(
                f"expected holdout to be a (start, end) pair or a duration; got {holdout!r}; "
                "fix: e.g. holdout=('2014-01-01', '2014-02-01') or holdout='30D'"
            )
        start, end = as_time(holdout[0], what="holdout start"), as_time(holdout[1], what="holdout end")
        if end <= start:
            raise DataError(
                f"expected the holdout to end after it starts; got {holdout!r}; fix: swap the two times"
            )
        return start, end
    return now - as_span(holdout, what="holdout"), now


def _original(original: Any, features: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    if not (isinstance(original, tuple) and len(original) == 2 and isinstance(original[0], pd.DataFrame)):
        raise DataError(
            f"expected original to be a pair (X, y) with X a DataFrame; got {type(original).__name__}; "
            "fix: pass original=(X_train, y_train)"
        )
    X, y = original
    missing = [column for column in features if column not in X.columns]
    if missing:
        raise DataError(
            f"expected the original X to hold the model's input columns {features!r}; got {list(X.columns)!r}, "
            f"missing {missing!r}; fix: pass the frame the first version was trained on"
        )
    y = pd.Series(y).reset_index(drop=True)
    if len(y) != len(X):
        raise DataError(
            f"expected one original label per row; got {len(X)} rows and {len(y)} labels; fix: pass matching X and y"
        )
    return X[features].reset_index(drop=True), y


def _iso(stamp: pd.Timestamp | None) -> str | None:
    return stamp.isoformat() if stamp is not None else None
