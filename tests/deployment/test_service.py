"""The model service over real HTTP: a uvicorn process started by labkit.deploy, called with httpx.

One deployment serves the whole module (starting one costs about two seconds); a second
one, started with a token, serves the access tests. Every request opens its own
connection, so a request the server mishandles cannot spoil the ones after it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import labkit as lk
from labkit.card import user_card
from labkit.data import FEATURES

MAX_ROWS = 50
BODY_LIMIT = 16 * 2**20  # the service's default largest body; deploy() does not change it
TOKEN = "s3cret"
NUMERIC = ["precipitation", "temp_max", "temp_min", "wind"]
CATEGORIES = ["drizzle", "fog", "rain", "snow", "sun"]
GOOD = {"precipitation": 0.0, "temp_max": 10.0, "temp_min": 5.0, "wind": 3.0, "weather": "sun"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, weather_split, weather_model: Pipeline) -> lk.Registry:
    """The shared model as version 1, the champion, in a registry that lives as long as the module."""
    train, _ = weather_split
    registry = lk.Registry(tmp_path_factory.mktemp("registry"))
    registry.register(weather_model, name="weather", X=train[list(FEATURES)], y=train["rain_tomorrow"])
    registry.promote("weather", version=1, alias="champion")
    return registry


@pytest.fixture(scope="module")
def deployment(registry: lk.Registry) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather", alias="champion", max_rows=MAX_ROWS) as running:
        yield running


@pytest.fixture(scope="module")
def token_deployment(registry: lk.Registry) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather", alias="champion", token=TOKEN) as running:
        yield running


def fresh_connections(url: str) -> httpx.Client:
    """A client that opens a new connection for every request, so one cannot spoil the next."""
    return httpx.Client(base_url=url, timeout=60.0, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture(scope="module")
def client(deployment: lk.Deployment) -> Iterator[httpx.Client]:
    with fresh_connections(deployment.url) as http:
        yield http


@pytest.fixture(scope="module")
def token_client(token_deployment: lk.Deployment) -> Iterator[httpx.Client]:
    with fresh_connections(token_deployment.url) as http:
        yield http


@pytest.fixture(scope="module")
def rows(weather_split) -> pd.DataFrame:
    """Days the model never saw: every 55th day from 2013 on, and the first day of each weather."""
    _, later = weather_split
    chosen = set(later.index[::55]) | set(later.groupby("weather").head(1).index)
    return later.loc[sorted(chosen), list(FEATURES)]


@pytest.fixture(scope="module")
def baseline(client: httpx.Client, rows: pd.DataFrame) -> dict[str, Any]:
    """The service's answer for ``rows`` before any bad request reached it."""
    response = post(client, "/predict", {"records": rows.to_dict(orient="records")})
    assert response.status_code == 200, response.text
    return response.json()


def send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    content: Any = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    headers = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    return client.request(method, path, content=content, headers=headers)


def post(client: httpx.Client, path: str, payload: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return send(client, "POST", path, content=orjson.dumps(payload), headers=headers)


def record(**changes: Any) -> dict[str, Any]:
    """A valid record with some values changed."""
    return {**GOOD, **changes}


def without(*names: str) -> dict[str, Any]:
    """A valid record with some columns left out."""
    return {key: value for key, value in GOOD.items() if key not in names}


def split_of(records: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}}


