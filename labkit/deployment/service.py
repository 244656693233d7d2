"""The HTTP service: a FastAPI app that serves one registered model version.

Endpoints:

- ``POST /predict``: ``{"records": [{...}, ...]}`` answers ``{"predictions": [...],
  "model_version": N, "request_ids": [...]}``, plus ``classes`` and ``probabilities``
  for classifiers and ``ignored_columns`` when records carried columns the model does
  not use.
- ``POST /invocations``: MLflow's scoring protocol (``dataframe_records`` or
  ``dataframe_split``), answering ``{"predictions": [...]}`` as MLflow does.
- ``GET /health``, ``GET /model`` (name, version, alias, schema, training profile, and
  the card for end users as Markdown) and ``GET /docs``.

``/openapi.json`` states this contract for other systems, built by
:mod:`labkit.deployment.openapi` from the served version's schema; ``/docs`` renders it
with the Swagger UI that the fastapi-offline package ships, so the page works offline.

Every request body is checked against the version's schema before the model sees it.
Bad input gets a 4xx whose JSON names the problem (``error_code``, ``message`` and a
``detail`` list with the record and column of each problem); no input gets a 5xx. A
service with a store keeps each refused request to ``/predict``, ``/invocations`` and
``/feedback`` there (status, error code, time), for the error rate; an answered request
never pays for that.
Bodies are parsed and checked column by column with orjson and plain lists rather than
one pydantic object per record: that is where the time of a 1000-row request went.

The model is loaded in the app's ``lifespan``, never at import, and settings reach
handlers through the ``get_settings`` dependency, which tests may override.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import secrets
import time
import uuid
from urllib.parse import quote
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from labkit.card import user_card
from labkit.errors import LabelError, LabkitError, SchemaError
from labkit.deployment.follower import AliasFollower
from labkit.deployment.openapi import components, operation
from labkit.deployment.predictor import Predictor
from labkit.deployment.recorder import Recorder
from labkit.deployment.shadow import Shadow
from labkit.registry import ModelVersion, Registry
from labkit.schema import Problem, Schema, json_text, json_type
from labkit.store import Batch, PredictionStore, seconds_since_epoch

__all__ = ["ServiceSettings", "create_app", "get_settings"]

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
# The endpoints whose refusals a service with a store keeps, for the error rate: the ones
# other systems call. /health, /model and the docs are left out, and so are 404s of paths
# the service never had (scanners and typos are not traffic the service failed).
_REFUSALS_KEPT = frozenset({"/predict", "/invocations", "/feedback"})
# Whole days inside the times pandas holds (nanoseconds in 64 bits): a time outside them,
# once stored, would make every later read of the store fail, so the service refuses it.
_READABLE_TIMES = (
    datetime(1677, 9, 22, tzinfo=timezone.utc).timestamp(), datetime(2262, 4, 11, tzinfo=timezone.utc).timestamp()
)
# Where _read_body leaves a body, so a refusal can read the event time it stated.
_BODY = "labkit.body"
_log = logging.getLogger(__name__)
_ENDPOINTS = "POST /predict, POST /invocations, GET /health, GET /model, GET /docs"


@dataclass(frozen=True)
class ServiceSettings:
    """What one service serves and how.

    Parameters
    ----------
    registry
        The registry's folder.
    name
        The registered model to serve.
    alias, version
        Which version: by alias (such as ``"champion"``) or by number; the latest if neither.
    token
        When set, every request except ``/health`` and the docs must send
        ``Authorization: Bearer <token>``.
    max_rows
        The largest batch accepted; larger ones get 413.
    max_body_bytes
        The largest request body accepted; larger ones get 413.
    trusted
        Exact type names to allow beyond the trust list (see :mod:`labkit.trust`).
    store
        A prediction store's file: every prediction is committed there before it is
        answered, and ``POST /feedback`` attaches late labels. A request to ``/predict``,
        ``/invocations`` or ``/feedback`` that is refused (4xx or 5xx, whatever the
        reason) is kept there too, for the error rate (see
        :meth:`labkit.PredictionStore.refusals`). ``None`` logs nothing.
    follow
        With an alias: when the alias moves (promote, rollback), serve the version it
        now points at, without a restart (see :mod:`labkit.deployment.follower`).
        ``False`` keeps the version the service started with.
    shadow
        An alias (such as ``"challenger"``) whose version runs in shadow: after each
        answer, it scores the same records and its predictions go to the store, never to
        a client (see :mod:`labkit.deployment.shadow`). Needs ``store``; it follows its
        alias too.
    """

    registry: str
    name: str
    alias: str | None = None
    version: int | None = None
    token: str | None = field(default=None, repr=False)
    max_rows: int = 10_000
    max_body_bytes: int = 16 * 2**20
    trusted: tuple[str, ...] = ()
    store: str | None = None
    follow: bool = True
    shadow: str | None = None


@dataclass(frozen=True)
class _Served:
    """The model a running app serves, loaded once in the lifespan."""

    entry: ModelVersion
    alias: str | None
    schema: Schema
    predictor: Predictor


class _RefusalLog:
    """Keeps the refused requests of a service with a store, one commit each.

    Only refusals pay for it: an answered request never touches it. It writes through its
    own connection, never the recorder's, so a refusal cannot land in (or roll back with)
    a group of predictions, and the lock lets one refusal at a time use that connection.
    """

    def __init__(self, store: PredictionStore) -> None:
        self.store = store
        self._lock = asyncio.Lock()

    async def keep(self, request: Request, status: int, code: str) -> None:
        path = request.url.path
        if path not in _REFUSALS_KEPT:
            return
        arrival = time.time()
        served: _Served | None = getattr(request.app.state, "served", None)
        entry = served.entry if served is not None else None
        try:
            stated = _stated_time(path, request.scope.get(_BODY), code)
            async with self._lock:
                await asyncio.to_thread(
                    self.store.log_refusal, path, status, code, event_time=stated, arrival_time=arrival,
                    model_name=entry.name if entry else None, model_version=entry.version if entry else None,
                )
        except Exception:  # the refusal is answered either way; a store that fails is not the client's fault
            _log.exception("could not keep the refusal of %s (%s %s) in %s", path, status, code, self.store.path)


def _stated_time(path: str, body: bytes | None, code: str) -> float | None:
    """The time a refused request stated for itself, if it stated one that reads; else None (its arrival).

    ``event_time`` or the first of ``event_times`` for /predict, ``label_time`` for
    /feedback, as their answered requests are timed: a replay on a simulated clock then
    finds its refusals in the same windows as its predictions. Only the first entry is
    read, so a hostile body costs one parse, never one per entry.
    """
    if body is None or path == "/invocations" or code == "MALFORMED_REQUEST":
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    if path == "/feedback":
        value = payload.get("label_time")
    else:
        value = payload.get("event_time")
        first = payload.get("event_times")
        if value is None and isinstance(first, list) and first:
            value = first[0]
    if not isinstance(value, str):
        return None
    try:
        when = seconds_since_epoch(value)
    except (LabkitError, ValueError, OverflowError):
        return None
    return when if _READABLE_TIMES[0] <= when <= _READABLE_TIMES[1] else None


class _BadRequest(Exception):
    """A request the service refuses, with the status and the problems to report."""

    def __init__(self, status: int, code: str, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []


# The dependencies are async def on purpose: FastAPI runs a plain def dependency in a
# worker thread, and two thread hand-offs per request cost single-row predictions a
# quarter of their throughput (see docs/benchmarks.md).
async def get_settings(request: Request) -> ServiceSettings:
    """The settings of the app serving ``request`` (a dependency; tests may override it)."""
    return request.app.state.settings


_bearer = HTTPBearer(auto_error=False, description="Needed when the service was started with a token.")


async def _require_token(
    settings: Annotated[ServiceSettings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if settings.token is None:
        return
    sent = credentials.credentials if credentials is not None else ""
    # compare_digest takes the same time wherever the strings differ, so the time of a
    # refusal does not tell an attacker how much of the token was right.
    if not secrets.compare_digest(sent.encode(), settings.token.encode()):
        what = "a wrong token" if credentials is not None else "no token"
        raise _BadRequest(
            401, "UNAUTHORIZED",
            f"expected the header 'Authorization: Bearer <token>'; got {what}; "
            "fix: send the token the service was started with",
        )


def create_app(settings: ServiceSettings) -> FastAPI:
    """Build the FastAPI app that serves ``settings.name``.

    Parameters
    ----------
    settings
        What to serve; the model itself is loaded when the app starts.

    Returns
    -------
    fastapi.FastAPI
        Run it with uvicorn, or use it in tests with ``fastapi.testclient.TestClient``.

    Examples
    --------
    >>> app = create_app(ServiceSettings(registry="workspace/registry", name="weather"))
    >>> sorted(r.path for r in app.routes if r.path in {"/predict", "/invocations", "/health", "/model"})
    ['/health', '/invocations', '/model', '/predict']
    """

    def load(entry: ModelVersion) -> _Served:
        model = Registry(settings.registry).load(settings.name, version=entry.version, trusted=settings.trusted)
        # The schema check lets no NaN or infinity through unless a column was nullable
        # in training, so scikit-learn's second scan for them can then be skipped.
        finite = not any(column.nullable for column in entry.schema.columns)
        return _Served(entry, settings.alias, entry.schema, Predictor(model, assume_finite=finite))

    def swap(served: _Served) -> None:
        # One assignment: a request holds the _Served it started with, so it finishes
        # with one version from start to end, and the next request gets the new one.
        app.state.served = served
        app.openapi_schema = None  # the contract names the served version's columns

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry(settings.registry)
        entry = registry.get(settings.name, alias=settings.alias, version=settings.version)
        app.state.served = load(entry)
        # What is loaded now (libraries, the model) lives as long as the service: frozen, it is
        # left out of every later garbage collection, which then walks only what requests made.
        gc.freeze()
        # The recorder checkpoints in the background, so no request waits for it.
        store = PredictionStore(settings.store, autocheckpoint=False) if settings.store is not None else None
        app.state.recorder = Recorder(store) if store is not None else None
        app.state.refusals = _RefusalLog(PredictionStore(settings.store)) if settings.store is not None else None
        say = lambda line: print(line, flush=True)  # noqa: E731 (the server's log)
        following = []
        if settings.alias is not None and settings.follow:
            follower = AliasFollower(registry=registry, name=settings.name, alias=settings.alias, load=load, swap=swap,
                                     current=entry.version, say=say)
            following.append(asyncio.create_task(follower.run()))
        app.state.shadow = None
        if settings.shadow is not None and store is not None:
            shadow = app.state.shadow = Shadow(store=PredictionStore(settings.store), say=say)
            current = registry.aliases(settings.name).get(settings.shadow)
            try:
                shadow.served = load(registry.get(settings.name, alias=settings.shadow))
                say(f"labkit serve: version {current} ({settings.shadow!r}) runs in shadow")
            except Exception as error:  # a broken shadow must not stop the service from serving
                say(f"labkit serve: the shadow {settings.shadow!r} cannot be loaded ({type(error).__name__}: {error}); "
                    "serving without it")

            def swap_shadow(served: _Served) -> None:
                shadow.served = served

            follower = AliasFollower(registry=registry, name=settings.name, alias=settings.shadow, load=load,
                                     swap=swap_shadow, current=current if shadow.served is not None else -1, say=say)
            following.append(asyncio.create_task(follower.run()))
        try:
            yield
        finally:
            for task in following:
                task.cancel()
            if app.state.shadow is not None:
                await app.state.shadow.drain()
                app.state.shadow.store.close()
            if store is not None:
                await app.state.recorder.wait()
                store.close()
                app.state.refusals.store.close()

    # FastAPI's own /docs page loads Swagger UI from a CDN; labkit works offline, so
    # FastAPIOffline serves the copy the fastapi-offline package ships (a Swagger UI 5,
    # which renders the OpenAPI 3.1 that FastAPI writes).
    app = FastAPIOffline(
        title=f"labkit: {settings.name}",
        description=(
            "A registered model served by labkit. Send records to /predict; see /model for the schema. "
            "Every error has the same JSON body (error_code, message, detail). Besides the errors listed "
            "with each operation, any other path answers 404 and any other method on these paths 405."
        ),
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    # Without a token there is nothing to check: no dependency to resolve per request,
    # and /docs shows no Authorize button that would do nothing.
    secured = [Depends(_require_token)] if settings.token is not None else []
    unauthorized = [401] if settings.token is not None else []
    logged = [503] if settings.store is not None else []
    body_errors = [400, *unauthorized, 413, 415, 422, *logged]

    async def keep_refusal(request: Request, status: int, code: str) -> None:
        refusals: _RefusalLog | None = getattr(request.app.state, "refusals", None)
        if refusals is not None:
            await refusals.keep(request, status, code)

    @app.exception_handler(_BadRequest)
    async def _refuse(request: Request, error: _BadRequest) -> Response:
        await keep_refusal(request, error.status, error.code)
        return _error_response(error.status, error.code, error.message, error.problems)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> Response:
        problems = [Problem(None, None, f"{'.'.join(map(str, e['loc']))}: {e['msg']}") for e in error.errors()]
        found = "; ".join(problem.message for problem in problems)
        await keep_refusal(request, 422, "BAD_REQUEST")
        return _error_response(
            422, "BAD_REQUEST", f"expected a request as described at /docs; got {found}; fix: correct those fields",
            problems,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        asked = f"{request.method} {request.url.path}"
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "BAD_REQUEST")
        await keep_refusal(request, error.status_code, code)
        if error.status_code == 404:
            return _error_response(404, "NOT_FOUND", f"expected one of {_ENDPOINTS}; got {asked}; fix: check the path", [])
        if error.status_code == 405:
            allowed = {k.lower(): v for k, v in (error.headers or {}).items()}.get("allow", "")
            return _error_response(
                405, "METHOD_NOT_ALLOWED", f"expected {allowed or 'another method'} for {request.url.path}; got {asked}; "
                f"fix: use {allowed or 'the documented method'} (see /docs)", [], headers=error.headers,
            )
        return _error_response(error.status_code, "BAD_REQUEST", str(error.detail), [], headers=error.headers)

    @app.exception_handler(Exception)
    async def _failed(request: Request, error: Exception) -> Response:
        # A bug, not bad input: kept like any refusal, since an error rate that missed
        # these would miss the worst; Starlette still logs the traceback after this answer.
        await keep_refusal(request, 500, "INTERNAL_ERROR")
        return _error_response(
            500, "INTERNAL_ERROR", f"expected an answer; the service itself failed ({type(error).__name__}); "
            "fix: try again, and report it to whoever runs the service (its log has the details)", [],
        )

    @app.get("/health", summary="Is the service up and its model loaded?", openapi_extra=operation(answer="Health"))
    async def health(request: Request) -> Response:
        served: _Served = request.app.state.served
        return _json({"status": "ok", "model": served.entry.name, "model_version": served.entry.version})

    @app.get(
        "/model",
        dependencies=secured,
        summary="Which model version is served, and its input schema",
        openapi_extra=operation(answer="ModelInfo", errors=unauthorized),
    )
    async def model_info(request: Request) -> Response:
        served: _Served = request.app.state.served
        meta = served.entry.meta
        return _json({
            "name": served.entry.name,
            "version": served.entry.version,
            "alias": served.alias,
            "model_class": meta["model_class"],
            "schema": meta["schema"],
            "target": meta.get("target"),
            "metrics": meta.get("metrics", {}),
            # null for versions registered before labkit recorded profiles: unknown.
            "profile": meta.get("profile"),
            "user_card": user_card(meta),
            "max_rows": settings.max_rows,
        })

    @app.post(
        "/predict",
        dependencies=secured,
        summary="Predict for a batch of records",
        openapi_extra=operation(
            request="PredictRequest", answer="Predictions", errors=body_errors, examples=["PredictRecords"]
        ),
    )
    async def predict(request: Request) -> Response:
        started = time.perf_counter()
        served: _Served = request.app.state.served
        payload = _parse(await _read_body(request, settings.max_body_bytes))
        if not isinstance(payload, dict) or "records" not in payload:
            raise _BadRequest(
                400, "BAD_REQUEST",
                f"expected a JSON object with a 'records' array; got {_describe(payload)}; "
                'fix: send {"records": [{"column": value, ...}, ...]}',
            )
        _check_size(payload["records"], settings.max_rows)
        with _schema_refusals():
            frame, ignored = served.schema.frame_from_records(payload["records"])
        event_times = _event_times(payload, len(frame))
        out = _run_model(served, frame)
        prefix, request_ids = _request_ids(len(frame))
        await _record(request, served, payload["records"], prefix, out, event_times, started)
        _shadow(request, payload["records"], request_ids, event_times)
        body: dict[str, Any] = {
            "predictions": out["predictions"],
            "model_version": served.entry.version,
            "request_ids": request_ids,
        }
        if "probabilities" in out:
            body["classes"] = out["classes"]
            body["probabilities"] = out["probabilities"]
        if ignored:
            body["ignored_columns"] = ignored
        return _json(body)

    @app.post(
        "/invocations",
        dependencies=secured,
        summary="Predict with MLflow's scoring protocol",
        openapi_extra=operation(
            request="InvocationsRequest",
            answer="MlflowPredictions",
            errors=body_errors,
            examples=["DataframeRecords", "DataframeSplit"],
        ),
    )
    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        served: _Served = request.app.state.served
        payload = _parse(await _read_body(request, settings.max_body_bytes))
        with _schema_refusals():
            frame, ignored = _mlflow_frame(served.schema, payload, settings.max_rows)
        out = _run_model(served, frame)
        if request.app.state.recorder is not None:
            records = frame.to_dict(orient="records")
            prefix, request_ids = _request_ids(len(frame))
            await _record(request, served, records, prefix, out, None, started)
            _shadow(request, records, request_ids, None)
        # Header values must be Latin-1 without newlines, and a comma separates names:
        # percent-encoding makes any column name safe to report there.
        headers = {"X-Labkit-Ignored-Columns": ",".join(quote(name, safe="") for name in ignored)} if ignored else None
        return _json({"predictions": out["predictions"]}, headers=headers)

    if settings.store is not None:

        @app.post(
            "/feedback",
            dependencies=secured,
            summary="Attach the true outcomes to earlier predictions, by request id",
            openapi_extra=operation(
                request="FeedbackRequest", answer="FeedbackAnswer", errors=[400, *unauthorized, 409, 413, 415, 422]
            ),
        )
        async def feedback(request: Request) -> Response:
            payload = _parse(await _read_body(request, settings.max_body_bytes))
            ids, labels, at = _labels(payload)
            recorder: Recorder = request.app.state.recorder
            try:
                report = await asyncio.to_thread(recorder.store.add_labels, ids, labels, at=at)
            except LabelError as error:
                raise _BadRequest(
                    409, "LABEL_CONFLICT", str(error),
                    [Problem(column=None, row=None, message=f"request id {i!r} already has a label") for i in error.request_ids[:20]],
                ) from None
            return _json({"matched": report.matched, "unknown": report.unknown})

    def openapi() -> dict[str, Any]:
        # The record schema is known only once the model is loaded, so the document is
        # built on first request (after the lifespan) and names the real columns.
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version="1", description=app.description, routes=app.routes)
        served: _Served | None = getattr(app.state, "served", None)
        if served is None:
            return spec  # not kept: without the model its references lead nowhere
        parts = spec.setdefault("components", {})
        for section, entries in components(served.schema, max_rows=settings.max_rows).items():
            parts.setdefault(section, {}).update(entries)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _read_body(request: Request, limit: int) -> bytes:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", ""):
        raise _BadRequest(
            415, "UNSUPPORTED_MEDIA_TYPE",
            f"expected Content-Type application/json; got {content_type!r}; fix: send JSON with that header",
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    # Read in chunks and stop at the limit, so an endless body cannot fill the memory.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    request.scope[_BODY] = body  # one dict entry: read again only if the request is refused
    return body


def _too_large(size: int, limit: int) -> _BadRequest:
    return _BadRequest(
        413, "PAYLOAD_TOO_LARGE",
        f"expected a body of at most {limit} bytes; got {size} or more; fix: split the batch into smaller requests",
    )


def _parse(body: bytes) -> Any:
    if not body.strip():
        raise _BadRequest(400, "MALFORMED_REQUEST", 'expected a JSON body; got an empty one; fix: send {"records": [...]}')
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        problems = _numbers_json_cannot_carry(body)
        if problems:
            first = problems[0]
            where = f"record {first.row}, column {first.column!r}" if first.row is not None else "the body"
            more = f" (and {len(problems) - 1} more, listed in detail)" if len(problems) > 1 else ""
            raise _BadRequest(
                400, "MALFORMED_REQUEST",
                f"expected valid JSON numbers; got {first.message} at {where}{more}; "
                "fix: send null for a missing value and finite numbers otherwise",
                problems,
            ) from None
        raise _BadRequest(
            400, "MALFORMED_REQUEST",
            f"expected valid JSON; got a body that does not parse ({error}); fix: check quotes, commas and "
            "brackets (NaN and Infinity are not JSON: send null for a missing value)",
        ) from None


class _Unsendable(str):
    """A number token that JSON cannot carry (NaN, Infinity, 1e400), kept as its text."""


def _numbers_json_cannot_carry(body: bytes) -> list[Problem]:
    """Where a body that is JSON but for NaN, Infinity or an overflowing number has them.

    Only called once the strict parse has failed, so a good request never pays for it.
    """
    try:
        payload = json.loads(
            body,
            parse_constant=_Unsendable,
            parse_float=lambda text: _Unsendable(text) if math.isinf(float(text)) else float(text),
            parse_int=lambda text: _Unsendable(text) if math.isinf(float(text)) else int(text),
        )
    except (ValueError, RecursionError):
        return []  # not JSON even when read leniently: the plain message fits
    found: list[Problem] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(payload, ())]
    while stack and len(found) < 20:
        value, path = stack.pop()
        if isinstance(value, _Unsendable):
            found.append(_place(payload, path, value))
        elif isinstance(value, dict):
            stack.extend((item, (*path, key)) for key, item in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in reversed(list(enumerate(value))))
    return found


def _place(payload: Any, path: tuple[Any, ...], token: str) -> Problem:
    """Name the record and column of ``path`` in the request's own terms."""
    if token == "NaN":
        what = "NaN (not JSON; null is how JSON says missing)"
    elif token in ("Infinity", "-Infinity"):
        what = f"{token} (not JSON, and no value a model can use)"
    else:
        what = f"{token[:30]}{'...' if len(token) > 30 else ''} (too large for a 64-bit number)"
    if len(path) == 3 and path[0] in ("records", "dataframe_records"):
        return Problem(column=str(path[2]), row=path[1], message=what)
    if len(path) == 4 and path[:2] == ("dataframe_split", "data"):
        columns = payload["dataframe_split"].get("columns")
        column = columns[path[3]] if isinstance(columns, list) and path[3] < len(columns) else f"#{path[3]}"
        return Problem(column=str(column), row=path[2], message=what)
    return Problem(column=None, row=None, message=f"{what} at {'.'.join(map(str, path)) or 'the top level'}")


