"""Retrain policies: when is it time to train the model again, and why?

Three reasons are common in practice, and each is a policy here:

- :class:`SchedulePolicy`: every N days, whatever happens (simple, predictable, wasteful);
- :class:`DriftPolicy`: when the inputs have drifted away from what the model learned
  from, judged by :func:`labkit.monitoring.drift_report` window by window, or by a drift
  alert already kept in the store;
- :class:`PerformancePolicy`: when a metric over labelled windows breaks an alert
  :class:`~labkit.monitoring.alerts.Rule` (which already makes one incident one alert).

Each policy answers ``policy.decide(store, now)`` with a :class:`Decision`: retrain or not,
and why, in a sentence a student can read. Two brakes apply to every policy:

- ``cooldown``: no retrain sooner than this after the last one, whatever the reason;
- ``min_new_labels``: no retrain until this many labels have arrived since the last
  retrain (a model cannot learn from data it has no answers for).

**Never twice for one incident.** A policy keeps no memory of its own: its memory is the
registry. :func:`labkit.maintenance.retrain` records the :class:`Decision` it acted on
(its ``incident``) in the new version's lineage, and ``decide`` reads the lineage back:
an incident that a version was already retrained for does not trigger again, however
long it lasts. An incident is named by the rule and the window where it began (the alert
:func:`labkit.monitoring.evaluate` fires once per incident, thanks to its hysteresis);
a schedule's incident is the date it fell due. So ``decide`` depends only on the store,
the registry and ``now``: ask twice, get the same answer; replay a simulation, get the
same decisions. Only what was known at ``now`` counts: events before ``now``, labels
that had arrived by ``now``, retrains made by ``now``.

The price of "never twice": an incident that a retrain did not end (the gate refused the
challenger, or the new model is no better) stays open, and its policy stays quiet about
it. Retraining again on much the same data would not help; what would is a person
looking, or another policy (a schedule is the usual backstop).

Examples
--------
>>> import tempfile, pathlib
>>> import numpy as np, pandas as pd
>>> from sklearn.linear_model import LogisticRegression
>>> import labkit as lk
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"wind": rng.normal(size=60)})
>>> y = X["wind"] > 0
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> reg = lk.Registry(folder / "registry")
>>> _ = reg.register(LogisticRegression().fit(X, y), name="demo", X=X, y=y)
>>> store = lk.PredictionStore(folder / "monitor.db")
>>> days = pd.date_range("2013-01-01", periods=60, freq="D", tz="UTC")
>>> store.log([{"request_id": f"r{i}", "event_time": day, "model_name": "demo", "model_version": 1,
...             "inputs": {"wind": 1.0}, "prediction": True, "probabilities": None, "latency_ms": 1.0}
...            for i, day in enumerate(days)])
>>> _ = store.add_labels([f"r{i}" for i in range(60)], [i < 30 for i in range(60)], at="2013-03-02")
>>> rule = lk.monitoring.Rule(name="accuracy low", measure="accuracy", below=0.6)
>>> policy = PerformancePolicy(registry=reg, name="demo", rule=rule, window="30D", min_new_labels=20)
>>> policy.decide(store, "2013-03-01").reason  # the labels are not back yet
'no retrain: no window had 10 labelled rows to judge accuracy by'
>>> print(policy.decide(store, "2013-03-03").reason)
retrain: accuracy low: accuracy 0 is below 0.6 in the window from 2013-01-31; 60 labels arrived since the start
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from labkit.errors import DataError
from labkit.maintenance._known import as_span, as_time, day, known_at, retrains, span_words
from labkit.monitoring._frames import is_labelled, windows
from labkit.monitoring.alerts import Rule, evaluate
from labkit.monitoring.drift import DRIFT_SHARE, drift_report
from labkit.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS, performance_over_time
from labkit.registry import ModelVersion, Registry
from labkit.store import PredictionStore

__all__ = ["Decision", "DriftPolicy", "PerformancePolicy", "SchedulePolicy"]


@dataclass(frozen=True)
class Decision:
    """A policy's answer at one moment: retrain or not, and why.

    Parameters
    ----------
    retrain
        Whether to retrain now.
    reason
        Why, in words: what the policy saw, and what held it back if anything did.
    policy
        Which policy decided, such as ``"PerformancePolicy(accuracy low)"``.
    now
        The moment decided about.
    incident
        The incident the policy saw, named so that a retrain can record it (``None``
        when there was none): the policy never triggers twice for one incident.
    new_labels
        The labels that arrived after the last retrain and by ``now``.
    last_retrain
        When the model was last retrained (by any policy), ``None`` if never.
    table
        What the policy looked at: the measure window by window (``None`` for a schedule).

    Examples
    --------
    >>> import pandas as pd
    >>> decision = Decision(retrain=False, reason="no retrain: the next scheduled retrain is due on 2014-03-01",
    ...                     policy="SchedulePolicy(every 90 days)", now=pd.Timestamp("2014-01-01", tz="UTC"))
    >>> decision.retrain, decision.incident
    (False, None)
    """

    retrain: bool
    reason: str
    policy: str
    now: pd.Timestamp
    incident: str | None = None
    new_labels: int = 0
    last_retrain: pd.Timestamp | None = None
    table: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def trigger(self) -> dict[str, Any]:
        """What a retrain records of this decision in its lineage (JSON values only).

        Examples
        --------
        >>> import pandas as pd
        >>> Decision(retrain=True, reason="retrain: it is time", policy="SchedulePolicy(every 30 days)",
        ...          now=pd.Timestamp("2014-01-01", tz="UTC"), incident="schedule due on 2014-01-01").trigger()
        {'policy': 'SchedulePolicy(every 30 days)', 'incident': 'schedule due on 2014-01-01', 'decided_at': '2014-01-01T00:00:00+00:00', 'reason': 'retrain: it is time'}
        """
        return {"policy": self.policy, "incident": self.incident, "decided_at": self.now.isoformat(), "reason": self.reason}


class _Policy:
    """What every policy shares: the registry as memory, the two brakes, and the decision."""

    def __init__(
        self,
        *,
        registry: Registry,
        name: str,
        cooldown: str | timedelta = "30D",
        min_new_labels: int = 30,
        model: str | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.cooldown = cooldown
        self.min_new_labels = min_new_labels
        self.model = model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self._describe()})"

    def decide(self, store: PredictionStore, now: Any) -> Decision:
        """Decide whether to retrain at ``now``, from what the store and the registry knew then.

        Parameters
        ----------
        store
            The prediction store the model's predictions and labels are logged in.
        now
            The moment to decide about (a simulated time in a replay).

        Returns
        -------
        Decision
            ``retrain`` is True only when the policy sees an incident (or its schedule is
            due) that no version was retrained for yet, the cooldown since the last
            retrain has passed, and at least ``min_new_labels`` labels arrived since.

        Raises
        ------
        DataError
            A setting of the policy is not valid (the message says which and how to fix it).
        NotFoundError
            The registry holds no model called ``name``.
        """
        now = as_time(now, what="now")
        cooldown = as_span(self.cooldown, what="cooldown")
        if isinstance(self.min_new_labels, bool) or not isinstance(self.min_new_labels, (int, np.integer)) or self.min_new_labels < 0:
            raise DataError(
                f"expected min_new_labels to be a whole number, 0 or more; got {self.min_new_labels!r}; "
                "fix: pass e.g. min_new_labels=30"
            )
        if not isinstance(self.registry, Registry):
            raise DataError(
                f"expected registry to be a labkit.Registry (where the policy reads what was retrained); "
                f"got {type(self.registry).__name__}; fix: pass registry=lk.Registry('workspace/registry')"
            )
        past = retrains(self.registry, self.name, now)
        last = as_time(past[-1].lineage["trained_at"], what="trained_at") if past else None
        frame = known_at(store, now, model=self.model or self.name)
        incident, seen, table = self._incident(store, frame, now, last)
        decision = {"policy": f"{type(self).__name__}({self._label()})", "now": now, "incident": incident,
                    "last_retrain": last, "table": table}
        if incident is None:
            return Decision(retrain=False, reason=f"no retrain: {seen}", **decision)
        done = [v for v in past if (v.lineage.get("trigger") or {}).get("incident") == incident]
        if done:
            when = as_time(done[-1].lineage["trained_at"], what="trained_at")
            return Decision(
                retrain=False, **decision,
                reason=f"no retrain: {seen}; version {done[-1].version} was already retrained for it on {day(when)}",
            )
        labelled = frame[is_labelled(frame["label"])] if not frame.empty else frame
        if last is not None and not labelled.empty:
            labelled = labelled[labelled["label_time"] > last]
        new = len(labelled)
        decision["new_labels"] = new
        since = f"the last retrain on {day(last)}" if last is not None else "the start"
        if last is not None and now - last < cooldown:
            return Decision(
                retrain=False, **decision,
                reason=f"no retrain: {seen}; but the last retrain was on {day(last)}, less than the cooldown of "
                f"{span_words(cooldown)} ago (the next can be on {day(last + cooldown)})",
            )
        if new < self.min_new_labels:
            return Decision(
                retrain=False, **decision,
                reason=f"no retrain: {seen}; but only {new} labels arrived since {since}, fewer than the "
                f"{self.min_new_labels} needed to learn from",
            )
        return Decision(retrain=True, **decision, reason=f"retrain: {seen}; {new} labels arrived since {since}")

    def _incident(
        self, store: PredictionStore, frame: pd.DataFrame, now: pd.Timestamp, last: pd.Timestamp | None
    ) -> tuple[str | None, str, pd.DataFrame | None]:
        """The incident seen at ``now`` (its name or None), what was seen in words, and the table."""
        raise NotImplementedError

    def _label(self) -> str:
        raise NotImplementedError

    def _describe(self) -> str:
        return f"cooldown={self.cooldown!r}, min_new_labels={self.min_new_labels!r}"


class SchedulePolicy(_Policy):
    """Retrain every so often: ``every`` after the last retrain, or after ``start``.

    Parameters
    ----------
    registry, name
        The registry holding the model, and its name: the lineage of its retrained
        versions says when the last retrain was.
    every
        How long after the last retrain the next one falls due, such as ``"90D"``.
    start
        When the schedule starts counting if the model was never retrained; by default
        the first prediction logged for the model.
    cooldown, min_new_labels
        The two brakes every policy has (see the module's docstring).
    model
        The model name in the store, if it differs from ``name``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn.dummy import DummyClassifier
    >>> import labkit as lk
    >>> X = pd.DataFrame({"wind": np.arange(4.0)})
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(DummyClassifier().fit(X, [0, 1, 0, 1]), name="demo", X=X)
    >>> store = lk.PredictionStore(folder / "monitor.db")
    >>> policy = SchedulePolicy(registry=reg, name="demo", every="90D", start="2013-01-01", min_new_labels=0)
    >>> policy.decide(store, "2013-02-01").reason
    'no retrain: the next scheduled retrain is due on 2013-04-01'
    >>> policy.decide(store, "2013-04-02").reason
    'retrain: the schedule (every 90 days) fell due on 2013-04-01; 0 labels arrived since the start'
    """

    def __init__(
        self,
        *,
        registry: Registry,
        name: str,
        every: str | timedelta = "90D",
        start: Any = None,
        cooldown: str | timedelta = "1D",
        min_new_labels: int = 30,
        model: str | None = None,
    ) -> None:
        super().__init__(registry=registry, name=name, cooldown=cooldown, min_new_labels=min_new_labels, model=model)
        self.every = every
        self.start = start

    def _label(self) -> str:
        return f"every {span_words(as_span(self.every, what='every'))}"

    def _describe(self) -> str:
        return f"every={self.every!r}, start={self.start!r}, {super()._describe()}"

    def _incident(self, store, frame, now, last):
        every = as_span(self.every, what="every")
        if last is not None:
            anchor = last
        elif self.start is not None:
            anchor = as_time(self.start, what="start")
        elif not frame.empty:
            anchor = frame["event_time"].min()
        else:
            return None, "nothing is logged yet, so the schedule has not started", None
        due = anchor + every
        if now < due:
            return None, f"the next scheduled retrain is due on {day(due)}", None
        return f"schedule due on {due.isoformat()}", f"the schedule (every {span_words(every)}) fell due on {day(due)}", None


class PerformancePolicy(_Policy):
    """Retrain when a metric, measured window by window on the labels known so far, breaks a rule.

    The metric comes from :func:`labkit.monitoring.performance_over_time`, and the rule
    is judged by :func:`labkit.monitoring.evaluate`, so ``for_windows``, ``recover_at``
    and the rule's own cooldown decide what one incident is. An incident is open at
    ``now`` if its alert fired and no later window has recovered since.

    Parameters
    ----------
    registry, name
        The registry holding the model, and its name.
    rule
        The rule on a metric, such as ``Rule(name="accuracy low", measure="accuracy",
        below=0.6, recover_at=0.65)``; the measure must be one of
        :data:`~labkit.monitoring.CLASSIFICATION_METRICS` or
        :data:`~labkit.monitoring.REGRESSION_METRICS`.
    window
        The windows of event time the metric is measured over, such as ``"14D"``.
    min_window_rows
        A window with fewer labelled rows is not judged: its metric is mostly noise.
    task, positive
        As in :func:`labkit.monitoring.performance_over_time`.
    cooldown, min_new_labels, model
        As for every policy (see the module's docstring).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn.dummy import DummyClassifier
    >>> import labkit as lk
    >>> X = pd.DataFrame({"wind": np.arange(4.0)})
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(DummyClassifier().fit(X, [0, 1, 0, 1]), name="demo", X=X)
    >>> store = lk.PredictionStore(folder / "monitor.db")
    >>> store.log([{"request_id": f"r{i}", "event_time": f"2013-01-{i + 1:02d}", "model_name": "demo",
    ...             "model_version": 1, "inputs": {"wind": 1.0}, "prediction": True, "probabilities": None,
    ...             "latency_ms": 1.0} for i in range(20)])
    >>> _ = store.add_labels([f"r{i}" for i in range(20)], [i < 12 for i in range(20)], at="2013-01-21")
    >>> rule = lk.monitoring.Rule(name="accuracy low", measure="accuracy", below=0.5)
    >>> policy = PerformancePolicy(registry=reg, name="demo", rule=rule, window="10D", min_window_rows=5,
    ...                            min_new_labels=10)
    >>> decision = policy.decide(store, "2013-01-21")
    >>> decision.table[["time", "accuracy", "n_labelled"]]
                           time  accuracy  n_labelled
    0 2013-01-01 00:00:00+00:00       1.0          10
    1 2013-01-11 00:00:00+00:00       0.2          10
    >>> print(decision.reason)
    retrain: accuracy low: accuracy 0.2 is below 0.5 in the window from 2013-01-11; 20 labels arrived since the start
    """

    def __init__(
        self,
        *,
        registry: Registry,
        name: str,
        rule: Rule,
        window: str = "14D",
        min_window_rows: int = 10,
        task: str = "classification",
        positive: object = True,
        cooldown: str | timedelta = "30D",
        min_new_labels: int = 30,
        model: str | None = None,
    ) -> None:
        super().__init__(registry=registry, name=name, cooldown=cooldown, min_new_labels=min_new_labels, model=model)
        self.rule = rule
        self.window = window
        self.min_window_rows = min_window_rows
        self.task = task
        self.positive = positive

    def _label(self) -> str:
        return self.rule.name

    def _describe(self) -> str:
        return f"rule={self.rule!r}, window={self.window!r}, {super()._describe()}"

    def _incident(self, store, frame, now, last):
        _check_rule(self.rule)
        measure = self.rule.measure
        if measure not in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS):
            raise DataError(
                f"expected the rule's measure to be a metric of performance_over_time, one of "
                f"{[*CLASSIFICATION_METRICS, *REGRESSION_METRICS]!r}; got {measure!r}; "
                "fix: e.g. Rule(name='accuracy low', measure='accuracy', below=0.6)"
            )
        performance = performance_over_time(frame, window=self.window, task=self.task, metrics=[measure],
                                            positive=self.positive)
        table = pd.DataFrame({
            "time": performance["start"],
            measure: performance["value"].where(performance["n_labelled"] >= self.min_window_rows),
            "n_labelled": performance["n_labelled"],
            "lower": performance["lower"],
            "upper": performance["upper"],
        })
        judged = int(table[measure].notna().sum())
        if judged == 0:
            return None, f"no window had {self.min_window_rows} labelled rows to judge {measure} by", table
        alert = _open_incident(self.rule, table)
        if alert is None:
            return None, (f"no open incident of {self.rule.name!r} in {judged} windows of {self.window} "
                          f"with at least {self.min_window_rows} labels"), table
        return (f"{self.rule.name} since {alert['time'].isoformat()}",
                f"{alert['message']} in the window from {day(alert['time'])}", table)


class DriftPolicy(_Policy):
    """Retrain when the inputs have drifted from a reference, or a drift alert is in the store.

    Two ways to see drift, exactly one of them:

    - ``reference``: the policy cuts the logged inputs into windows of ``window`` and runs
      :func:`labkit.monitoring.drift_report` on each against the reference; each window
      gets ``drift_share`` (the share of drifted columns) and ``dataset_drift`` (1 when
      that share is at least ``share``, Evidently's dataset verdict). ``rule`` judges that
      table as :class:`PerformancePolicy` judges metrics.
    - ``alert``: the name of an alert rule whose alerts are kept in the store (by
      :meth:`labkit.PredictionStore.add_alerts`); the latest one since the last retrain is
      the incident.

    Parameters
    ----------
    registry, name
        The registry holding the model, and its name.
    reference
        What the inputs should look like: a frame, a registered version, or an alias of
        ``name`` in the registry (``"champion"``: the serving model's training sample,
        read at each decision, so after a promotion drift is judged against the new one).
    alert
        The name of a stored alert rule to act on instead.
    rule
        When a drift table's window is bad; by default ``dataset_drift`` above 0.5.
    window
        The windows of event time to judge, such as ``"30D"``.
    share
        The share of drifted columns at which a window's dataset drifted.
    min_window_rows
        A window with fewer logged rows is not judged.
    columns, method
        As in :func:`labkit.monitoring.drift_report`.
    cooldown, min_new_labels, model
        As for every policy (see the module's docstring).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn.dummy import DummyClassifier
    >>> import labkit as lk
    >>> X = pd.DataFrame({"wind": np.arange(4.0)})
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(DummyClassifier().fit(X, [0, 1, 0, 1]), name="demo", X=X)
    >>> store = lk.PredictionStore(folder / "monitor.db")
    >>> _ = store.add_alerts(pd.DataFrame([{
    ...     "time": pd.Timestamp("2013-03-15", tz="UTC"), "rule": "wind drifted", "measure": "drift_share",
    ...     "value": 1.0, "threshold": 0.5, "message": "wind drifted: drift_share 1 is above 0.5"}]))
    >>> policy = DriftPolicy(registry=reg, name="demo", alert="wind drifted", min_new_labels=0)
    >>> print(policy.decide(store, "2013-04-01").reason)
    retrain: the store holds the alert 'wind drifted: drift_share 1 is above 0.5' from 2013-03-15; 0 labels arrived since the start
    """

    def __init__(
        self,
        *,
        registry: Registry,
        name: str,
        reference: pd.DataFrame | ModelVersion | str | None = None,
        alert: str | None = None,
        rule: Rule | None = None,
        window: str = "30D",
        share: float = DRIFT_SHARE,
        min_window_rows: int = 20,
        columns: Sequence[str] | None = None,
        method: str | None = None,
        cooldown: str | timedelta = "30D",
        min_new_labels: int = 30,
        model: str | None = None,
    ) -> None:
        super().__init__(registry=registry, name=name, cooldown=cooldown, min_new_labels=min_new_labels, model=model)
        self.reference = reference
        self.alert = alert
        self.rule = rule
        self.window = window
        self.share = share
        self.min_window_rows = min_window_rows
        self.columns = columns
        self.method = method

    def _label(self) -> str:
        return f"alert {self.alert}" if self.alert is not None else self._rule().name

    def _describe(self) -> str:
        source = f"alert={self.alert!r}" if self.alert is not None else f"reference={self.reference!r}"
        return f"{source}, window={self.window!r}, {super()._describe()}"

    def _rule(self) -> Rule:
        return self.rule if self.rule is not None else Rule(name="dataset drift", measure="dataset_drift", above=0.5)

    def _incident(self, store, frame, now, last):
        if (self.reference is None) == (self.alert is None):
            raise DataError(
                f"expected reference= or alert=, exactly one; got reference={self.reference!r}, alert={self.alert!r}; "
                "fix: e.g. DriftPolicy(..., reference='champion') or DriftPolicy(..., alert='inputs drifted')"
            )
        if self.alert is not None:
            return _latest_alert(store, self.alert, now, last)
        rule = self._rule()
        _check_rule(rule)
        reference = self.reference
        if isinstance(reference, str):
            reference = self.registry.get(self.name, alias=reference)
        # A window's drift depends only on its rows and the reference, so a window judged at
        # an earlier decision is not judged again: a memo, never a change to any answer.
        memo = self.__dict__.setdefault("_memo", {})
        against = (reference.name, reference.version) if isinstance(reference, ModelVersion) else id(reference)
        rows = []
        if not frame.empty:
            for part in windows(frame, self.window, time_column="event_time"):
                if len(part.rows) < self.min_window_rows:
                    rows.append((part.start, np.nan, np.nan, len(part.rows)))
                    continue
                key = (against, self.window, tuple(self.columns or ()), self.method, tuple(part.rows["request_id"]))
                if key not in memo:
                    memo[key] = drift_report(reference, part.rows, columns=self.columns, method=self.method).share_drifted
                shared = memo[key]
                rows.append((part.start, shared, float(shared >= self.share), len(part.rows)))
        table = pd.DataFrame(rows, columns=["time", "drift_share", "dataset_drift", "rows"])
        if rule.measure not in table.columns[1:3]:
            raise DataError(
                f"expected the rule's measure to be 'drift_share' or 'dataset_drift'; got {rule.measure!r}; "
                "fix: e.g. Rule(name='drift', measure='drift_share', above=0.4)"
            )
        judged = int(table[rule.measure].notna().sum())
        if judged == 0:
            return None, f"no window had {self.min_window_rows} logged rows to judge drift by", table
        alert = _open_incident(rule, table)
        if alert is None:
            return None, f"no open incident of {rule.name!r} in {judged} windows of {self.window}", table
        share = table.loc[table["time"] == alert["time"], "drift_share"].iloc[0]
        return (f"{rule.name} since {alert['time'].isoformat()}",
                f"{alert['message']} in the window from {day(alert['time'])} "
                f"({share:.0%} of the columns drifted)", table)


def _latest_alert(store: PredictionStore, rule: str, now: pd.Timestamp, last: pd.Timestamp | None):
    alerts = store.alerts(last, now, rule=rule)
    if alerts.empty:
        since = f"since the last retrain on {day(last)}" if last is not None else "so far"
        return None, f"no alert {rule!r} in the store {since}", alerts
    latest = alerts.iloc[-1]
    return (f"{rule} at {latest['time'].isoformat()}",
            f"the store holds the alert {latest['message']!r} from {day(latest['time'])}", alerts)


def _check_rule(rule: object) -> None:
    if not isinstance(rule, Rule):
        raise DataError(
            f"expected rule to be a labkit.monitoring.Rule; got {type(rule).__name__}; "
            "fix: e.g. Rule(name='accuracy low', measure='accuracy', below=0.6)"
        )


def _open_incident(rule: Rule, table: pd.DataFrame) -> pd.Series | None:
    """The alert of the incident still open at the end of ``table``, or None.

    :func:`evaluate` fires one alert per incident; the last one is still open unless a
    later window recovered (past ``recover_at``, or the threshold without it).
    """
    alerts = evaluate([rule], table)
    if alerts.empty:
        return None
    alert = alerts.iloc[-1]
    later = table.loc[table["time"] > alert["time"], rule.measure].dropna()
    threshold = rule.below if rule.below is not None else rule.above
    recover = rule.recover_at if rule.recover_at is not None else threshold
    recovered = later >= recover if rule.below is not None else later <= recover
    return None if recovered.any() else alert