def assert_still_serving(
    deployment: lk.Deployment, client: httpx.Client, rows: pd.DataFrame, baseline: dict[str, Any]
) -> None:
    """The process is alive, healthy, and gives exactly the answers it gave before."""
    assert deployment.running
    health = send(client, "GET", "/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    again = post(client, "/predict", {"records": rows.to_dict(orient="records")}).json()
    assert again["predictions"] == baseline["predictions"]
    assert again["probabilities"] == baseline["probabilities"]


class Bad(NamedTuple):
    """A request the service must refuse, and how."""

    path: str
    body: bytes | Callable[[], Any] | None
    status: int
    code: str | None  # the expected error_code; None where only its presence is checked
    message: str  # a regex the message must match
    loc: list[Any] | None = None  # a loc the detail list must contain
    method: str = "POST"
    content_type: str | None = "application/json"


def js(payload: Any) -> bytes:
    return orjson.dumps(payload)


def raw_record(weather: bytes = b'"sun"', precipitation: bytes = b"0") -> bytes:
    """A /predict body written by hand, for values no JSON encoder would produce."""
    return (
        b'{"records": [{"precipitation": ' + precipitation + b', "temp_max": 10, "temp_min": 5, '
        b'"wind": 3, "weather": ' + weather + b"}]}"
    )


def chunks_past_the_limit() -> Iterator[bytes]:
    """A body streamed without Content-Length, so only counting while reading can stop it."""
    for _ in range(BODY_LIMIT // 2**20 + 1):
        yield b" " * 2**20


BAD_REQUEST = "BAD_REQUEST"
MALFORMED = "MALFORMED_REQUEST"
NOT_NUMBERS = r"expected valid JSON numbers; got "
NOT_JSON = r"expected valid JSON; got a body that does not parse"
NOT_A_RECORDS_OBJECT = r"expected a JSON object with a 'records' array; got "
NOT_ONE_FORMAT = r"expected a JSON object with exactly one of \('dataframe_records', 'dataframe_split'\); got "
NOT_A_SPLIT = r"expected dataframe_split to be an object with 'columns' and 'data' arrays"
UNKNOWN_CATEGORY = (
    r"record 0, column 'weather': expected one of the categories seen in training "
    r"\('drizzle', 'fog', 'rain', 'snow', 'sun'\); got "
)

BAD_REQUESTS = [
    # columns
    pytest.param(
        Bad("/predict", js({"records": [without("temp_max")]}), 422, BAD_REQUEST,
            r"record 0, column 'temp_max': missing required column 'temp_max'", ["body", 0, "temp_max"]),
        id="missing-column-in-the-only-record",
    ),
    pytest.param(
        Bad("/predict", js({"records": [GOOD, without("weather"), GOOD]}), 422, BAD_REQUEST,
            r"record 1, column 'weather': missing required column 'weather'", ["body", 1, "weather"]),
        id="missing-column-in-some-records",
    ),
    pytest.param(
        Bad("/predict", js({"records": [{}]}), 422, BAD_REQUEST,
            r"\(5 problems\).*'precipitation'.*'temp_max'.*'temp_min'.*'wind'.*'weather'"),
        id="empty-record",
    ),
    # types
    pytest.param(
        Bad("/predict", js({"records": [record(temp_max="warm")]}), 422, BAD_REQUEST,
            r"record 0, column 'temp_max': expected a JSON number; got .warm. \(a string\)", ["body", 0, "temp_max"]),
        id="string-for-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(precipitation="1.5")]}), 422, BAD_REQUEST,
            r"column 'precipitation': expected a JSON number; got .1.5. \(a string\)"),
        id="numeric-string-for-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(weather=3)]}), 422, BAD_REQUEST,
            r"record 0, column 'weather': expected a JSON string; got 3 \(a number\)", ["body", 0, "weather"]),
        id="number-for-category",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(wind=True)]}), 422, BAD_REQUEST,
            r"record 0, column 'wind': expected a JSON number; got .* \(a boolean\)"),
        id="boolean-for-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(precipitation=[1.0, 2.0])]}), 422, BAD_REQUEST,
            r"column 'precipitation': expected a JSON number; got .* \(an array\)"),
        id="array-for-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(temp_min={"celsius": 5})]}), 422, BAD_REQUEST,
            r"column 'temp_min': expected a JSON number; got .* \(an object\)"),
        id="object-for-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(weather=["sun"])]}), 422, BAD_REQUEST,
            r"column 'weather': expected a JSON string; got .* \(an array\)"),
        id="array-for-category",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(wind=[[[[[[1]]]]]])]}), 422, BAD_REQUEST,
            r"column 'wind': expected a JSON number; got .* \(an array\)"),
        id="nested-array-for-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(temp_max="warm", weather="hail")]}), 422, BAD_REQUEST,
            r"\(2 problems\).*column 'temp_max'.*column 'weather'"),
        id="two-problems-both-named",
    ),
    # categories
    pytest.param(
        Bad("/predict", js({"records": [record(weather="hail")]}), 422, BAD_REQUEST, UNKNOWN_CATEGORY + '"hail"',
            ["body", 0, "weather"]),
        id="unknown-category",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(weather="Sun")]}), 422, BAD_REQUEST, UNKNOWN_CATEGORY + '"Sun"'),
        id="category-in-the-wrong-case",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(weather="\u2603\u202e\x00\U0001f327")]}), 422, BAD_REQUEST,
            UNKNOWN_CATEGORY),
        id="unicode-garbage-category",
    ),
    # nulls and numbers JSON cannot hold
    pytest.param(
        Bad("/predict", js({"records": [record(temp_min=None)]}), 422, BAD_REQUEST,
            r"record 0, column 'temp_min': expected a value; got null", ["body", 0, "temp_min"]),
        id="null-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [record(weather=None)]}), 422, BAD_REQUEST,
            r"record 0, column 'weather': expected a value; got null"),
        id="null-category",
    ),
    pytest.param(
        Bad("/predict", raw_record(precipitation=b"NaN"), 400, MALFORMED,
            NOT_NUMBERS + r"NaN \(not JSON; null is how JSON says missing\) at record 0, column 'precipitation'; "
            r"fix: send null for a missing value", loc=["body", 0, "precipitation"]),
        id="nan-literal",
    ),
    pytest.param(
        Bad("/predict", raw_record(precipitation=b"Infinity"), 400, MALFORMED,
            NOT_NUMBERS + r"Infinity \(not JSON, and no value a model can use\) at record 0, column 'precipitation'",
            loc=["body", 0, "precipitation"]),
        id="infinity-literal",
    ),
    pytest.param(
        Bad("/predict", raw_record(precipitation=b"-Infinity"), 400, MALFORMED,
            NOT_NUMBERS + r"-Infinity .* at record 0, column 'precipitation'", loc=["body", 0, "precipitation"]),
        id="minus-infinity-literal",
    ),
    pytest.param(
        Bad("/predict", raw_record(precipitation=b"1e400"), 400, MALFORMED,
            NOT_NUMBERS + r"1e400 \(too large for a 64-bit number\) at record 0, column 'precipitation'",
            loc=["body", 0, "precipitation"]),
        id="number-too-big-for-a-double",
    ),
    pytest.param(
        Bad("/predict", raw_record(precipitation=b"1" + b"0" * 400), 400, MALFORMED,
            NOT_NUMBERS + r"1000000000\d+\.\.\. \(too large for a 64-bit number\) at record 0",
            loc=["body", 0, "precipitation"]),
        id="integer-too-big-for-a-double",
    ),
    pytest.param(
        Bad("/invocations", b'{"dataframe_split": {"columns": ["precipitation", "wind"], "data": [[0, 1], [NaN, 2]]}}',
            400, MALFORMED, NOT_NUMBERS + r"NaN .* at record 1, column 'precipitation'", loc=["body", 1, "precipitation"]),
        id="nan-literal-in-dataframe-split",
    ),
    pytest.param(
        Bad("/invocations", b'{"dataframe_records": [{"wind": 1}, {"wind": 2}, {"wind": NaN, "temp_max": Infinity}]}',
            400, MALFORMED, NOT_NUMBERS + r"NaN .* at record 2, column 'wind' \(and 1 more, listed in detail\)",
            loc=["body", 2, "temp_max"]),
        id="two-literals-in-dataframe-records",
    ),
    pytest.param(
        Bad("/predict", b'{"records": [{"wind": NaN}', 400, MALFORMED, NOT_JSON),
        id="nan-literal-in-a-body-that-is-not-json-anyway",
    ),
    # malformed bodies
    pytest.param(
        Bad("/predict", js({"records": [GOOD]})[:-7], 400, MALFORMED, NOT_JSON),
        id="truncated-json",
    ),
    pytest.param(
        Bad("/predict", js({"records": [GOOD]})[:-2] + b",]}", 400, MALFORMED, NOT_JSON + r" \(trailing comma"),
        id="trailing-comma",
    ),
    pytest.param(
        Bad("/predict", b"precipitation=0&weather=sun", 400, MALFORMED, NOT_JSON),
        id="not-json-at-all",
    ),
    pytest.param(
        Bad("/predict", b"{'records': []}", 400, MALFORMED, NOT_JSON),
        id="single-quoted-json",
    ),
    pytest.param(
        Bad("/predict", raw_record(weather=b'"\xff\xfe"'), 400, MALFORMED, NOT_JSON + r" \(.*UTF-8"),
        id="invalid-utf8",
    ),
    pytest.param(
        Bad("/predict", raw_record(weather=b'"\\ud800"'), 400, MALFORMED, NOT_JSON + r" \(.*surrogate"),
        id="lone-surrogate-escape",
    ),
    pytest.param(
        Bad("/predict", b'{"records": ' + b"[" * 2000 + b"]" * 2000 + b"}", 400, MALFORMED, NOT_JSON + r" \(.*depth"),
        id="json-nested-too-deep-to-parse",
    ),
    pytest.param(
        Bad("/predict", b'{"records": ' + b"[" * 500 + b"]" * 500 + b"}", 422, BAD_REQUEST,
            r"expected every record to be a JSON object; record 0 is an array"),
        id="json-nested-deep-but-parseable",
    ),
    pytest.param(
        Bad("/predict", b"", 400, MALFORMED, r"expected a JSON body; got an empty one"),
        id="empty-body",
    ),
    pytest.param(
        Bad("/predict", b" \r\n\t ", 400, MALFORMED, r"expected a JSON body; got an empty one"),
        id="whitespace-body",
    ),
    # the shape of the request
    pytest.param(
        Bad("/predict", js({"records": []}), 422, BAD_REQUEST, r"expected at least one record; got an empty batch"),
        id="empty-records-list",
    ),
    pytest.param(
        Bad("/predict", js({"records": GOOD}), 422, BAD_REQUEST, r"expected a JSON array of records; got an object"),
        id="records-is-an-object",
    ),
    pytest.param(
        Bad("/predict", js({"records": "sun"}), 422, BAD_REQUEST, r"expected a JSON array of records; got a string"),
        id="records-is-a-string",
    ),
    pytest.param(
        Bad("/predict", js({"records": None}), 422, BAD_REQUEST, r"expected a JSON array of records; got null"),
        id="records-is-null",
    ),
    pytest.param(
        Bad("/predict", js({"records": [GOOD, 7]}), 422, BAD_REQUEST,
            r"expected every record to be a JSON object; record 1 is a number", ["body", 1]),
        id="record-is-a-number",
    ),
    pytest.param(
        Bad("/predict", js({"records": [[0.0, 10.0, 5.0, 3.0, "sun"]]}), 422, BAD_REQUEST,
            r"expected every record to be a JSON object; record 0 is an array"),
        id="record-is-an-array",
    ),
    pytest.param(
        Bad("/predict", js([GOOD]), 400, BAD_REQUEST, NOT_A_RECORDS_OBJECT + r"an array of 1 items"),
        id="top-level-array",
    ),
    pytest.param(
        Bad("/predict", b"null", 400, BAD_REQUEST, NOT_A_RECORDS_OBJECT),
        id="top-level-null",
    ),
    pytest.param(
        Bad("/predict", js({"record": [GOOD]}), 400, BAD_REQUEST,
            NOT_A_RECORDS_OBJECT + r"an object with keys \['record'\]"),
        id="missing-records-key",
    ),
    pytest.param(
        Bad("/predict", js({"dataframe_records": [GOOD]}), 400, BAD_REQUEST,
            NOT_A_RECORDS_OBJECT + r"an object with keys \['dataframe_records'\]"),
        id="mlflow-payload-sent-to-predict",
    ),
    # size
    pytest.param(
        Bad("/predict", js({"records": [GOOD] * (MAX_ROWS + 1)}), 413, "PAYLOAD_TOO_LARGE",
            rf"expected at most {MAX_ROWS} records per request; got {MAX_ROWS + 1}"),
        id="oversized-batch",
    ),
    pytest.param(
        Bad("/predict", lambda: b'{"records": [' + b" " * BODY_LIMIT + b"]}", 413, "PAYLOAD_TOO_LARGE",
            rf"expected a body of at most {BODY_LIMIT} bytes; got {BODY_LIMIT + 15} or more"),
        id="oversized-body-by-content-length",
    ),
    pytest.param(
        Bad("/predict", chunks_past_the_limit, 413, "PAYLOAD_TOO_LARGE",
            rf"expected a body of at most {BODY_LIMIT} bytes; got \d+ or more"),
        id="oversized-body-streamed",
    ),
    # content type
    pytest.param(
        Bad("/predict", js({"records": [GOOD]}), 415, "UNSUPPORTED_MEDIA_TYPE",
            r"expected Content-Type application/json; got 'text/plain'", content_type="text/plain"),
        id="content-type-text-plain",
    ),
    pytest.param(
        Bad("/predict", b"precipitation,temp_max,temp_min,wind,weather\n0,10,5,3,sun\n", 415, "UNSUPPORTED_MEDIA_TYPE",
            r"expected Content-Type application/json; got 'text/csv'", content_type="text/csv"),
        id="content-type-text-csv",
    ),
    pytest.param(
        Bad("/invocations", b"weather=sun", 415, "UNSUPPORTED_MEDIA_TYPE",
            r"expected Content-Type application/json; got 'application/x-www-form-urlencoded'",
            content_type="application/x-www-form-urlencoded"),
        id="content-type-form-to-invocations",
    ),
    # /invocations
    pytest.param(
        Bad("/invocations", js({"inputs": [GOOD]}), 400, BAD_REQUEST, NOT_ONE_FORMAT + r"\['inputs'\]"),
        id="invocations-neither-format",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_records": [GOOD], **split_of([GOOD], list(FEATURES))}), 400, BAD_REQUEST,
            NOT_ONE_FORMAT + r"\['dataframe_records', 'dataframe_split'\]"),
        id="invocations-both-formats",
    ),
    pytest.param(
        Bad("/invocations", js([GOOD]), 400, BAD_REQUEST, NOT_ONE_FORMAT + r"an array of 1 items"),
        id="invocations-top-level-array",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_records": GOOD}), 422, BAD_REQUEST,
            r"expected a JSON array of records; got an object"),
        id="dataframe-records-not-a-list",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_records": [record(wind="calm")]}), 422, BAD_REQUEST,
            r"record 0, column 'wind': expected a JSON number; got .calm.", ["body", 0, "wind"]),
        id="dataframe-records-wrong-type",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_records": [GOOD] * (MAX_ROWS + 1)}), 413, "PAYLOAD_TOO_LARGE",
            rf"expected at most {MAX_ROWS} records per request; got {MAX_ROWS + 1}"),
        id="dataframe-records-oversized-batch",
    ),
    pytest.param(
        Bad("/invocations",
            js({"dataframe_split": {"columns": list(FEATURES), "data": [list(GOOD.values()), [0, 1, 2, 3]]}}),
            400, BAD_REQUEST,
            r"expected every row of 'data' to be an array of 5 values \(one per column\); "
            r"row 1 is an array of 4 items"),
        id="dataframe-split-mismatched-row-length",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_split": {"columns": list(FEATURES), "data": [GOOD]}}), 400, BAD_REQUEST,
            r"expected every row of 'data' to be an array of 5 values \(one per column\); row 0 is an object"),
        id="dataframe-split-row-is-an-object",
    ),
    pytest.param(
        Bad("/invocations", js(split_of([GOOD], [*FEATURES, "wind"])), 400, BAD_REQUEST,
            r"expected distinct column names \(strings\); got \[.*'wind'.*'wind'\]"),
        id="dataframe-split-duplicate-columns",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_split": {"columns": [*FEATURES, 7], "data": [[*GOOD.values(), 1]]}}), 400,
            BAD_REQUEST, r"expected distinct column names \(strings\); got \[.*, 7\]"),
        id="dataframe-split-number-as-column-name",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_split": {"columns": list(FEATURES), "data": {"0": list(GOOD.values())}}}),
            400, BAD_REQUEST, NOT_A_SPLIT),
        id="dataframe-split-data-not-a-list",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_split": {"data": [list(GOOD.values())]}}), 400, BAD_REQUEST, NOT_A_SPLIT),
        id="dataframe-split-without-columns",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_split": [list(GOOD.values())]}), 400, BAD_REQUEST,
            NOT_A_SPLIT + r"; got an array"),
        id="dataframe-split-not-an-object",
    ),
    pytest.param(
        Bad("/invocations", js(split_of([GOOD], NUMERIC)), 422, BAD_REQUEST,
            r"column 'weather': missing required column 'weather'", ["body", "weather"]),
        id="dataframe-split-missing-column",
    ),
    pytest.param(
        Bad("/invocations", js(split_of([GOOD, record(temp_max="hot")], list(FEATURES))), 422, BAD_REQUEST,
            r"record 1, column 'temp_max': expected a JSON number; got .hot.", ["body", 1, "temp_max"]),
        id="dataframe-split-wrong-type",
    ),
    pytest.param(
        Bad("/invocations", js({"dataframe_split": {"columns": list(FEATURES), "data": []}}), 422, BAD_REQUEST,
            r"expected at least one record; got an empty batch"),
        id="dataframe-split-no-rows",
    ),
    pytest.param(
        Bad("/invocations", js(split_of([GOOD] * (MAX_ROWS + 1), list(FEATURES))), 413, "PAYLOAD_TOO_LARGE",
            rf"expected at most {MAX_ROWS} records per request; got {MAX_ROWS + 1}"),
        id="dataframe-split-oversized-batch",
    ),
    # routes and methods
    pytest.param(Bad("/predict", None, 405, None, r"expected POST for /predict; got GET /predict", method="GET"), id="get-predict"),
    pytest.param(Bad("/invocations", js({}), 405, None, r"expected POST for /invocations; got PUT /invocations", method="PUT"), id="put-invocations"),
    pytest.param(Bad("/health", js({}), 405, None, r"expected GET for /health; got POST /health"), id="post-health"),
    pytest.param(Bad("/predictions", js({"records": [GOOD]}), 404, None, r"expected one of POST /predict.*; got POST /predictions"), id="unknown-path"),
    pytest.param(Bad("/v1/models/weather:predict", js({}), 404, None, r"got POST /v1/models/weather:predict; fix: check the path"), id="unknown-nested-path"),
]


