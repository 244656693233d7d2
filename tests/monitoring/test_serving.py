"""Serving over time: requests, latency per request and the error rate, from the store and from a real service."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError
from labkit.monitoring.alerts import Rule, evaluate
from labkit.monitoring.serving import SERVICE_MEASURES, service_over_time
from labkit.store import PredictionStore


def request(store: PredictionStore, name: str, at: str, *, records: int = 1, latency_ms: float = 5.0) -> None:
    store.log([
        {"request_id": f"{name}-{i}", "event_time": at, "model_name": "weather", "model_version": 1,
         "inputs": {"wind": 1.0}, "prediction": True, "probabilities": None, "latency_ms": latency_ms}
        for i in range(records)
    ])


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    with PredictionStore(tmp_path / "monitor.db") as opened:
        yield opened


def test_each_window_counts_requests_refusals_records_and_feedback_refusals(store):
    request(store, "a", "2013-01-01T01:00:00Z", records=3)
    request(store, "b", "2013-01-01T02:00:00Z")
    store.log_refusal("/predict", 422, "BAD_REQUEST", event_time="2013-01-01T03:00:00Z")
    store.log_refusal("/feedback", 409, "LABEL_CONFLICT", event_time="2013-01-01T04:00:00Z")
    store.log_refusal("/invocations", 400, "BAD_REQUEST", event_time="2013-01-03T00:00:00Z")

    table = service_over_time(store, window="1D")

    assert list(table.columns) == ["start", "end", *SERVICE_MEASURES]
    assert table["start"].tolist() == list(pd.date_range("2013-01-01", periods=3, freq="D", tz="UTC"))
    assert table["requests"].tolist() == [3, 0, 1]
    assert table["refused"].tolist() == [1, 0, 1]
    assert table["records"].tolist() == [4, 0, 0]
    assert table["feedback_refused"].tolist() == [1, 0, 0]
    np.testing.assert_allclose(table["error_rate"], [1 / 3, np.nan, 1.0])
    assert np.isnan(table["latency_p50_ms"].iloc[1]) and np.isnan(table["latency_p95_ms"].iloc[2])


def test_latency_is_read_per_request_not_per_record(store):
    request(store, "big", "2013-01-01T00:00:00Z", records=1000, latency_ms=2.0)
    for i in range(3):
        request(store, f"slow{i}", f"2013-01-01T0{i + 1}:00:00Z", latency_ms=100.0)

    table = service_over_time(store, window="1D")

    # Per record, 1000 of 1003 waits are 2 ms and the median would be 2; per request it is 100.
    assert table["latency_p50_ms"].tolist() == [100.0]
    assert table["records"].tolist() == [1003]
    assert table["latency_p99_ms"].iloc[0] == pytest.approx(np.percentile([2.0, 100, 100, 100], 99))


def test_start_and_end_keep_event_times_in_between(store):
    for day in range(1, 6):
        request(store, f"d{day}", f"2013-01-0{day}T12:00:00Z")
        store.log_refusal("/predict", 422, "BAD_REQUEST", event_time=f"2013-01-0{day}T13:00:00Z")

    table = service_over_time(store, window="1D", start="2013-01-02", end="2013-01-04")

    assert table["start"].dt.strftime("%d").tolist() == ["02", "03"]
    assert table["error_rate"].tolist() == [0.5, 0.5]


def test_an_empty_store_gives_an_empty_table_that_rules_can_read(tmp_path):
    table = service_over_time(PredictionStore(tmp_path / "none.db"))

    assert table.empty and list(table.columns) == ["start", "end", *SERVICE_MEASURES]
    assert evaluate([Rule(name="refusing", measure="error_rate", above=0.1)], table, time_column="start").empty


@pytest.mark.parametrize(
    ("source", "window", "message"),
    [
        ("monitor.db", "1D", r"expected a labkit.PredictionStore; got str; fix: pass lk.PredictionStore\(path\)"),
        (None, 60, r"expected window to be a pandas offset such as '1h', '1D' or '7D'; got 60"),
        (None, "daily", r"expected window to be a pandas offset such as '1h', '1D' or '7D'; got 'daily'"),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_fix(store, source, window, message):
    request(store, "a", "2013-01-01T00:00:00Z")
    with pytest.raises(DataError, match=message):
        service_over_time(source if source is not None else store, window=window)


def test_refusals_of_a_real_service_raise_its_error_rate_and_an_alert(champion_registry, weather_split, tmp_path):
    _, production = weather_split
    days = production.head(4)
    good = days[list(lk.data.FEATURES)].to_dict(orient="records")
    path = tmp_path / "monitor.db"
    with lk.deploy(champion_registry, "weather", store=path) as dep:
        for day, record in zip(days["date"].dt.strftime("%Y-%m-%dT00:00:00Z"), good):
            assert httpx.post(f"{dep.url}/predict", json={"records": [record], "event_time": day}).status_code == 200
        # The third day, an upstream system starts sending a category the model never saw.
        third = days["date"].dt.strftime("%Y-%m-%dT06:00:00Z").iloc[2]
        for _ in range(3):
            hail = {"records": [{**good[2], "weather": "hail"}], "event_time": third}
            assert httpx.post(f"{dep.url}/predict", json=hail).status_code == 422

    table = service_over_time(PredictionStore(path), window="1D")
    alerts = evaluate([Rule(name="refusing", measure="error_rate", above=0.5)], table, time_column="start")

    assert table["requests"].tolist() == [1, 1, 4, 1]
    assert table["error_rate"].tolist() == [0.0, 0.0, 0.75, 0.0]
    assert (table["latency_p50_ms"] > 0).all()
    assert alerts["time"].tolist() == [table["start"].iloc[2]]
