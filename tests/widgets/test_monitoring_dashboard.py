"""The monitoring dashboard, driven without a browser: controls in, pictures and a summary out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.store import PredictionStore
from labkit.widgets import MonitoringDashboard
from labkit.widgets.monitoring_dashboard import dashboard_figures


@pytest.fixture
def store(tmp_path) -> PredictionStore:
    """120 days of logged predictions, the first 100 labelled (right 3 times in 4)."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2013-01-01", periods=120, freq="D", tz="UTC")
    store = PredictionStore(tmp_path / "monitor.db")
    store.log([
        {"request_id": f"r-{i}", "event_time": day, "model_name": "weather", "model_version": 1,
         "inputs": {"wind": float(rng.normal(3 + (i > 60), 1))}, "prediction": bool(i % 2),
         "probabilities": {"False": 0.4, "True": 0.6}, "latency_ms": 1.0}
        for i, day in enumerate(days)
    ])
    labels = [bool(i % 2) if i % 4 else not bool(i % 2) for i in range(100)]
    store.add_labels([f"r-{i}" for i in range(100)], labels)
    return store


@pytest.fixture
def reference() -> pd.DataFrame:
    return pd.DataFrame({"wind": np.random.default_rng(1).normal(3, 1, 500)})


def test_refresh_draws_the_metric_and_the_feature_and_says_what_it_read(store, reference):
    dashboard = MonitoringDashboard(store, reference=reference)

    dashboard.refresh_button.click()

    assert dashboard.status.value.startswith("120 predictions, 100 labelled; last window: accuracy 0.")
    assert dashboard.metric_image.value[:4] == b"\x89PNG" and dashboard.feature_image.value[:4] == b"\x89PNG"
    assert dashboard.feature.options == ("wind",)


def test_the_controls_change_what_is_drawn(store, reference):
    dashboard = MonitoringDashboard(store, reference=reference)
    dashboard.refresh_button.click()
    monthly = dashboard.metric_image.value

    dashboard.window.value = "7D"
    dashboard.refresh_button.click()

    assert dashboard.metric_image.value != monthly
    # The last 7-day window with labels holds 2013-04-09 and -10: two labels.
    assert dashboard.status.value.endswith("on 2 labels")


def test_the_function_behind_it_is_usable_directly(store, reference):
    over_time, spread, summary = dashboard_figures(store.frame(), reference, window="30D", metric="accuracy", feature="wind")
    # January: 30 labelled days, wrong on days 0, 4, ..., 28 (8 of them).
    assert over_time.axes[0].get_lines()[0].get_ydata().tolist()[0] == pytest.approx(22 / 30)
    assert spread is not None and summary.startswith("120 predictions")


def test_a_problem_shows_in_the_status_line(tmp_path, reference):
    dashboard = MonitoringDashboard(PredictionStore(tmp_path / "empty.db"), reference=reference)
    dashboard.refresh_button.click()
    assert dashboard.status.value.startswith("cannot draw: ")
    assert dashboard.metric_image.value == b""