@pytest.mark.parametrize("bad", BAD_REQUESTS)
def test_a_bad_request_gets_a_4xx_that_names_the_problem(
    bad: Bad, deployment: lk.Deployment, client: httpx.Client, rows: pd.DataFrame, baseline: dict[str, Any]
):
    content = bad.body() if callable(bad.body) else bad.body

    response = send(client, bad.method, bad.path, content=content, content_type=bad.content_type)

    assert response.status_code == bad.status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "message", "detail"}
    if bad.code is not None:
        assert body["error_code"] == bad.code
    assert re.search(bad.message, body["message"], flags=re.DOTALL), body["message"]
    assert all(set(item) == {"loc", "msg"} for item in body["detail"])
    if bad.loc is not None:
        assert bad.loc in [item["loc"] for item in body["detail"]]
    assert_still_serving(deployment, client, rows, baseline)


def test_a_wrong_method_is_told_which_methods_are_allowed(client: httpx.Client):
    response = send(client, "GET", "/invocations")

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_predict_answers_as_the_model_does_in_process(
    client: httpx.Client, weather_model: Pipeline, rows: pd.DataFrame, baseline: dict[str, Any]
):
    response = post(client, "/predict", {"records": rows.to_dict(orient="records")})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"predictions", "model_version", "request_ids", "classes", "probabilities"}
    assert body["predictions"] == weather_model.predict(rows).tolist()
    assert body["classes"] == [False, True]
    assert np.allclose(body["probabilities"], weather_model.predict_proba(rows))
    assert body["model_version"] == 1
    assert len(body["request_ids"]) == len(rows)
    assert len(set(body["request_ids"])) == len(rows)
    assert not set(body["request_ids"]) & set(baseline["request_ids"])


