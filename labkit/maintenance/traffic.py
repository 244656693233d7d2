"""Steady traffic during a change: prove that promoting or rolling back fails no request.

"Zero downtime" is a claim to measure, not to trust. :func:`keep_sending` posts requests to
a service from a background thread, one after another, for as long as its ``with`` block
lasts, and keeps every answer: its status, the version that made it, and when it came.
It sends with plain HTTP and no retries, so a request that failed shows as failed,
instead of being quietly tried again as :class:`labkit.ModelClient` would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import orjson
import pandas as pd

from labkit.deployment import Deployment

__all__ = ["Traffic", "keep_sending"]


@dataclass
class Traffic:
    """What :func:`keep_sending` sent and got back; complete once its ``with`` block has ended.

    Attributes
    ----------
    answers
        One row per request: ``sent_s`` and ``answered_s`` (seconds since the traffic
        began), ``status`` (0 when no HTTP answer came at all), ``model_version`` (when
        answered) and ``error`` (what went wrong, if anything).
    """

    answers: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def failed(self) -> int:
        """Requests that did not get a 200."""
        return int((self.answers["status"] != 200).sum()) if len(self.answers) else 0

    def versions(self) -> pd.DataFrame:
        """Each stretch of answers from one version: ``model_version, first_s, last_s, answers``, in order."""
        answered = self.answers[self.answers["status"] == 200]
        if answered.empty:
            return pd.DataFrame(columns=["model_version", "first_s", "last_s", "answers"])
        version = answered["model_version"].astype("int64")  # every 200 names one; a nullable NA would break the run count
        stretch = version.ne(version.shift()).cumsum()
        return (answered.groupby(stretch, sort=True)
                .agg(model_version=("model_version", "first"), first_s=("answered_s", "min"),
                     last_s=("answered_s", "max"), answers=("status", "size"))
                .reset_index(drop=True))


@contextmanager
def keep_sending(
    target: Deployment | str, records: pd.DataFrame, *, pause: float = 0.01, token: str | None = None
) -> Iterator[Traffic]:
    """Send ``records`` to ``/predict`` again and again, one request at a time, until the block ends.

    Parameters
    ----------
    target
        A deployment, or a service's URL.
    records
        The rows each request carries (a few: the point is many requests, not big ones).
    pause
        Seconds between the end of one request and the start of the next.
    token
        The service's token, with a URL (a deployment brings its own).

    Yields
    ------
    Traffic
        Filled in when the block ends.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> X = pd.DataFrame({"wind": np.arange(20.0)})
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> for _ in range(2):
    ...     _ = reg.register(LogisticRegression().fit(X, X.wind > 9), name="rain", X=X)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> with lk.deploy(reg, "rain") as dep:
    ...     with keep_sending(dep, X.head(2)) as traffic:
    ...         time.sleep(0.5)
    ...         _ = reg.promote("rain", version=2, alias="champion")
    ...         time.sleep(2.0)
    >>> traffic.failed, traffic.versions()["model_version"].tolist()
    (0, [1, 2])
    """
    url = target.url if isinstance(target, Deployment) else str(target).rstrip("/")
    headers = {"Content-Type": "application/json"}
    secret = target.headers() if isinstance(target, Deployment) else ({"Authorization": f"Bearer {token}"} if token else {})
    headers.update(secret)
    body = orjson.dumps({"records": records.to_dict(orient="records")}, option=orjson.OPT_SERIALIZE_NUMPY)
    rows: list[dict[str, object]] = []
    stop = threading.Event()
    began = time.monotonic()

    def send() -> None:
        with httpx.Client(timeout=30.0) as client:
            while not stop.is_set():
                sent = time.monotonic() - began
                try:
                    response = client.post(f"{url}/predict", content=body, headers=headers)
                    answer = response.json() if response.status_code == 200 else {}
                    rows.append({"sent_s": sent, "answered_s": time.monotonic() - began, "status": response.status_code,
                                 "model_version": answer.get("model_version"),
                                 "error": None if response.status_code == 200 else response.text[:200]})
                except httpx.HTTPError as error:
                    rows.append({"sent_s": sent, "answered_s": time.monotonic() - began, "status": 0,
                                 "model_version": None, "error": f"{type(error).__name__}: {error}"})
                stop.wait(pause)

    traffic = Traffic()
    sender = threading.Thread(target=send, name="labkit-keep-sending", daemon=True)
    sender.start()
    try:
        yield traffic
    finally:
        stop.set()
        sender.join()
        traffic.answers = pd.DataFrame(rows, columns=["sent_s", "answered_s", "status", "model_version", "error"])
        traffic.answers["model_version"] = traffic.answers["model_version"].astype("Int64")
