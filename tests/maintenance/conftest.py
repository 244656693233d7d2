"""Fixtures for the maintenance tests: small registries and stores built by hand, and the weather replayed.

Stores are filled with :meth:`PredictionStore.log` and :meth:`PredictionStore.add_labels`
directly (no server): each row's event time and its label's arrival time are chosen by
the test, which is what the maintenance code must respect.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import labkit as lk


def _log(
    store: lk.PredictionStore,
    *,
    days: Sequence[Any],
    wind: Sequence[float],
    labels: Sequence[Any] | None = None,
    label_at: Any = None,
    prefix: str = "r",
    model: str = "wind",
) -> list[str]:
    """Log one prediction (always True) per day, and their labels all arriving at ``label_at``."""
    ids = [f"{prefix}{i}" for i in range(len(days))]
    store.log([
        {"request_id": request_id, "event_time": pd.Timestamp(day, tz="UTC"), "model_name": model, "model_version": 1,
         "inputs": {"wind": float(w)}, "prediction": True, "probabilities": {"False": 0.4, "True": 0.6},
         "latency_ms": 1.0}
        for request_id, day, w in zip(ids, days, wind)
    ])
    if labels is not None:
        store.add_labels(ids, [bool(v) for v in labels], at=label_at)
    return ids


@pytest.fixture()
def log():
    """Log predictions of the wind model by hand: ``log(store, days=..., wind=..., labels=..., label_at=...)``."""
    return _log


@pytest.fixture()
def wind_registry(tmp_path: Path) -> lk.Registry:
    """A registry whose champion (version 1) predicts rain from the wind alone."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"wind": rng.normal(size=100)})
    y = (X["wind"] > 0).rename("rain")
    registry = lk.Registry(tmp_path / "registry")
    registry.register(LogisticRegression().fit(X, y), name="wind", X=X, y=y)
    registry.promote("wind", version=1, alias="champion")
    return registry


@pytest.fixture()
def store(tmp_path: Path) -> lk.PredictionStore:
    """An empty prediction store."""
    with lk.PredictionStore(tmp_path / "monitor.db") as opened:
        yield opened
