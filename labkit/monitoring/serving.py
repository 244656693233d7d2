"""Serving over time: how much traffic a service had, how fast it answered, and how often it refused.

A model can be right and still fail its users: slow answers, or requests refused because
an upstream system changed its format. These are the signals site reliability engineers
watch on any service (traffic, latency and errors, three of Google SRE's "four golden
signals"), read here from the prediction store window by window, so an alert rule can
fire on them like on any other measure.

Latency is read per request, not per record (a request of 1000 records is one wait for
its client), and summarised by percentiles rather than the mean: the p95 is the wait
that one request in twenty exceeds, which a few slow requests move and a mean hides.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from labkit.errors import DataError
from labkit.store import PredictionStore

__all__ = ["SERVICE_MEASURES", "service_over_time"]

SERVICE_MEASURES: tuple[str, ...] = (
    "requests", "refused", "error_rate", "records", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "feedback_refused",
)
_PREDICTING = ("/predict", "/invocations")
_TYPES = {
    "start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]", "requests": int, "refused": int,
    "error_rate": float, "records": int, "latency_p50_ms": float, "latency_p95_ms": float,
    "latency_p99_ms": float, "feedback_refused": int,
}


def service_over_time(
    store: PredictionStore, *, window: str = "1D", start: object = None, end: object = None
) -> pd.DataFrame:
    """Traffic, latency and the error rate of the services that log to ``store``, per window of event time.

    Requests are placed by event time, as predictions are: an answered request at its
    first record's, a refused one at the time it stated (``event_time``) or else at its
    arrival (see :meth:`labkit.PredictionStore.refusals`). So a replay on a simulated
    clock finds its refusals in the windows of its predictions.

    Parameters
    ----------
    store
        The store the services log to (started with ``store=``).
    window
        A pandas offset such as ``"1h"``, ``"1D"`` or ``"7D"``: consecutive windows,
        empty ones included.
    start, end
        Event times to keep: ``start <= event_time < end`` (ISO 8601 or datetimes).

    Returns
    -------
    pandas.DataFrame
        One row per window: ``start`` and ``end`` ([start, end)); ``requests`` to the
        prediction endpoints (``/predict`` and ``/invocations``), answered or refused;
        ``refused``, how many of them got a 4xx or 5xx; ``error_rate`` = refused /
        requests; ``records`` answered; ``latency_p50_ms``, ``latency_p95_ms`` and
        ``latency_p99_ms`` over the answered requests (linear interpolation between
        them, as NumPy's percentile); and ``feedback_refused``, refused ``/feedback``
        requests (a rate needs the answered ones, which the store keeps as labels, not as
        requests). A window without requests has NaN rates and latencies, not 0.

    Raises
    ------
    DataError
        If ``store`` is not a :class:`labkit.PredictionStore`, or ``window`` not an offset.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from labkit.monitoring.alerts import Rule, evaluate
    >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db")
    >>> rng = np.random.default_rng(0)
    >>> for i, wait in enumerate(rng.gamma(2.0, 5.0, size=40)):  # 40 requests over 2 days
    ...     store.log([{"request_id": f"r-{i}", "event_time": f"2013-01-0{1 + i // 20}T{i % 20:02d}:00:00Z",
    ...                 "model_name": "weather", "model_version": 1, "inputs": {"wind": 3.0},
    ...                 "prediction": True, "probabilities": None, "latency_ms": wait * (1 + 9 * (i >= 20))}])
    >>> for hour in range(5):  # the second day, an upstream system sends a column the model does not know
    ...     store.log_refusal("/predict", 422, "BAD_REQUEST", event_time=f"2013-01-02T{hour:02d}:30:00Z")
    >>> table = service_over_time(store, window="1D")
    >>> table[["requests", "refused", "error_rate", "latency_p50_ms", "latency_p95_ms"]].round(2).set_axis(
    ...     list(table["start"].dt.strftime("%b %d")))
            requests  refused  error_rate  latency_p50_ms  latency_p95_ms
    Jan 01        20        0         0.0            5.52           15.84
    Jan 02        25        5         0.2          104.01          254.01
    >>> rules = [Rule(name="slow", measure="latency_p95_ms", above=100),
    ...          Rule(name="refusing", measure="error_rate", above=0.05)]
    >>> evaluate(rules, table, time_column="start")["message"].tolist()
    ['slow: latency_p95_ms 254 is above 100', 'refusing: error_rate 0.2 is above 0.05']
    """
    if not isinstance(store, PredictionStore):
        raise DataError(
            f"expected a labkit.PredictionStore; got {type(store).__name__}; fix: pass "
            "lk.PredictionStore(path), the store the service was deployed with (store=path)"
        )
    try:
        if isinstance(window, bool) or not isinstance(window, str):
            raise ValueError(window)
        offset = pd.tseries.frequencies.to_offset(window)
    except ValueError:
        raise DataError(
            f"expected window to be a pandas offset such as '1h', '1D' or '7D'; got {window!r}; "
            "fix: pass a pandas offset alias as text"
        ) from None
    answered = store.requests(start, end)
    refused = store.refusals(start, end)
    kind = np.where(refused["endpoint"].isin(_PREDICTING), "refused", "feedback_refused")
    events = pd.concat(
        [
            pd.DataFrame({"event_time": answered["event_time"], "answered": 1, "refused": 0, "feedback_refused": 0,
                          "records": answered["records"], "latency_ms": answered["latency_ms"]}),
            pd.DataFrame({"event_time": refused["event_time"], "answered": 0, "refused": (kind == "refused").astype(int),
                          "feedback_refused": (kind == "feedback_refused").astype(int), "records": 0,
                          "latency_ms": np.nan}),
        ],
        ignore_index=True,
    )
    columns = ["start", "end", *SERVICE_MEASURES]
    if events.empty:
        return pd.DataFrame({column: pd.Series(dtype=_TYPES[column]) for column in columns})
    # One vectorised pass over all windows (label and closed as labkit's other monitors cut
    # them): a store whose times span centuries gives many windows, and a loop would crawl.
    windows = events.set_index("event_time").sort_index().resample(offset, label="left", closed="left")
    counts = windows[["answered", "refused", "feedback_refused", "records"]].sum()
    requests = counts["answered"] + counts["refused"]
    table = pd.DataFrame({
        "start": counts.index,
        "end": counts.index + offset,
        "requests": requests.to_numpy(),
        "refused": counts["refused"].to_numpy(),
        "error_rate": (counts["refused"] / requests.where(requests > 0)).to_numpy(),
        "records": counts["records"].to_numpy(),
        # Refusals carry no latency (NaN), and quantile skips NaN: only answered requests count.
        **{f"latency_p{q}_ms": windows["latency_ms"].quantile(q / 100).to_numpy() for q in (50, 95, 99)},
        "feedback_refused": counts["feedback_refused"].to_numpy(),
    })
    return table[columns].astype(_TYPES).reset_index(drop=True)
