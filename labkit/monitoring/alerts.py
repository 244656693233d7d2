"""Alert rules: one incident is one alert, not fifty.

A rule watches one measure over time (a metric per window, the share of drifted columns,
a detector's alarms, latency, the error rate) and fires when it crosses a threshold. Fired
naively, a rule on a noisy measure fires again at every window the measure stays bad, and
again each time it wobbles back across the line: people stop reading alerts (alert
fatigue), and then miss the one that matters. Three settings make one incident one alert:

- ``for_windows``: fire only after the measure has been bad for K windows in a row;
- ``recover_at`` (hysteresis): once fired, the incident ends only when the measure is
  clearly good again, past a second threshold, not when it wobbles across the first;
- ``cooldown``: after an incident ends, a new one cannot fire for a while.

Alerts are plain rows (time, rule, measure, value, threshold, message): stored in the
prediction store with :meth:`labkit.PredictionStore.add_alerts`, shown in a notebook, or
posted as JSON to a webhook with :func:`post_alerts`.

Examples
--------
>>> import pandas as pd
>>> weeks = pd.DataFrame({"time": pd.date_range("2013-01-06", periods=8, freq="7D", tz="UTC"),
...                       "accuracy": [0.71, 0.58, 0.61, 0.59, 0.62, 0.58, 0.70, 0.72]})
>>> naive = Rule(name="accuracy low", measure="accuracy", below=0.6)
>>> len(evaluate([naive], weeks))  # every dip is an alert
3
>>> calm = Rule(name="accuracy low", measure="accuracy", below=0.6, recover_at=0.68)
>>> evaluate([calm], weeks)[["time", "value", "message"]].to_dict("records")[0]["message"]
'accuracy low: accuracy 0.58 is below 0.6'
>>> len(evaluate([calm], weeks))  # one incident, one alert
1
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

__all__ = ["ALERT_COLUMNS", "Rule", "evaluate", "post_alerts"]

ALERT_COLUMNS = ["time", "rule", "measure", "value", "threshold", "message"]


@dataclass(frozen=True)
class Rule:
    """When a measure is bad enough, for long enough, to tell someone.

    Parameters
    ----------
    name
        What the alert is called, in words a person on call understands.
    measure
        The column of the table :func:`evaluate` reads (``"accuracy"``, ``"drift_share"``,
        ``"latency_p95_ms"`` and ``"error_rate"`` from
        :func:`~labkit.monitoring.service_over_time`, ``"alarms"`` from
        :meth:`Detection.alarm_counts <labkit.monitoring.Detection.alarm_counts>`, ...).
    below, above
        The threshold: bad when the measure is below it, or above it (give exactly one).
    for_windows
        Fire only after this many bad windows in a row.
    recover_at
        Hysteresis: the incident ends only once the measure is past this (above it for a
        ``below`` rule, below it for an ``above`` rule). Default: the threshold itself.
    cooldown
        After an incident ends, no new alert for this long.
    """

    name: str
    measure: str
    below: float | None = None
    above: float | None = None
    for_windows: int = 1
    recover_at: float | None = None
    cooldown: timedelta = timedelta(0)

    def _check(self) -> None:
        if (self.below is None) == (self.above is None):
            raise ValueError(
                f"expected a threshold as below= or above=, exactly one; got below={self.below!r}, "
                f"above={self.above!r}; fix: e.g. Rule(name=..., measure='accuracy', below=0.6)"
            )
        if isinstance(self.for_windows, bool) or not isinstance(self.for_windows, int) or self.for_windows < 1:
            raise ValueError(f"expected for_windows to be a whole number of at least 1; got {self.for_windows!r}")
        threshold = self.below if self.below is not None else self.above
        if self.recover_at is not None and (
            (self.below is not None and self.recover_at < threshold)
            or (self.above is not None and self.recover_at > threshold)
        ):
            side = "at or above" if self.below is not None else "at or below"
            raise ValueError(
                f"expected recover_at {side} the threshold {threshold!r}, on the good side of it; "
                f"got {self.recover_at!r}; fix: pass a value past the threshold, or leave recover_at out"
            )


def evaluate(rules: Iterable[Rule], table: pd.DataFrame, *, time_column: str = "time") -> pd.DataFrame:
    """Run ``rules`` over a table of measures, oldest row first, and return the alerts they fire.

    Parameters
    ----------
    rules
        The rules to run.
    table
        One row per window (or per check), with a time column and one column per measure.
        A missing value (a window with nothing to measure) neither fires nor ends an incident.
    time_column
        The column holding each row's time.

    Returns
    -------
    pandas.DataFrame
        One row per alert with the columns of :data:`ALERT_COLUMNS`, oldest first.
    """
    if time_column not in table.columns:
        raise KeyError(f"expected a time column {time_column!r}; got {list(table.columns)!r}; fix: pass time_column=")
    ordered = table.sort_values(time_column, kind="stable")
    alerts = []
    for rule in rules:
        rule._check()
        if rule.measure not in ordered.columns:
            raise KeyError(
                f"expected a column {rule.measure!r} for rule {rule.name!r}; got {list(ordered.columns)!r}; "
                "fix: compute that measure first, or correct the rule's measure="
            )
        alerts += _fire(rule, ordered[time_column].tolist(), ordered[rule.measure].to_numpy(dtype=float))
    frame = pd.DataFrame(alerts, columns=ALERT_COLUMNS)
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def post_alerts(url: str, alerts: pd.DataFrame, *, timeout: float = 5.0) -> int:
    """Post alerts as JSON to a webhook (a chat room, a pager, a ticket system); return the status.

    The body is ``{"alerts": [{"time": ISO 8601, "rule": ..., "message": ..., ...}, ...]}``.

    Raises
    ------
    httpx.HTTPError
        The webhook could not be reached, or answered with an error.
    """
    records = [
        {**row, "time": pd.Timestamp(row["time"]).isoformat()} for row in alerts[ALERT_COLUMNS].to_dict(orient="records")
    ]
    response = httpx.post(url, content=orjson.dumps({"alerts": records}, option=orjson.OPT_SERIALIZE_NUMPY),
                          headers={"Content-Type": "application/json"}, timeout=timeout)
    response.raise_for_status()
    return response.status_code


def _fire(rule: Rule, times: Sequence[Any], values: np.ndarray) -> list[dict[str, Any]]:
    bad_side = rule.below is not None
    threshold = rule.below if bad_side else rule.above
    recover = rule.recover_at if rule.recover_at is not None else threshold
    fired, in_incident, streak, quiet_until = [], False, 0, None
    for when, value in zip(times, values):
        if np.isnan(value):
            continue
        bad = value < threshold if bad_side else value > threshold
        if in_incident:
            recovered = value >= recover if bad_side else value <= recover
            if recovered:
                in_incident, streak = False, 0
                quiet_until = when + rule.cooldown
            continue
        streak = streak + 1 if bad else 0
        if streak >= rule.for_windows and (quiet_until is None or when >= quiet_until):
            in_incident = True
            word = "below" if bad_side else "above"
            run = f" for {streak} windows" if rule.for_windows > 1 else ""
            fired.append({
                "time": when, "rule": rule.name, "measure": rule.measure, "value": float(value),
                "threshold": float(threshold),
                "message": f"{rule.name}: {rule.measure} {value:.3g} is {word} {threshold:.3g}{run}",
            })
    return fired