def _check_size(records: Any, max_rows: int) -> None:
    if isinstance(records, list) and len(records) > max_rows:
        raise _BadRequest(
            413, "PAYLOAD_TOO_LARGE",
            f"expected at most {max_rows} records per request; got {len(records)}; fix: split the batch",
        )


@contextmanager
def _schema_refusals() -> Iterator[None]:
    """Turn a schema error into a 422 that lists each problem with its record and column."""
    try:
        yield
    except SchemaError as error:
        raise _BadRequest(422, "BAD_REQUEST", str(error), error.problems or [Problem(None, None, str(error))]) from None


def _mlflow_frame(schema: Schema, payload: Any, max_rows: int) -> tuple[Any, list[str]]:
    formats = ("dataframe_records", "dataframe_split")
    if not isinstance(payload, dict) or sum(key in payload for key in formats) != 1:
        keys = sorted(payload) if isinstance(payload, dict) else _describe(payload)
        raise _BadRequest(
            400, "BAD_REQUEST",
            f"expected a JSON object with exactly one of {formats}; got {keys}; fix: send "
            '{"dataframe_records": [{...}]} or {"dataframe_split": {"columns": [...], "data": [[...]]}}',
        )
    if "dataframe_records" in payload:
        _check_size(payload["dataframe_records"], max_rows)
        return schema.frame_from_records(payload["dataframe_records"])
    split = payload["dataframe_split"]
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) or not isinstance(split.get("data"), list):
        raise _BadRequest(
            400, "BAD_REQUEST",
            f"expected dataframe_split to be an object with 'columns' and 'data' arrays; got {_describe(split)}; "
            'fix: send {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}',
        )
    columns, rows = split["columns"], split["data"]
    _check_size(rows, max_rows)
    if len(set(map(str, columns))) != len(columns) or not all(isinstance(c, str) for c in columns):
        raise _BadRequest(
            400, "BAD_REQUEST", f"expected distinct column names (strings); got {columns!r}; fix: name each column once"
        )
    width = len(columns)
    for row_number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise _BadRequest(
                400, "BAD_REQUEST",
                f"expected every row of 'data' to be an array of {width} values (one per column); "
                f"row {row_number} is {_describe(row)}; fix: give each row one value per column",
            )
    position = {name: j for j, name in enumerate(columns)}
    by_column = {name: [row[position[name]] for row in rows] for name in schema.names if name in position}
    ignored = sorted(set(columns) - set(schema.names))
    return schema.frame_from_columns(by_column, n_rows=len(rows)), ignored


