"""A client for a labkit model service: what other systems use to call the model.

One implementation serves everyone: :attr:`labkit.Deployment.client` is a
:class:`ModelClient`, and so is what a batch job, an app or a control loop makes from a
URL. It sends frames in chunks the service accepts, retries what is worth retrying
(nothing answered, a timeout, 503) with exponential backoff and jitter, never retries a
refusal (4xx), and turns every failure into a labkit error that says what to do.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

from labkit.errors import SchemaError, ServiceError, ServiceUnavailableError
from labkit.schema import Problem

__all__ = ["ModelClient"]

# Backoff before retry k (from 0) is BASE * 2**k seconds, at most CAP, times a random
# factor in [0.5, 1): clients that failed together do not all come back together.
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 4.0


class ModelClient:
    """Call a labkit model service over HTTP.

    Parameters
    ----------
    url
        The service's base URL, such as ``http://127.0.0.1:8000``.
    token
        The service's token, if it was started with one.
    timeout
        Seconds to wait for each answer.
    retries
        How many times to try again after a connection error, a timeout or a 503; the
        waits between tries grow from 0.25 s to at most 4 s.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"wind": rng.normal(size=40)})
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> _ = reg.register(LogisticRegression().fit(X, X.wind > 0), name="demo", X=X)
    >>> _ = reg.promote("demo", version=1, alias="champion")
    >>> with lk.deploy(reg, "demo") as dep:
    ...     client = ModelClient(dep.url)
    ...     client.predict(pd.DataFrame({"wind": [2.0, -2.0]}))[["prediction", "model_version"]]
       prediction  model_version
    0        True              1
    1       False              1
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0, retries: int = 3) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self._http: httpx.Client | None = None
        self._max_rows: int | None = None
        self._random = random.Random()

    def __repr__(self) -> str:
        return f"ModelClient({self.url!r})"

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; the client opens new ones if used again."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def health(self) -> dict[str, Any]:
        """The service's ``/health`` answer: status, model name and version."""
        return self._request("GET", "/health")

    def model_info(self) -> dict[str, Any]:
        """The service's ``/model`` answer: the version served, its schema and limits."""
        info = self._request("GET", "/model")
        self._max_rows = info.get("max_rows")
        return info

    def feedback(self, request_ids: Sequence[str], labels: Sequence[Any], *, at: str | None = None) -> dict[str, Any]:
        """Send the true outcomes of earlier predictions, by request id, to ``/feedback``.

        Parameters
        ----------
        request_ids, labels
            ``labels[i]`` is the truth for ``request_ids[i]`` (the ids ``predict`` returned).
        at
            When the labels became known (ISO 8601), if not now: a replay's simulated time.

        Returns
        -------
        dict
            ``matched`` (how many were attached) and ``unknown`` (ids the store does not know).

        Raises
        ------
        ServiceError
            409 when an id already has a label (nothing of the batch is kept); 404 when the
            service logs no predictions (deploy it with ``store=``).
        """
        ids, values = [str(i) for i in request_ids], [_jsonable(v) if hasattr(v, "item") else v for v in labels]
        if len(ids) != len(values):
            raise ValueError(
                f"expected one label per request id; got {len(ids)} ids and {len(values)} labels; "
                "fix: pass two lists of the same length"
            )
        body: dict[str, Any] = {"labels": [{"request_id": i, "label": v} for i, v in zip(ids, values)]}
        if at is not None:
            body["label_time"] = str(at)
        return self._request("POST", "/feedback", content=orjson.dumps(body, default=_jsonable))

    def predict(self, frame: pd.DataFrame, *, event_times: Any = None) -> pd.DataFrame:
        """Send ``frame`` to ``/predict`` and return the answers as a frame.

        Frames larger than the service's row limit go in several requests, and the
        answers come back in the frame's order.

        Parameters
        ----------
        frame
            One row per record, with (at least) the model's input columns. Missing values
            (NaN, None) are sent as JSON ``null``.
        event_times
            When the records happened, if not now (a replay on a simulated clock): one
            time for all (ISO 8601 text or a datetime), or one per row (a sequence or a
            Series aligned with ``frame``). Stored with each prediction by a service that
            logs them.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``frame``: ``prediction``, one ``proba_<class>`` column per class
            for classifiers, ``model_version`` and ``request_id``.

        Raises
        ------
        SchemaError
            A value is infinite: JSON cannot carry it, and it is not a missing value.
        ServiceError
            The service refused the request; ``.status`` and ``.detail`` (record, column,
            problem) say why, as the service said it.
        ServiceUnavailableError
            The service could not be reached, through every retry.
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"expected a pandas DataFrame; got {type(frame).__name__}; fix: pass rows as pd.DataFrame(...)"
            )
        _refuse_infinities(frame)
        info = self.model_info() if self._max_rows is None or frame.empty else None
        if frame.empty:
            classes = ((info or {}).get("target") or {}).get("classes") or []
            columns = ["prediction", *(f"proba_{label}" for label in classes), "model_version", "request_id"]
            return pd.DataFrame(columns=columns, index=frame.index)
        size = self._max_rows or len(frame)
        times = _event_times(event_times, len(frame))
        parts = [self._predict_chunk(frame, start, size, times) for start in range(0, len(frame), size)]
        return pd.concat(parts) if len(parts) > 1 else parts[0]

    def _predict_chunk(self, frame: pd.DataFrame, start: int, size: int, times: str | list[str] | None) -> pd.DataFrame:
        frame = frame.iloc[start : start + size]
        body: dict[str, Any] = {"records": _records(frame)}
        if isinstance(times, str):
            body["event_time"] = times
        elif times is not None:
            body["event_times"] = times[start : start + size]
        try:
            answer = self._request("POST", "/predict", content=orjson.dumps(body, default=_jsonable))
        except ServiceError as error:
            if start == 0 or isinstance(error, ServiceUnavailableError):
                raise
            # The service numbers records within the request; the caller thinks in rows of
            # the whole frame, so a refusal of a later chunk is renumbered.
            detail = [
                {**item, "loc": [part + start if i == 1 and isinstance(part, int) else part for i, part in enumerate(item.get("loc", []))]}
                for item in error.detail
            ]
            raise ServiceError(
                f"rows {start} to {start + len(frame) - 1} of the frame went as one request, whose record 0 is "
                f"row {start} (.detail counts from the frame's first row): {error}",
                status=error.status,
                detail=detail,
            ) from None
        result = pd.DataFrame({"prediction": answer["predictions"]}, index=frame.index)
        for j, label in enumerate(answer.get("classes", [])):
            result[f"proba_{label}"] = [row[j] for row in answer["probabilities"]]
        result["model_version"] = answer["model_version"]
        result["request_id"] = answer["request_ids"]
        return result

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._http = httpx.Client(base_url=self.url, headers=headers, timeout=self.timeout)
        if "content" in kwargs:
            kwargs["headers"] = {"Content-Type": "application/json"}
        attempts = max(int(self.retries), 0) + 1
        for attempt in range(attempts):
            try:
                response = self._http.request(method, path, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException) as error:
                failure = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                status = None
            else:
                if response.status_code != 503:
                    return _answer(response)
                failure, status = "it answered 503 (busy or starting)", 503
            if attempt + 1 < attempts:
                time.sleep(min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt) * self._random.uniform(0.5, 1.0))
        raise ServiceUnavailableError(
            f"cannot reach the model service at {self.url} ({failure}; tried {attempts} times); "
            "fix: check that the service is running (dep.running, or start it with lk.deploy or labkit serve) "
            "and that the URL and port are right",
            status=status,
        )


def _records(frame: pd.DataFrame) -> list[dict[Any, Any]]:
    """The frame's rows as dicts of plain Python values, built a column at a time.

    ``Series.tolist`` gives the same values as ``frame.to_dict(orient="records")``, which
    converts value by value and costs ten times as much for a 10,000-row frame: it was
    the slowest step of a large request.
    """
    names = list(frame.columns)
    if not names:
        return [{} for _ in range(len(frame))]
    columns = [frame.iloc[:, j].tolist() for j in range(len(names))]
    return [dict(zip(names, row)) for row in zip(*columns)]


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The body of a final answer; an error answer becomes a ServiceError carrying the service's words."""
    try:
        # orjson, not response.json(): the standard library's parser took longer over a
        # 10,000-row answer than the service took to compute it.
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = {"message": response.text[:500]}
    if response.is_error:
        body = body if isinstance(body, dict) else {"message": str(body)}
        raise ServiceError(
            f"the service answered {response.status_code}: {body.get('message', body)}",
            status=response.status_code,
            detail=body.get("detail", []),
        )
    return body


