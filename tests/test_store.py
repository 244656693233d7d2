"""The prediction store: what is logged comes back, labels join once, and nothing is lost or doubled."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import LabelError, LabkitError
from labkit.store import Batch, PredictionStore, seconds_since_epoch


def rows(ids, *, day: str = "2013-01-01", version: int = 1, model: str = "weather") -> list[dict]:
    return [
        {
            "request_id": request_id,
            "event_time": pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=i),
            "arrival_time": "2020-06-01T12:00:00Z",
            "model_name": model,
            "model_version": version,
            "inputs": {"wind": 1.5 + i, "weather": "sun"},
            "prediction": i % 2 == 0,
            "probabilities": {"False": 0.25, "True": 0.75},
            "latency_ms": 2.0,
        }
        for i, request_id in enumerate(ids)
    ]


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    with PredictionStore(tmp_path / "monitor.db") as opened:
        yield opened


def test_what_is_logged_comes_back_as_a_frame(store):
    store.log(rows(["a", "b", "c"]))

    frame = store.frame()

    assert list(frame.columns) == [
        "request_id", "event_time", "arrival_time", "model_name", "model_version", "wind", "weather",
        "prediction", "proba_False", "proba_True", "latency_ms", "label", "label_time",
    ]
    assert frame["request_id"].tolist() == ["a", "b", "c"]
    assert frame["event_time"].tolist() == list(pd.date_range("2013-01-01", periods=3, freq="h", tz="UTC"))
    assert str(frame["arrival_time"].dt.tz) == "UTC"
    assert frame["wind"].tolist() == [1.5, 2.5, 3.5]
    assert frame["prediction"].tolist() == [True, False, True]
    assert frame["label"].isna().all() and frame["label_time"].isna().all()
    assert len(store) == 3


def test_frame_filters_by_time_model_version_and_labels(store):
    store.log(rows(["a", "b"], day="2013-01-01"))
    store.log(rows(["c", "d"], day="2013-02-01", version=2))
    store.log(rows(["e"], day="2013-02-01", model="other"))
    store.add_labels(["a", "c"], [True, False])

    assert store.frame("2013-02-01")["request_id"].tolist() == ["c", "e", "d"]
    assert store.frame(end="2013-01-01T01:00:00Z")["request_id"].tolist() == ["a"]
    assert store.frame(model="weather", version=2)["request_id"].tolist() == ["c", "d"]
    assert store.frame(labelled=True)["request_id"].tolist() == ["a", "c"]
    assert store.frame(labelled=False)["request_id"].tolist() == ["b", "e", "d"]
    assert PredictionStore(store.path.parent / "none.db").frame().empty


def test_labels_join_by_request_id_and_unknown_ids_are_reported(store):
    store.log(rows(["a", "b", "c"]))

    report = store.add_labels(["c", "zzz", "a"], [False, True, True], at="2013-01-05T09:00:00Z")

    assert (report.matched, report.unknown) == (2, ["zzz"])
    labels = store.frame().set_index("request_id")
    assert labels.loc["a", "label"] is True and labels.loc["c", "label"] is False
    assert pd.isna(labels.loc["b", "label"])
    assert labels.loc["a", "label_time"] == pd.Timestamp("2013-01-05T09:00:00Z")


def test_a_second_label_is_refused_and_nothing_of_its_batch_is_written(store):
    store.log(rows(["a", "b"]))
    store.add_labels(["a"], [True])

    with pytest.raises(LabelError, match=r"got 1 already labelled \(\['a'\]\); a label is never overwritten") as caught:
        store.add_labels(["b", "a"], [False, False])

    assert caught.value.request_ids == ["a"]
    labels = store.frame().set_index("request_id")["label"]
    assert labels["a"] is True and pd.isna(labels["b"])  # b, in the refused batch, was not written either


@pytest.mark.parametrize(
    "ids, labels, message",
    [
        (["a", "a"], [True, False], r"expected each request id once in a batch; got \['a'\]"),
        (["a"], [True, False], "expected one label per request id; got 1 ids and 2 labels"),
    ],
)
def test_malformed_label_batches_are_refused(store, ids, labels, message):
    store.log(rows(["a"]))
    with pytest.raises(LabelError, match=message):
        store.add_labels(ids, labels)
    assert store.frame(labelled=True).empty


def test_a_request_id_is_logged_once(store):
    store.log(rows(["a"]))
    with pytest.raises(LabkitError, match="expected new request ids; got one already in"):
        store.log(rows(["b", "a"]))
    assert store.frame()["request_id"].tolist() == ["a"]  # all or none: b went with the refused batch


def batch(*, prefix: str | None = None, ids: list[str] | None = None, n: int = 3, **changes) -> Batch:
    """A request of ``n`` records as a service hands it over: named by a prefix, or by listed ids."""
    values = dict(
        request_prefix=prefix, request_ids=ids, event_times=1356998400.0, arrival_time=1356998400.0,
        model_name="weather", model_version=1, inputs=[{"wind": float(i)} for i in range(n)],
        predictions=np.arange(n) % 2 == 0, classes=[False, True], probabilities=np.full((n, 2), 0.5), latency_ms=1.0,
    )
    return Batch(**{**values, **changes})


def test_ids_named_by_a_prefix_come_back_and_take_labels(store):
    store.log_batches([batch(prefix="7f3a", n=3), batch(ids=["x", "y"], n=2)])

    frame = store.frame()
    assert frame["request_id"].tolist() == ["7f3a-0", "7f3a-1", "7f3a-2", "x", "y"]
    assert frame["prediction"].tolist() == [True, False, True, True, False]
    assert (frame["event_time"] == pd.Timestamp("2013-01-01", tz="UTC")).all()  # one time, kept once, for all
    assert len(store) == 5
    # Only a record's own number names it: not one past the end, not "01", not the bare prefix.
    report = store.add_labels(["7f3a-2", "x", "7f3a-3", "7f3a-01", "7f3a", "7f3-0"], [True] * 6)
    assert (report.matched, report.unknown) == (2, ["7f3a-3", "7f3a-01", "7f3a", "7f3-0"])
    with pytest.raises(LabelError, match=r"got 1 already labelled \(\['7f3a-2'\]\)"):
        store.add_labels(["7f3a-0", "7f3a-2"], [False, False])
    assert store.frame(labelled=True)["request_id"].tolist() == ["7f3a-2", "x"]


def test_a_request_named_by_a_prefix_is_one_index_entry(store):
    store.log_batches([batch(prefix="7f3a", n=1000)])

    with sqlite3.connect(store.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM request_ids").fetchone() == (0,)
    assert len(store) == 1000


@pytest.mark.parametrize(
    "first, second",
    [
        (dict(prefix="7f3a"), dict(prefix="7f3a")),
        (dict(prefix="7f3a"), dict(ids=["y", "7f3a-2", "z"])),
        (dict(ids=["y", "7f3a-2", "z"]), dict(prefix="7f3a")),
    ],
)
def test_an_id_named_twice_is_refused_however_it_is_named(store, first, second):
    store.log_batches([batch(**first)])
    with pytest.raises(LabkitError, match="expected new request ids; got one already in"):
        store.log_batches([batch(prefix="new"), batch(**second)])
    assert len(store) == 3  # all or none: the batch named "new" went with the refused one


def test_ids_that_only_look_alike_are_not_named_twice(store):
    store.log_batches([batch(prefix="7f3a", n=2), batch(ids=["7f3a-2", "7f3a-01", "7f3a-x-0"])])
    assert len(store) == 5


def test_without_autocheckpoint_commits_stay_in_the_log_until_a_checkpoint(tmp_path):
    store = PredictionStore(tmp_path / "monitor.db", autocheckpoint=False)
    text = {"weather": "a fairly long value that fills the log " * 2}
    store.log_batches([batch(prefix=f"p{i}", n=1000, inputs=[text] * 1000) for i in range(60)])  # about 6 MB
    before = store.path.stat().st_size  # SQLite would have copied the log into the file at 4 MB

    store.checkpoint()

    assert store.path.stat().st_size > before + 4_000_000
    assert len(store) == 60_000


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(predictions=[True]), r"expected one of predictions per record \(3\); got 1"),
        (dict(probabilities=[[0.5, 0.5]] * 4), r"expected one of probabilities per record \(3\); got 4"),
        (dict(event_times=[0.0, 1.0]), r"expected one of event_times per record \(3\); got 2"),
        (dict(request_ids=["a"]), "expected a batch named by request_prefix or by request_ids; got both"),
        (dict(request_prefix=None), "expected a batch named by request_prefix or by request_ids; got neither"),
    ],
)
def test_a_batch_that_does_not_hold_one_of_each_per_record_is_refused(store, changes, message):
    with pytest.raises(LabkitError, match=message):
        store.log_batches([batch(prefix="ok", n=1), batch(prefix="7f3a", **changes)])
    assert len(store) == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2013-01-01T00:00:00Z", 1356998400.0),
        ("2013-01-01", 1356998400.0),  # naive times are UTC
        ("2013-01-01T01:00:00+01:00", 1356998400.0),
        ("2016-12-31T23:59:60Z", 1483228800.0),  # a leap second is the next second
    ],
)
def test_times_are_read_as_utc(text, expected):
    assert seconds_since_epoch(text) == expected


def test_a_time_that_is_not_one_is_named():
    with pytest.raises(LabkitError, match=r"expected a time in ISO 8601, such as .*; got 'soon'"):
        seconds_since_epoch("soon")


def _log_from_threads(path: str, process: int, threads: int, per_thread: int) -> None:
    def work(thread: int) -> None:
        with PredictionStore(path) as mine:
            for start in range(0, per_thread, 1000):
                mine.log(rows([f"p{process}-t{thread}-{i}" for i in range(start, min(start + 1000, per_thread))]))

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_threads_in_several_processes_lose_and_double_nothing(tmp_path):
    path, processes, threads, per_thread = str(tmp_path / "monitor.db"), 2, 4, 50_000
    PredictionStore(path).frame()  # nothing yet: the file is made by the writers, whoever comes first
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_log_from_threads, args=(path, p, threads, per_thread)) for p in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert worker.exitcode == 0

    with PredictionStore(path) as store:
        ids = store.frame()["request_id"]
    assert len(ids) == processes * threads * per_thread
    assert ids.is_unique


# Through a service --------------------------------------------------------------------


@pytest.fixture
def logged(weather_registry, tmp_path):
    """A deployment that logs to tmp_path / "monitor.db"."""
    with lk.deploy(weather_registry, "weather", store=tmp_path / "monitor.db", max_rows=50) as dep:
        yield dep


def test_a_service_logs_every_prediction_with_its_event_time_and_labels_come_back(logged, weather_split, weather_model, tmp_path):
    _, production = weather_split
    days = production.head(120)
    answer = logged.client.predict(days[list(lk.data.FEATURES)], event_times=days["date"].dt.tz_localize("UTC"))
    report = logged.client.feedback(answer["request_id"][:100], days["rain_tomorrow"][:100], at="2013-06-01T00:00:00Z")

    assert report == {"matched": 100, "unknown": []}
    frame = PredictionStore(tmp_path / "monitor.db").frame()
    assert frame["request_id"].tolist() == answer["request_id"].tolist()
    assert frame["event_time"].tolist() == days["date"].dt.tz_localize("UTC").tolist()
    assert frame["prediction"].tolist() == weather_model.predict(days[list(lk.data.FEATURES)]).tolist()
    np.testing.assert_allclose(frame["proba_True"], weather_model.predict_proba(days[list(lk.data.FEATURES)])[:, 1])
    assert frame[list(lk.data.FEATURES)].reset_index(drop=True).equals(days[list(lk.data.FEATURES)].reset_index(drop=True))
    assert (frame["model_name"] == "weather").all() and (frame["model_version"] == 1).all()
    assert (frame["latency_ms"] > 0).all()
    assert frame["label"].notna().sum() == 100
    assert frame["label"][:100].tolist() == days["rain_tomorrow"][:100].tolist()


@pytest.mark.parametrize(
    "body, message",
    [
        ({"records": [], "event_times": []}, None),
        ({"event_time": "soon"}, r"expected event_time to be an ISO 8601 time such as .*; got \"soon\""),
        ({"event_times": ["2013-01-01"] * 2}, r"expected event_times to hold one time per record \(1\); got an array of 2"),
        ({"event_time": "2013-01-01", "event_times": ["2013-01-01"]}, "expected event_time or event_times, not both"),
        # Kept, a time pandas cannot hold would make every later store.frame() fail.
        ({"event_time": "0003-01-01T00:00:00Z"}, r"expected event_time between 1677-09-22 and 2262-04-11, .*; got \"0003"),
        ({"event_times": ["9999-12-31T23:59:60Z"]}, r"expected event_times\[0\] between 1677-09-22 and 2262-04-11"),
    ],
)
def test_event_times_that_do_not_fit_are_refused(logged, weather_split, body, message):
    _, production = weather_split
    record = production[list(lk.data.FEATURES)].head(1).to_dict(orient="records")
    payload = {"records": record, **body} if "records" not in body else body
    response = httpx.post(f"{logged.url}/predict", json=payload)
    assert response.status_code == 422
    if message is not None:
        assert re.search(message, response.json()["message"]), response.json()["message"]


def test_feedback_is_refused_clearly(logged, weather_split, tmp_path):
    assert httpx.post(f"{logged.url}/feedback", json={"labels": []}).status_code == 400
    bad = httpx.post(f"{logged.url}/feedback", json={"labels": [{"label": True}]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", 0]
    _, production = weather_split
    [request_id] = logged.client.predict(production[list(lk.data.FEATURES)].head(1))["request_id"]
    ancient = httpx.post(f"{logged.url}/feedback", json={"labels": [{"request_id": request_id, "label": True}],
                                                          "label_time": "0001-01-01T00:00:00Z"})
    assert ancient.status_code == 422 and "expected label_time between 1677-09-22" in ancient.json()["message"]
    assert PredictionStore(tmp_path / "monitor.db").frame()["label"].isna().all()  # still readable, nothing attached


def test_a_service_without_a_store_has_no_feedback(weather_registry):
    with lk.deploy(weather_registry, "weather") as dep:
        with pytest.raises(lk.errors.ServiceError) as caught:
            dep.client.feedback(["x"], [True])
    assert caught.value.status == 404


def test_every_answered_prediction_survives_a_sigkill_of_the_server(weather_registry, weather_split, tmp_path):
    _, production = weather_split
    record = production[list(lk.data.FEATURES)].head(1).to_dict(orient="records")
    path = tmp_path / "monitor.db"
    dep = lk.deploy(weather_registry, "weather", store=path)
    answered: list[str] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=dep.url, timeout=5) as client:
            while not stop.is_set():
                try:
                    response = client.post("/predict", json={"records": record})
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code == 200:
                    answered.extend(response.json()["request_ids"])

    senders = [threading.Thread(target=send) for _ in range(8)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 60
    while len(answered) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(dep.pid, signal.SIGKILL)  # mid-load: requests in flight, commits in progress
    stop.set()
    for sender in senders:
        sender.join(30)
    dep.stop()

    stored = set(PredictionStore(path).frame()["request_id"])
    assert len(answered) >= 300
    assert set(answered) <= stored  # every answer a client got is in the store


def test_alerts_without_their_columns_are_refused_by_name(store):
    alerts = pd.DataFrame({"time": [pd.Timestamp("2013-01-01", tz="UTC")], "rule": ["r"], "message": ["m"]})

    with pytest.raises(LabkitError, match=r"expected alerts with the columns .*missing \['measure', 'value', 'threshold'\]"):
        store.add_alerts(alerts)


def test_refusals_come_back_in_event_time_order_and_filter_by_event_time(store):
    store.log_refusal("/feedback", 409, "LABEL_CONFLICT", event_time="2013-01-03T00:00:00Z",
                      arrival_time="2020-06-01T12:00:00Z", model_name="weather", model_version=2)
    store.log_refusal("/predict", 422, "BAD_REQUEST", event_time="2013-01-01T00:00:00Z", arrival_time="2020-06-01T12:00:01Z")
    store.log_refusal("/invocations", 400, "MALFORMED_REQUEST", arrival_time="2013-01-02T00:00:00Z")

    refusals = store.refusals()

    assert list(refusals.columns) == ["event_time", "arrival_time", "endpoint", "status", "error_code",
                                      "model_name", "model_version"]
    assert refusals["endpoint"].tolist() == ["/predict", "/invocations", "/feedback"]
    assert refusals["event_time"].tolist() == list(pd.date_range("2013-01-01", periods=3, freq="D", tz="UTC"))
    # Without an event time, a refusal is timed by its arrival, as a prediction is.
    assert refusals["arrival_time"].iloc[1] == refusals["event_time"].iloc[1]
    assert refusals["status"].tolist() == [422, 400, 409]
    assert refusals["model_version"].tolist() == [pd.NA, pd.NA, 2]
    assert store.refusals("2013-01-02", "2013-01-03")["endpoint"].tolist() == ["/invocations"]
    assert PredictionStore(store.path.parent / "none.db").refusals().empty


def test_requests_are_one_row_per_answered_request_with_its_records_and_latency(store):
    store.log(rows(["a", "b", "c"], day="2013-01-02"))
    store.log(rows(["d"], day="2013-01-01", version=2))

    requests = store.requests()

    assert list(requests.columns) == ["event_time", "arrival_time", "model_name", "model_version", "records", "latency_ms"]
    assert requests["records"].tolist() == [1, 3]
    assert requests["model_version"].tolist() == [2, 1]
    assert requests["event_time"].tolist() == [pd.Timestamp("2013-01-01", tz="UTC"), pd.Timestamp("2013-01-02", tz="UTC")]
    assert requests["latency_ms"].tolist() == [2.0, 2.0]
    assert store.requests(start="2013-01-02")["records"].tolist() == [3]
    assert PredictionStore(store.path.parent / "none.db").requests().empty

def test_one_store_used_from_two_threads_keeps_their_transactions_apart(store):
    # A service does this: the recorder commits in one thread while /feedback labels in another.
    store.log_batches([batch(prefix="first", n=1)])
    errors = []

    def commit() -> None:
        try:
            for i in range(300):
                store.log_batches([batch(prefix=f"p{i}", n=1)])
        except Exception as error:  # collected: an exception in a thread would not fail the test
            errors.append(error)

    writer = threading.Thread(target=commit)
    writer.start()
    labelled = 0
    try:
        while writer.is_alive():
            labelled += store.add_labels([f"p{labelled}-0"], [True]).matched
    except Exception as error:
        errors.append(error)
    writer.join()

    assert errors == []
    assert len(store) == 301 and len(store.frame(labelled=True)) == labelled