def _run_model(served: _Served, frame: Any, *, probabilities: bool = True) -> dict[str, Any]:
    try:
        return served.predictor.predict(frame, probabilities=probabilities)
    except Exception as error:  # the input passed the schema, so say what the model itself refused
        raise _BadRequest(
            422, "MODEL_ERROR",
            f"expected the model to accept input that matches its schema; it raised {type(error).__name__}: {error}; "
            "fix: check the values sent, or the model's training",
        ) from None


def _request_ids(n: int) -> tuple[str, list[str]]:
    """A prefix new to every request, and the ids it gives the records: ``prefix-0``, ``prefix-1``, ...

    80 random bits make two services, or two processes of one, pick the same prefix
    about never; the store indexes the prefix alone, one entry however many the records.
    """
    prefix = uuid.uuid4().hex[:20]
    return prefix, [f"{prefix}-{i}" for i in range(n)]


def _event_times(payload: dict[str, Any], n: int) -> float | list[float] | None:
    """The records' event times from ``event_time`` (one for all) or ``event_times`` (one each)."""
    if "event_time" in payload and "event_times" in payload:
        raise _BadRequest(
            422, "BAD_REQUEST", "expected event_time or event_times, not both; got both; fix: send one of them"
        )
    if "event_times" in payload:
        given = payload["event_times"]
        if not isinstance(given, list) or len(given) != n:
            raise _BadRequest(
                422, "BAD_REQUEST",
                f"expected event_times to hold one time per record ({n}); got {_describe(given)}; "
                "fix: send one ISO 8601 time per record, in the records' order, or one event_time for all",
            )
        return [_event_seconds(value, f"event_times[{i}]") for i, value in enumerate(given)]
    if "event_time" in payload:
        return _event_seconds(payload["event_time"], "event_time")
    return None