def _event_times(given: Any, n: int) -> str | list[str] | None:
    """One ISO 8601 text for all rows, one per row, or None."""
    if given is None:
        return None
    if isinstance(given, (str, pd.Timestamp)) or hasattr(given, "isoformat"):
        return pd.Timestamp(given).isoformat()
    texts = [pd.Timestamp(value).isoformat() for value in given]
    if len(texts) != n:
        raise ValueError(
            f"expected one event time per row ({n}); got {len(texts)}; "
            "fix: pass one time for all rows, or a sequence as long as the frame"
        )
    return texts


def _refuse_infinities(frame: pd.DataFrame) -> None:
    problems = []
    for column in frame.select_dtypes(include="number").columns:
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        for row in np.flatnonzero(np.isinf(values))[:20]:
            problems.append(Problem(column=str(column), row=int(row), message=f"{values[row]} cannot be sent as JSON"))
    if problems:
        where = ", ".join(f"record {p.row} column {p.column!r}" for p in problems)
        raise SchemaError(
            f"expected finite numbers or missing values; got infinity at {where}; "
            "fix: replace it with a real value, or with NaN if it is unknown "
            "(frame.replace([np.inf, -np.inf], np.nan))",
            problems=problems,
        )


def _jsonable(value: Any) -> Any:
    """Serialise the values orjson does not know that a DataFrame can hold."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        item = value.item()
        # orjson writes a float NaN as null, which is what a missing value must be.
        return None if isinstance(item, float) and math.isnan(item) else item
    raise TypeError(f"cannot send a value of type {type(value).__name__} as JSON")