def test_predict_accepts_a_batch_of_exactly_max_rows(client: httpx.Client, weather_model: Pipeline):
    records = [record(temp_max=float(t)) for t in range(MAX_ROWS)]

    response = post(client, "/predict", {"records": records})

    assert response.status_code == 200
    assert response.json()["predictions"] == weather_model.predict(pd.DataFrame(records)).tolist()


def test_predict_accepts_whole_numbers_and_a_content_type_with_charset(client: httpx.Client, weather_model: Pipeline):
    whole = {"precipitation": 0, "temp_max": 10, "temp_min": 5, "wind": 3, "weather": "sun"}

    response = send(
        client, "POST", "/predict", content=js({"records": [whole]}), content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 200
    assert response.json()["predictions"] == weather_model.predict(pd.DataFrame([GOOD])).tolist()


def test_a_body_without_content_type_is_read_as_json(client: httpx.Client, weather_model: Pipeline):
    response = send(client, "POST", "/predict", content=js({"records": [GOOD]}), content_type=None)

    assert response.status_code == 200
    assert response.json()["predictions"] == weather_model.predict(pd.DataFrame([GOOD])).tolist()


def test_extra_columns_are_ignored_and_reported(client: httpx.Client, rows: pd.DataFrame, baseline):
    records = [{**r, "station": "SEA", "note": i} for i, r in enumerate(rows.to_dict(orient="records"))]
    records[0]["only_here"] = True

    response = post(client, "/predict", {"records": records})

    assert response.status_code == 200
    body = response.json()
    assert body["ignored_columns"] == ["note", "only_here", "station"]
    assert body["predictions"] == baseline["predictions"]
    assert body["probabilities"] == baseline["probabilities"]


def test_invocations_with_dataframe_records_answers_like_mlflow(client, rows: pd.DataFrame, baseline):
    response = post(client, "/invocations", {"dataframe_records": rows.to_dict(orient="records")})

    assert response.status_code == 200
    assert response.json() == {"predictions": baseline["predictions"]}
    assert "x-labkit-ignored-columns" not in response.headers


def test_invocations_with_dataframe_split_answers_like_mlflow(client, rows: pd.DataFrame, baseline):
    columns = ["weather", "station", *reversed(NUMERIC)]
    records = [{**r, "station": "SEA"} for r in rows.to_dict(orient="records")]
    payload = split_of(records, columns)
    payload["dataframe_split"]["index"] = rows.index.tolist()

    response = post(client, "/invocations", payload)

    assert response.status_code == 200
    assert response.json() == {"predictions": baseline["predictions"]}
    assert response.headers["x-labkit-ignored-columns"] == "station"


@pytest.mark.parametrize(
    "extra", ["é", "天气", "pluie\nlendemain", "a,b"], ids=["latin-1", "chinese", "newline", "comma"]
)
@pytest.mark.parametrize("fmt", ["dataframe_records", "dataframe_split"])
def test_invocations_ignores_an_extra_column_whatever_its_name(
    client, weather_model: Pipeline, fmt: str, extra: str
):
    # /invocations reports ignored columns in a response header, where not every character may go.
    records = [{**GOOD, extra: 1}]
    payload = {"dataframe_records": records} if fmt == "dataframe_records" else split_of(records, [*FEATURES, extra])

    response = post(client, "/invocations", payload)

    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": weather_model.predict(pd.DataFrame([GOOD])).tolist()}


@pytest.mark.parametrize("extra", ["é", "天气", "pluie\nlendemain"], ids=["latin-1", "chinese", "newline"])
def test_predict_reports_an_extra_column_whatever_its_name(client: httpx.Client, extra: str):
    response = post(client, "/predict", {"records": [{**GOOD, extra: 1}]})

    assert response.status_code == 200
    assert response.json()["ignored_columns"] == [extra]


def test_model_reports_the_served_version_and_its_schema(client: httpx.Client):
    response = send(client, "GET", "/model")

    assert response.status_code == 200
    info = response.json()
    assert (info["name"], info["version"], info["alias"]) == ("weather", 1, "champion")
    assert info["model_class"] == "sklearn.pipeline.Pipeline"
    assert info["target"]["name"] == "rain_tomorrow"
    columns = {column["name"]: column for column in info["schema"]["columns"]}
    assert list(columns) == list(FEATURES)
    assert all(columns[name]["kind"] == "float" for name in NUMERIC)
    assert columns["weather"]["kind"] == "string"
    assert columns["weather"]["categories"] == CATEGORIES


def test_model_reports_the_training_profile_and_the_card_for_users(
    client: httpx.Client, registry: lk.Registry, weather_split
):
    train, _ = weather_split
    entry = registry.get("weather", alias="champion")

    info = send(client, "GET", "/model").json()

    assert info["profile"] == entry.profile
    temp_max = info["profile"]["columns"]["temp_max"]
    assert (temp_max["min"], temp_max["max"]) == (train["temp_max"].min(), train["temp_max"].max())
    assert info["user_card"] == user_card(entry.meta)
    assert "It tells you how likely **rain tomorrow** is" in info["user_card"]


def test_a_version_registered_before_profiles_is_served_without_one(tmp_path, weather_split, weather_model: Pipeline):
    train, _ = weather_split
    registry = lk.Registry(tmp_path / "registry")
    old = registry.register(weather_model, name="weather", X=train[list(FEATURES)], y=train["rain_tomorrow"])
    meta = orjson.loads((old.directory / "meta.json").read_bytes())
    del meta["profile"]
    (old.directory / "meta.json").write_bytes(orjson.dumps(meta))

    with lk.deploy(registry, "weather", version=1) as running:
        info = httpx.get(f"{running.url}/model", timeout=60.0).json()

    assert info["profile"] is None
    assert "The range seen in training was not recorded for this version." in info["user_card"]


def test_health_names_the_served_model(client: httpx.Client):
    response = send(client, "GET", "/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model": "weather", "model_version": 1}


def test_docs_page_is_served(client: httpx.Client):
    response = send(client, "GET", "/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert "/openapi.json" in response.text


def test_docs_page_loads_nothing_from_the_internet(client: httpx.Client):
    # The course runs offline (DESIGN.md), so the page must not need a CDN to render.
    page = send(client, "GET", "/docs").text

    assert re.findall(r"""(?:src|href)=["']?(https?://[^"' >]+)""", page) == []


def test_deployment_predict_returns_a_frame_indexed_like_the_input(
    deployment: lk.Deployment, weather_model: Pipeline, rows: pd.DataFrame
):
    frame = rows.set_axis([f"day-{i}" for i in range(len(rows))])

    out = deployment.predict(frame)

    assert list(out.columns) == ["prediction", "proba_False", "proba_True", "model_version", "request_id"]
    assert out.index.equals(frame.index)
    assert out["prediction"].tolist() == weather_model.predict(frame).tolist()
    assert np.allclose(out[["proba_False", "proba_True"]], weather_model.predict_proba(frame))
    assert (out["model_version"] == 1).all()
    assert out["request_id"].is_unique


def test_deployment_predict_raises_the_services_refusal(deployment: lk.Deployment, rows: pd.DataFrame):
    frame = rows.assign(weather="hail")

    with pytest.raises(lk.errors.ServiceError, match=r"(?s)the service answered 422: .*column 'weather'") as caught:
        deployment.predict(frame)

    assert caught.value.status == 422


def test_deployment_describes_what_it_serves(deployment: lk.Deployment):
    assert (deployment.name, deployment.version, deployment.alias) == ("weather", 1, "champion")
    assert deployment.running
    assert deployment.headers() == {}
    assert repr(deployment) == "Deployment(name='weather', version=1, alias='champion', running)"


AUTH_REFUSED = r"expected the header 'Authorization: Bearer <token>'; got {}; fix: send the token"


@pytest.mark.parametrize(
    ("headers", "got"),
    [
        pytest.param({}, "no token", id="no-header"),
        pytest.param({"Authorization": "Bearer wrong"}, "a wrong token", id="wrong-token"),
        pytest.param({"Authorization": f"Bearer {TOKEN}x"}, "a wrong token", id="token-with-extra-character"),
        pytest.param({"Authorization": f"Bearer {TOKEN[:-1]}"}, "a wrong token", id="token-prefix"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, "no token", id="wrong-scheme"),
        pytest.param({"Authorization": TOKEN}, "no token", id="token-without-scheme"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        pytest.param("POST", "/predict", {"records": [GOOD]}, id="predict"),
        pytest.param("POST", "/invocations", {"dataframe_records": [GOOD]}, id="invocations"),
        pytest.param("GET", "/model", None, id="model"),
    ],
)
def test_a_service_with_a_token_refuses_requests_without_it(
    token_deployment, token_client, method, path, payload, headers, got
):
    content = js(payload) if payload is not None else None

    response = send(token_client, method, path, content=content, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error_code"] == "UNAUTHORIZED"
    assert re.search(AUTH_REFUSED.format(re.escape(got)), body["message"]), body["message"]
    assert token_deployment.running


def test_the_token_is_checked_before_the_body(token_client: httpx.Client):
    response = send(token_client, "POST", "/predict", content=b"{not json")

    assert response.status_code == 401


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        pytest.param("/predict", {"records": [GOOD]}, id="predict"),
        pytest.param("/invocations", {"dataframe_records": [GOOD]}, id="invocations"),
    ],
)
def test_a_service_with_a_token_predicts_for_requests_that_send_it(
    token_client, weather_model: Pipeline, path, payload
):
    response = post(token_client, path, payload, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response.json()["predictions"] == weather_model.predict(pd.DataFrame([GOOD])).tolist()


def test_a_service_with_a_token_describes_its_model_to_requests_that_send_it(token_client: httpx.Client):
    response = send(token_client, "GET", "/model", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response.json()["alias"] == "champion"


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json"])
def test_health_and_docs_need_no_token(token_client: httpx.Client, path: str):
    assert send(token_client, "GET", path).status_code == 200


def test_deployment_predict_sends_the_token(
    token_deployment: lk.Deployment, weather_model: Pipeline, rows: pd.DataFrame
):
    assert token_deployment.headers() == {"Authorization": f"Bearer {TOKEN}"}

    out = token_deployment.predict(rows)

    assert out["prediction"].tolist() == weather_model.predict(rows).tolist()


def random_value(rng: np.random.Generator, depth: int = 0) -> Any:
    """A JSON value of a random type: mostly plausible numbers, sometimes anything."""
    kind = rng.integers(0, 10)
    if kind == 0:
        return None
    if kind == 1:
        return bool(rng.integers(0, 2))
    if kind == 2:
        return int(rng.integers(-(2**62), 2**62))
    if kind == 3:
        return float(rng.normal() * 10.0 ** int(rng.integers(-300, 308)))
    if kind == 4:
        return str(rng.choice([*CATEGORIES, "hail", "", "SUN", "sun "]))
    if kind == 5:
        return random_text(rng)
    if kind == 6 and depth < 3:
        return [random_value(rng, depth + 1) for _ in range(rng.integers(0, 4))]
    if kind == 7 and depth < 3:
        return {random_key(rng): random_value(rng, depth + 1) for _ in range(rng.integers(0, 4))}
    return float(rng.normal() * 20.0)


def random_text(rng: np.random.Generator) -> str:
    # Code points below the surrogates, from control characters to CJK.
    return "".join(chr(int(c)) for c in rng.integers(1, 0xD800, size=rng.integers(0, 8)))


def random_key(rng: np.random.Generator) -> str:
    if rng.random() < 0.7:
        return str(rng.choice([*FEATURES, "records", "dataframe_records", "dataframe_split", "columns", "data"]))
    return random_text(rng)


def random_record(rng: np.random.Generator) -> dict[str, Any]:
    """A record that is usually almost right: each column present, plausible, or random."""
    out: dict[str, Any] = {}
    for name in FEATURES:
        draw = rng.random()
        if draw < 0.05:
            continue
        if draw < 0.2:
            out[name] = random_value(rng)
        else:
            out[name] = str(rng.choice(CATEGORIES)) if name == "weather" else float(rng.normal() * 10)
    for _ in range(rng.integers(0, 3)):
        out[random_key(rng)] = random_value(rng)
    return out


def random_request(rng: np.random.Generator) -> tuple[str, bytes]:
    n = int(rng.integers(0, 6))
    shape = rng.integers(0, 7)
    if shape == 0:
        path, payload = "/predict", {"records": [random_record(rng) for _ in range(n)]}
    elif shape == 1:
        path, payload = "/invocations", {"dataframe_records": [random_record(rng) for _ in range(n)]}
    elif shape == 2:
        records = [random_record(rng) for _ in range(n)]
        columns = list(dict.fromkeys(key for r in records for key in r)) or [random_key(rng)]
        data = [[r.get(c) for c in columns][: len(columns) - int(rng.random() < 0.1)] for r in records]
        path, payload = "/invocations", {"dataframe_split": {"columns": columns, "data": data}}
    elif shape == 3:
        path, payload = "/predict", {"records": random_value(rng)}
    elif shape == 4:
        path = str(rng.choice(["/predict", "/invocations"]))
        payload = {random_key(rng): random_value(rng) for _ in range(rng.integers(0, 4))}
    else:
        path, payload = str(rng.choice(["/predict", "/invocations"])), random_value(rng)
    body = orjson.dumps(payload)
    if rng.random() < 0.1:
        body = body[: int(rng.integers(0, len(body) + 1))]
    return path, body


def test_the_service_never_answers_5xx(deployment: lk.Deployment, client: httpx.Client):
    rng = np.random.default_rng(0)
    failures = []
    statuses = set()

    for _ in range(200):
        path, body = random_request(rng)
        try:
            response = send(client, "POST", path, content=body)
        except httpx.TransportError as error:
            failures.append((path, body[:300], f"no answer: {error!r}"))
            continue
        statuses.add(response.status_code)
        if response.status_code >= 500:
            failures.append((path, body[:300], response.status_code))
        elif response.status_code >= 400:
            assert {"error_code", "message", "detail"} <= set(response.json())

    assert failures == [], failures[:3]
    assert {200, 400, 422} <= statuses
    assert deployment.running


def test_the_docs_offer_authorize_only_when_a_token_is_needed(client: httpx.Client, token_client: httpx.Client):
    def security(spec_client: httpx.Client) -> object:
        spec = send(spec_client, "GET", "/openapi.json").json()
        return spec["paths"]["/predict"]["post"].get("security")

    assert security(client) is None
    assert security(token_client) == [{"HTTPBearer": []}]


# Refused requests, kept by a service with a store --------------------------------------


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logged") / "monitor.db"


@pytest.fixture(scope="module")
def logged_deployment(registry: lk.Registry, store_path: Path) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather", alias="champion", max_rows=MAX_ROWS, store=store_path) as running:
        yield running


def refusals_of(path: Path, **between: str) -> pd.DataFrame:
    with lk.PredictionStore(path) as store:
        return store.refusals(**between)


def test_every_refusal_of_predict_invocations_and_feedback_is_kept_with_its_status_and_code(logged_deployment, store_path):
    url = logged_deployment.url
    before = len(refusals_of(store_path))
    answered = httpx.post(f"{url}/predict", json={"records": [GOOD]})
    request_id = answered.json()["request_ids"][0]
    sent = [
        httpx.post(f"{url}/predict", content=b"{not json", headers={"Content-Type": "application/json"}),
        httpx.post(f"{url}/predict", json={"records": [record(weather="hail")]}),
        httpx.post(f"{url}/predict", json={"records": [GOOD] * (MAX_ROWS + 1)}),
        httpx.post(f"{url}/invocations", content=b"a,b\n1,2", headers={"Content-Type": "text/csv"}),
        httpx.get(f"{url}/invocations"),
        httpx.post(f"{url}/feedback", json={"labels": [{"request_id": request_id, "label": True}]}),
        httpx.post(f"{url}/feedback", json={"labels": [{"request_id": request_id, "label": False}]}),
        httpx.post(f"{url}/feedback", json={"labels": []}),
    ]
    # Not the service's traffic: a probe of its health, its description, and paths it never had.
    ignored = [httpx.get(f"{url}/health"), httpx.get(f"{url}/model"), httpx.get(f"{url}/wp-admin"),
               httpx.post(f"{url}/predict/extra", json={})]

    kept = refusals_of(store_path).iloc[before:]
    assert answered.status_code == 200
    assert [r.status_code for r in sent] == [400, 422, 413, 415, 405, 200, 409, 400]
    assert [r.status_code for r in ignored] == [200, 200, 404, 404]
    assert list(zip(kept["endpoint"], kept["status"], kept["error_code"])) == [
        ("/predict", 400, "MALFORMED_REQUEST"),
        ("/predict", 422, "BAD_REQUEST"),
        ("/predict", 413, "PAYLOAD_TOO_LARGE"),
        ("/invocations", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("/invocations", 405, "METHOD_NOT_ALLOWED"),
        ("/feedback", 409, "LABEL_CONFLICT"),
        ("/feedback", 400, "BAD_REQUEST"),
    ]
    assert (kept["model_name"] == "weather").all() and (kept["model_version"] == 1).all()


def test_a_refusal_is_timed_by_the_event_time_it_states_or_else_by_its_arrival(logged_deployment, store_path):
    url = logged_deployment.url
    before = len(refusals_of(store_path))
    started = pd.Timestamp.now(tz="UTC")
    httpx.post(f"{url}/predict", json={"records": [record(weather="hail")], "event_time": "2013-05-01T08:00:00Z"})
    httpx.post(f"{url}/predict", json={"records": [record(wind="x")] * 2, "event_times": ["2013-05-02T00:00:00Z", 7]})
    httpx.post(f"{url}/feedback", json={"labels": [{"label": True}], "label_time": "2013-05-03T00:00:00Z"})
    httpx.post(f"{url}/predict", json={"records": [GOOD], "event_time": "soon"})  # the time itself is what is wrong
    httpx.post(f"{url}/invocations", json={"dataframe_records": []})  # MLflow's protocol states no time
    finished = pd.Timestamp.now(tz="UTC")

    kept = refusals_of(store_path, end="2014-01-01")
    assert kept["event_time"].iloc[-3:].tolist() == [
        pd.Timestamp("2013-05-01T08:00", tz="UTC"), pd.Timestamp("2013-05-02", tz="UTC"), pd.Timestamp("2013-05-03", tz="UTC"),
    ]
    recent = refusals_of(store_path)
    recent = recent[recent["arrival_time"] >= started]
    assert len(recent) == 5
    arrived = recent[recent["event_time"] == recent["arrival_time"]]
    assert arrived["endpoint"].tolist() == ["/predict", "/invocations"]
    assert arrived["event_time"].between(started, finished).all()
    assert len(refusals_of(store_path)) == before + 5


def test_hostile_bodies_are_all_counted_and_never_break_the_service_or_its_store(logged_deployment, store_path, rows, baseline):
    rng = np.random.default_rng(1)
    before = len(refusals_of(store_path))
    refused = 0
    with fresh_connections(logged_deployment.url) as http:
        for _ in range(150):
            path, body = random_request(rng)
            status = send(http, "POST", path, content=body).status_code
            assert status < 500, (path, body[:200], status)
            refused += status >= 400
        # Bodies a fuzzer of JSON does not write: bytes that are not text, deep nesting, a
        # time in every entry of a long list, a time past what pandas holds.
        for body in [b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000,
                     orjson.dumps({"records": [record(weather=1)], "event_times": ["2013-01-01"] * 5000}),
                     orjson.dumps({"records": [record(weather=1)], "event_time": "99999-01-01T00:00:00Z"}),
                     orjson.dumps({"records": {"a": 1}, "event_times": [{"x": 1}]})]:
            status = send(http, "POST", "/predict", content=body).status_code
            assert 400 <= status < 500, (body[:80], status)
            refused += 1

    assert refused > 100
    assert len(refusals_of(store_path)) == before + refused
    with fresh_connections(logged_deployment.url) as http:
        assert post(http, "/predict", {"records": rows.to_dict(orient="records")}).json()["predictions"] == baseline["predictions"]


def test_a_failure_of_the_service_itself_is_kept_as_a_500_with_the_error_body(registry, tmp_path, monkeypatch):
    from labkit.deployment import service

    def broken(n: int) -> list[str]:
        raise RuntimeError("a bug")

    # No input makes a real service fail, so a bug is planted in-process to see one answered and kept.
    monkeypatch.setattr(service, "_request_ids", broken)
    app = service.create_app(service.ServiceSettings(registry=str(registry.root), name="weather",
                                                     store=str(tmp_path / "monitor.db")))

    async def call() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
                return await http.post("/predict", json={"records": [GOOD], "event_time": "2013-01-01T00:00:00Z"})

    response = asyncio.run(call())

    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert "the service itself failed (RuntimeError)" in response.json()["message"]
    kept = lk.PredictionStore(tmp_path / "monitor.db").refusals()
    assert list(zip(kept["endpoint"], kept["status"], kept["error_code"])) == [("/predict", 500, "INTERNAL_ERROR")]
    assert kept["event_time"].tolist() == [pd.Timestamp("2013-01-01", tz="UTC")]