def _event_seconds(value: Any, where: str) -> float:
    try:
        if not isinstance(value, str):
            raise LabkitError("not text")
        when = seconds_since_epoch(value)
    except LabkitError:
        raise _BadRequest(
            422, "BAD_REQUEST",
            f"expected {where} to be an ISO 8601 time such as '2013-01-01T08:00:00Z'; got {json_text(value)}; "
            "fix: write it as YYYY-MM-DDTHH:MM:SS with a zone (Z for UTC)",
        ) from None
    if not _READABLE_TIMES[0] <= when <= _READABLE_TIMES[1]:
        raise _BadRequest(
            422, "BAD_REQUEST",
            f"expected {where} between 1677-09-22 and 2262-04-11, the times the prediction store reads back as "
            f"pandas times; got {json_text(value)}; fix: send the time the record happened",
        )
    return when


async def _record(
    request: Request,
    served: _Served,
    records: list[Any],
    request_prefix: str,
    out: dict[str, Any],
    event_times: float | list[float] | None,
    started: float,
) -> None:
    """Commit the request's predictions to the store before the answer goes out (nothing if no store).

    Nothing is encoded here: the store encodes in the recorder's worker thread, while this
    thread, the event loop's, serves the next request.
    """
    recorder: Recorder | None = request.app.state.recorder
    if recorder is None:
        return
    arrival = time.time()
    names = served.schema.names
    # The records as they came, when they hold exactly the model's columns (the usual case):
    # no per-record work; otherwise only the model's columns are kept.
    exact = all(len(record) == len(names) for record in records)
    kept = records if exact else [{name: record.get(name) for name in names} for record in records]
    batch = Batch(
        request_prefix=request_prefix,
        event_times=event_times if event_times is not None else arrival,
        arrival_time=arrival,
        model_name=served.entry.name,
        model_version=served.entry.version,
        inputs=kept,
        predictions=out["predictions"],
        classes=[str(label) for label in _as_list(out["classes"])] if "classes" in out else None,
        probabilities=out.get("probabilities"),
        latency_ms=(time.perf_counter() - started) * 1000,
    )
    try:
        await recorder.record(batch)
    except Exception as error:
        raise _BadRequest(
            503, "STORE_UNAVAILABLE",
            f"expected to record the predictions before answering; the store refused ({type(error).__name__}: "
            f"{error}); fix: try again, and check the store's disk and file ({recorder.store.path})",
        ) from None


