"""Helpers shared by the maintenance modules: what was known at a moment, and what was retrained before it.

Private: policies, retrain and compare call these, so that all of them agree on one rule,
the one that keeps a simulation honest: at time ``now`` only the events before ``now``
and the labels that had arrived by ``now`` exist.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from labkit.errors import DataError
from labkit.registry import ModelVersion, Registry
from labkit.store import PredictionStore

__all__ = ["as_span", "as_time", "day", "known_at", "retrains", "span_words"]


def as_time(value: Any, *, what: str) -> pd.Timestamp:
    """A UTC timestamp from ISO 8601 text, a datetime or a Timestamp; naive times are UTC."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if value is None or stamp is pd.NaT:
        raise DataError(
            f"expected {what} to be a time such as '2014-01-01'; got {value!r}; "
            "fix: pass ISO 8601 text, a datetime or a pandas.Timestamp"
        )
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def as_span(value: Any, *, what: str) -> pd.Timedelta:
    """A positive duration from a pandas offset such as ``"30D"`` or a timedelta."""
    try:
        span = pd.Timedelta(value) if isinstance(value, (str, timedelta, pd.Timedelta)) else None
    except ValueError:
        span = None
    if span is None or span <= pd.Timedelta(0):
        raise DataError(
            f"expected {what} to be a positive duration such as '30D' or timedelta(days=30); got {value!r}; "
            "fix: pass a pandas offset in days or hours, or a datetime.timedelta"
        )
    return span


def known_at(
    store: PredictionStore, now: pd.Timestamp, *, start: Any = None, end: Any = None, model: str | None = None
) -> pd.DataFrame:
    """The logged predictions with ``start <= event_time < min(end, now)``, as known at ``now``.

    A label that arrived after ``now`` is blanked (``label`` and ``label_time`` empty): in
    a simulation the store already holds it, but at ``now`` nobody knew it yet.
    """
    if not isinstance(store, PredictionStore):
        raise DataError(
            f"expected store to be a labkit.PredictionStore; got {type(store).__name__}; "
            "fix: pass lk.PredictionStore('workspace/monitor.db')"
        )
    stop = now if end is None else min(as_time(end, what="end"), now)
    frame = store.frame(start, stop, model=model)
    if frame.empty:
        return frame
    later = frame["label_time"] > now
    if later.any():
        frame["label"] = frame["label"].astype(object).where(~later, None)
        frame.loc[later, "label_time"] = pd.NaT
    return frame


def retrains(registry: Registry, name: str, now: pd.Timestamp) -> list[ModelVersion]:
    """The versions of ``name`` that :func:`labkit.maintenance.retrain` made at or before ``now``, oldest first.

    A version retrained "later" than ``now`` is left out, so asking about an earlier
    moment of a simulation gives the answer it gave then.
    """
    found = []
    for version in registry.versions(name):
        lineage = version.lineage
        if lineage and lineage.get("trained_at") and as_time(lineage["trained_at"], what="trained_at") <= now:
            found.append(version)
    return sorted(found, key=lambda v: (as_time(v.lineage["trained_at"], what="trained_at"), v.version))


def day(stamp: pd.Timestamp) -> str:
    """A date for a sentence, with the time of day only when there is one."""
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.strftime("%Y-%m-%d %H:%M")


def span_words(span: pd.Timedelta) -> str:
    """A duration for a sentence: "30 days", or "36 hours" when it is not whole days."""
    days = span / pd.Timedelta(days=1)
    return f"{days:g} days" if days == int(days) else f"{span / pd.Timedelta(hours=1):g} hours"
