"""ModelClient against real services: chunks, retries, refusals and outages as a caller sees them."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DeploymentError, SchemaError, ServiceError, ServiceUnavailableError

MAX_ROWS = 7


@pytest.fixture(scope="module")
def registry(tmp_path_factory, weather_split, weather_model) -> lk.Registry:
    train, _ = weather_split
    registry = lk.Registry(tmp_path_factory.mktemp("client") / "registry")
    registry.register(weather_model, name="weather", X=train[list(lk.data.FEATURES)], y=train["rain_tomorrow"])
    registry.promote("weather", version=1, alias="champion")
    return registry


@pytest.fixture(scope="module")
def deployment(registry) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather", max_rows=MAX_ROWS) as dep:
        yield dep


@pytest.fixture
def rows(weather_split) -> pd.DataFrame:
    """50 production days, indexed by date as a caller's frame would be."""
    _, production = weather_split
    return production.set_index("date")[list(lk.data.FEATURES)].head(50)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_frame_larger_than_the_row_limit_goes_in_chunks_and_comes_back_in_order(deployment, rows, weather_model):
    client = lk.ModelClient(deployment.url)

    answer = client.predict(rows)

    assert client.model_info()["max_rows"] == MAX_ROWS
    assert answer.index.equals(rows.index)
    assert answer["prediction"].tolist() == weather_model.predict(rows).tolist()
    np.testing.assert_allclose(answer[["proba_False", "proba_True"]], weather_model.predict_proba(rows))
    assert (answer["model_version"] == 1).all()
    # Each request's ids share a prefix: 50 rows at 7 a request took 8 requests.
    assert answer["request_id"].is_unique
    assert answer["request_id"].str.rsplit("-", n=1).str[0].nunique() == 8


def test_deployment_predict_is_the_client(deployment, rows):
    assert isinstance(deployment.client, lk.ModelClient)
    assert deployment.client is deployment.client
    pd.testing.assert_frame_equal(
        deployment.predict(rows).drop(columns="request_id"), deployment.client.predict(rows).drop(columns="request_id")
    )


def test_a_refusal_carries_the_services_message_and_detail_with_rows_of_the_whole_frame(deployment, rows):
    bad = rows.copy()
    bad.iloc[15, bad.columns.get_loc("weather")] = "hail"

    with pytest.raises(ServiceError, match="rows 14 to 20 of the frame went as one request, whose record 0 is row 14") as caught:
        lk.ModelClient(deployment.url).predict(bad)

    assert caught.value.status == 422
    assert "record 1, column 'weather'" in str(caught.value)  # the service's own words, as it said them
    assert [item["loc"] for item in caught.value.detail] == [["body", 15, "weather"]]
    assert 'got "hail"' in caught.value.detail[0]["msg"]


def test_a_missing_value_goes_as_null_and_the_service_names_its_record_and_column(deployment, rows):
    gap = rows.head(5).copy()
    gap.iloc[2, gap.columns.get_loc("wind")] = np.nan

    with pytest.raises(ServiceError) as caught:
        lk.ModelClient(deployment.url).predict(gap)

    assert caught.value.status == 422  # a schema refusal, not a body that failed to parse
    assert caught.value.detail[0]["loc"] == ["body", 2, "wind"]
    assert "got null" in caught.value.detail[0]["msg"]


def test_an_infinity_is_refused_before_sending_with_its_record_and_column(rows):
    inf = rows.head(5).copy()
    inf.iloc[3, inf.columns.get_loc("temp_max")] = -np.inf
    client = lk.ModelClient("http://127.0.0.1:9")  # never reached: the frame is refused first

    with pytest.raises(SchemaError, match=r"got infinity at record 3 column 'temp_max'; fix: .*np.nan") as caught:
        client.predict(inf)
    assert (caught.value.problems[0].row, caught.value.problems[0].column) == (3, "temp_max")


def test_an_empty_frame_gives_an_empty_answer_with_the_columns(deployment, rows):
    answer = lk.ModelClient(deployment.url).predict(rows.iloc[:0])

    assert list(answer.columns) == ["prediction", "proba_False", "proba_True", "model_version", "request_id"]
    assert answer.empty


def test_a_wrong_token_is_a_401_and_not_retried(registry):
    with lk.deploy(registry, "weather", token="s3cret") as dep:
        with pytest.raises(ServiceError, match="the service answered 401: expected the header") as caught:
            lk.ModelClient(dep.url, token="wrong", retries=5).model_info()
        assert caught.value.status == 401
        assert lk.ModelClient(dep.url, token="s3cret").model_info()["version"] == 1


def test_a_stopped_service_is_named_with_its_url_and_a_fix(registry):
    dep = lk.deploy(registry, "weather")
    url = dep.url
    dep.stop()

    with pytest.raises(ServiceUnavailableError, match=rf"cannot reach the model service at {url} \(ConnectError.*tried 2 times\); fix: check that the service is running") as caught:
        lk.ModelClient(url, retries=1).health()
    assert caught.value.status is None
    assert isinstance(caught.value, ConnectionError)
    with pytest.raises(DeploymentError, match="its process has stopped"):
        dep.predict(pd.DataFrame({"wind": [1.0]}))


def test_connection_errors_are_retried_until_the_service_comes_up(registry):
    port = _free_port()
    started: list[lk.Deployment] = []
    # The service starts while the client is already knocking: the retries bridge the gap.
    starter = threading.Thread(target=lambda: started.append(lk.deploy(registry, "weather", port=port)))
    client = lk.ModelClient(f"http://127.0.0.1:{port}", retries=8)
    starter.start()
    try:
        assert client.health()["model_version"] == 1
    finally:
        starter.join()
        for dep in started:
            dep.stop()


class _Scripted(BaseHTTPRequestHandler):
    """Answers from a script of (status, body) and counts the requests; for the statuses a
    real service gives only under load (503) and for counting tries."""

    def do_GET(self) -> None:
        self.server.calls += 1  # type: ignore[attr-defined]
        status, body = self.server.script.pop(0) if self.server.script else (200, {"status": "ok"})  # type: ignore[attr-defined]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.calls, server.script = 0, []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_503_is_retried_and_then_answered(scripted):
    busy = {"error_code": "BUSY", "message": "starting", "detail": []}
    scripted.script = [(503, busy), (503, busy)]

    assert lk.ModelClient(_url(scripted), retries=3).health() == {"status": "ok"}
    assert scripted.calls == 3


def test_503_through_every_retry_is_unavailable(scripted):
    scripted.script = [(503, {"message": "busy"})] * 5

    with pytest.raises(ServiceUnavailableError, match=r"it answered 503 \(busy or starting\); tried 3 times") as caught:
        lk.ModelClient(_url(scripted), retries=2).health()
    assert caught.value.status == 503
    assert scripted.calls == 3


@pytest.mark.parametrize("status", [400, 404, 422, 500])
def test_other_errors_are_never_retried(scripted, status):
    scripted.script = [(status, {"error_code": "X", "message": "no", "detail": [{"loc": ["body", 0, "wind"], "msg": "bad"}]})]

    with pytest.raises(ServiceError, match=f"the service answered {status}: no") as caught:
        lk.ModelClient(_url(scripted), retries=4).health()
    assert caught.value.detail == [{"loc": ["body", 0, "wind"], "msg": "bad"}]
    assert scripted.calls == 1