def _shadow(request: Request, records: list[Any], request_ids: list[str], event_times: list[float] | None) -> None:
    """Hand the answered records to the shadow, if there is one; it runs after the answer has gone."""
    shadow: Shadow | None = request.app.state.shadow
    if shadow is not None:
        shadow.score_later(records, request_ids, event_times if event_times is not None else [time.time()] * len(request_ids))


def _labels(payload: Any) -> tuple[list[str], list[Any], Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("labels"), list) or not payload["labels"]:
        raise _BadRequest(
            400, "BAD_REQUEST",
            f"expected a JSON object with a non-empty 'labels' array; got {_describe(payload)}; "
            'fix: send {"labels": [{"request_id": "...", "label": true}, ...]}',
        )
    problems = [
        Problem(column=None, row=i, message="expected an object with a text request_id and a label")
        for i, item in enumerate(payload["labels"])
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str) or "label" not in item
    ]
    if problems:
        raise _BadRequest(422, "BAD_REQUEST", f"expected each label as {{request_id, label}}; {len(problems)} are not", problems)
    at = payload.get("label_time")
    if at is not None:
        at = _event_seconds(at, "label_time")
    return [item["request_id"] for item in payload["labels"]], [item["label"] for item in payload["labels"]], at


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with keys {sorted(value)!r}"
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    return f"{json_type(value)} {json_text(value)}"


def _plain(value: Any) -> Any:
    """Serialise what orjson cannot: arrays of Python objects (string classes) and numpy scalars."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):  # a date column's values, on their way to the store
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _json(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body, default=_plain, option=_JSON_OPTIONS), status_code=status, media_type="application/json", headers=headers)


def _error_response(
    status: int, code: str, message: str, problems: list[Problem], headers: Any = None
) -> Response:
    detail = [
        {"loc": [part for part in ("body", p.row, p.column) if part is not None], "msg": p.message} for p in problems
    ]
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return _json({"error_code": code, "message": message, "detail": detail}, status=status, headers=headers)
