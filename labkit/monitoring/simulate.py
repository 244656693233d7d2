"""Simulated production: replay a frame through a deployment on a simulated clock.

Months of traffic take seconds: the frame's own event times are sent with the records
(so the store keeps simulated time, not the wall clock's), one period after another, and
each record's label is sent back once its delay has passed, stamped with the simulated
time it became known. A monitoring notebook can then ask the store what was known at any
moment, exactly as if it had run for real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labkit.errors import DataError

if TYPE_CHECKING:
    from labkit.deployment import Deployment, ModelClient

__all__ = ["Replay", "simulate"]


@dataclass(frozen=True)
class Replay:
    """What a replay sent.

    Parameters
    ----------
    predictions
        One row per record: ``request_id``, ``event_time``, ``prediction`` and, for the
        records whose label was sent, ``label_time`` (else empty).
    labels_sent
        How many labels went back.
    """

    predictions: pd.DataFrame
    labels_sent: int


def simulate(
    target: Deployment | ModelClient,
    frame: pd.DataFrame,
    *,
    time_column: str = "date",
    label_column: str | None = "rain_tomorrow",
    label_delay: timedelta = timedelta(days=1),
    label_fraction: float = 1.0,
    period: str = "7D",
    seed: int = 0,
) -> Replay:
    """Replay ``frame`` through a deployment, period by period, labels following after a delay.

    Parameters
    ----------
    target
        The deployment (started with ``store=``, so predictions and labels are kept), or a
        client of one.
    frame
        The traffic: the model's input columns, an event-time column and, to send labels,
        the label column.
    time_column
        When each record happened; naive times are UTC.
    label_column
        The truth sent back after ``label_delay``; ``None`` sends no labels.
    label_delay
        How long after its event the truth of a record is known (did it rain tomorrow?
        a day later).
    label_fraction
        The share of labels that ever arrive, chosen at random with ``seed``: in real
        life some outcomes are never learned.
    period
        How much simulated time each step covers (a pandas offset such as ``"1D"``): the
        predictions of a period go together, then the labels that came due in it.
    seed
        Decides which labels arrive; the same seed gives the same replay.

    Returns
    -------
    Replay
        What was sent, with each record's request id.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import labkit as lk
    >>> from sklearn.dummy import DummyClassifier
    >>> days = lk.data.running_example(lk.data.load_weather()).head(40)
    >>> X, y = days[list(lk.data.FEATURES)], days["rain_tomorrow"]
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(DummyClassifier().fit(X, y), name="rain", X=X, y=y)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> with lk.deploy(reg, "rain", store=folder / "monitor.db") as dep:
    ...     replay = simulate(dep, days, label_delay=timedelta(days=1), label_fraction=0.5, seed=0)
    >>> len(replay.predictions), replay.labels_sent  # about half the labels ever arrive
    (40, 16)
    >>> store = lk.PredictionStore(folder / "monitor.db")
    >>> known = store.frame(labelled=True)
    >>> bool((known["label_time"] - known["event_time"] == pd.Timedelta(days=1)).all())
    True
    """
    # Imported here, not at the top: with it come FastAPI and uvicorn, which
    # ``import labkit.monitoring`` (for a drift report, say) should not have to load.
    from labkit.deployment import Deployment, ModelClient

    client = target.client if isinstance(target, Deployment) else target
    if not isinstance(client, ModelClient):
        raise TypeError(
            f"expected a Deployment or a ModelClient; got {type(target).__name__}; fix: pass what lk.deploy returned"
        )
    if time_column not in frame.columns:
        raise DataError(
            f"expected an event-time column {time_column!r}; got columns {list(frame.columns)!r}; "
            "fix: pass time_column= naming when each record happened"
        )
    if label_column is not None and label_column not in frame.columns:
        raise DataError(
            f"expected a label column {label_column!r}; got columns {list(frame.columns)!r}; "
            "fix: pass label_column= (or None to send no labels)"
        )
    if not 0.0 <= label_fraction <= 1.0:
        raise ValueError(f"expected label_fraction between 0 and 1; got {label_fraction!r}; fix: pass e.g. 0.8")
    times = pd.to_datetime(frame[time_column])
    times = times.dt.tz_localize("UTC") if times.dt.tz is None else times.dt.tz_convert("UTC")
    # Positions, not the caller's index, identify rows here: a frame made by concat or by
    # sampling with replacement may repeat index labels.
    ordered = frame.assign(**{time_column: times}).reset_index(drop=True).sort_values(time_column, kind="stable")
    features = [column for column in ordered.columns if column not in {time_column, label_column}]
    # Which labels ever arrive is decided once, up front, so it does not depend on periods.
    arrives = np.random.default_rng(seed).random(len(ordered)) < label_fraction
    arrives = pd.Series(arrives, index=ordered.index) if label_column is not None else pd.Series(False, index=ordered.index)
    due = ordered[time_column] + label_delay

    sent, pending = [], []
    labels_sent = 0
    for period_start, part in ordered.groupby(pd.Grouper(key=time_column, freq=period), sort=True):
        if part.empty:
            continue
        answer = client.predict(part[features], event_times=part[time_column])
        rows = pd.DataFrame(
            {"request_id": answer["request_id"], "event_time": part[time_column], "prediction": answer["prediction"]},
            index=part.index,
        )
        sent.append(rows)
        pending.append(rows[arrives.loc[part.index]])
        period_end = period_start + pd.tseries.frequencies.to_offset(period)
        labels_sent += _send_due(client, pending, ordered, label_column, due, until=period_end)
    labels_sent += _send_due(client, pending, ordered, label_column, due, until=None)
    predictions = pd.concat(sent) if sent else pd.DataFrame(columns=["request_id", "event_time", "prediction"])
    predictions["label_time"] = due.where(arrives).reindex(predictions.index)
    return Replay(predictions=predictions.reset_index(drop=True), labels_sent=labels_sent)


def _send_due(
    client: ModelClient,
    pending: list[pd.DataFrame],
    ordered: pd.DataFrame,
    label_column: str | None,
    due: pd.Series,
    *,
    until: Any,
) -> int:
    """Send the labels that came due before ``until`` (all, if None), grouped by the time they became known."""
    if label_column is None or not pending:
        return 0
    waiting = pd.concat(pending)
    pending.clear()
    ready = waiting if until is None else waiting[due.loc[waiting.index] < until]
    if len(ready) < len(waiting):
        pending.append(waiting.drop(ready.index))
    for when, group in ready.groupby(due.loc[ready.index], sort=True):
        client.feedback(group["request_id"].tolist(), ordered.loc[group.index, label_column].tolist(), at=when.isoformat())
    return len(ready)
