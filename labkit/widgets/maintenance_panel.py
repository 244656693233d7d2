"""A maintenance panel: the alerts and the policy's verdict, then Retrain, Compare, Promote, Rollback.

The panel is a row of buttons over :mod:`labkit.maintenance` and the registry, in the
order a person on call works: **Check** asks the retrain policy (and shows the latest
alerts), **Retrain** fits a challenger on what was known at that moment, **Compare**
scores it against the champion with a bootstrap interval, **Promote** goes through the
gate (which may refuse, and says why), **Rollback** puts the previous champion back. The
registry's history is shown after every step. Nothing here decides anything the
functions do not; tests drive the buttons with ``.click()`` and read the text.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import pandas as pd

from labkit.errors import LabkitError
from labkit.maintenance.compare import Comparison, compare
from labkit.maintenance.gate import MetricThreshold, promote_if_better
from labkit.maintenance.policies import Decision
from labkit.maintenance.retrain import retrain
from labkit.registry import Registry
from labkit.store import PredictionStore

__all__ = ["MaintenancePanel"]


class MaintenancePanel:
    """Decide, retrain, compare, promote and roll back one registered model with buttons.

    Parameters
    ----------
    registry, name
        The registry and the model.
    store
        The prediction store its service logs to (or its path).
    policy
        A retrain policy (:class:`labkit.maintenance.PerformancePolicy` or another).
    gate
        The promotion gate.
    now
        The moment the panel acts at (a simulated time in a replay); change ``.now`` to move on.
    retrain_options, compare_options
        Keyword arguments for :func:`labkit.maintenance.retrain` (``window=``, ``holdout=``,
        ``original=``...) and :func:`labkit.maintenance.compare` (``window=``, ``metric=``...).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> import labkit as lk
    >>> X = pd.DataFrame({"wind": np.arange(20.0)})
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> reg = lk.Registry(folder / "registry")
    >>> _ = reg.register(LogisticRegression().fit(X, X.wind > 9), name="rain", X=X)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> policy = lk.maintenance.SchedulePolicy(registry=reg, name="rain", every="30D")
    >>> panel = MaintenancePanel(reg, "rain", store=folder / "monitor.db", policy=policy,
    ...                          gate=lk.maintenance.MetricThreshold(min_absolute_change=0.01, greater_is_better=True),
    ...                          now="2013-06-01")
    >>> panel.check_button.click()
    >>> panel.verdict.value
    '<p>no retrain: nothing is logged yet, so the schedule has not started</p>'
    >>> panel.promote_button.click()  # out of order: the panel says so, nothing is raised
    >>> panel.status.value
    '<p>cannot promote: expected a comparison before promoting; got none; fix: press Compare first</p>'
    """

    def __init__(
        self,
        registry: Registry,
        name: str,
        *,
        store: PredictionStore | str,
        policy: Any,
        gate: MetricThreshold,
        now: Any,
        retrain_options: dict[str, Any] | None = None,
        compare_options: dict[str, Any] | None = None,
    ) -> None:
        self.registry = registry
        self.name = name
        self.store = store if isinstance(store, PredictionStore) else PredictionStore(store)
        self.policy = policy
        self.gate = gate
        self.now = now
        self.retrain_options = dict(retrain_options or {})
        self.compare_options = dict(compare_options or {})
        self.decision: Decision | None = None
        self.comparison: Comparison | None = None
        self.check_button = widgets.Button(description="Check")  # no icons: they need a CDN font
        self.retrain_button = widgets.Button(description="Retrain")
        self.compare_button = widgets.Button(description="Compare")
        self.promote_button = widgets.Button(description="Promote", button_style="warning")
        self.rollback_button = widgets.Button(description="Rollback", button_style="danger")
        self.alerts = widgets.HTML(value="")
        self.verdict = widgets.HTML(value="")
        self.status = widgets.HTML(value="")
        self.history = widgets.HTML(value="")
        self.widget = widgets.VBox([
            widgets.HBox([self.check_button, self.retrain_button, self.compare_button, self.promote_button,
                          self.rollback_button]),
            self.verdict, self.status, self.alerts, self.history,
        ])
        self.check_button.on_click(lambda _: self._do(self.check))
        self.retrain_button.on_click(lambda _: self._do(self.retrain))
        self.compare_button.on_click(lambda _: self._do(self.compare))
        self.promote_button.on_click(lambda _: self._do(self.promote))
        self.rollback_button.on_click(lambda _: self._do(self.rollback))
        self._show_history()

    def __repr__(self) -> str:
        return f"MaintenancePanel({self.name!r}, now={str(pd.Timestamp(self.now))!r})"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def check(self) -> None:
        """Ask the policy whether to retrain now, and show the latest alerts."""
        self.decision = self.policy.decide(self.store, self.now)
        self.verdict.value = _text(self.decision.reason)
        latest = self.store.alerts(end=pd.Timestamp(self.now)).tail(5)
        rows = "".join(f"<tr><td>{t:%Y-%m-%d}</td><td>{html.escape(m)}</td></tr>"
                       for t, m in zip(latest["time"], latest["message"]))
        self.alerts.value = f"<table><caption>latest alerts</caption>{rows}</table>" if rows else "<p>no alerts</p>"

    def retrain(self) -> None:
        """Fit a challenger on what was known now (recording the policy's decision, if it asked for one)."""
        decision = self.decision if self.decision is not None and self.decision.retrain else None
        version = retrain(self.registry, self.name, store=self.store, now=self.now, decision=decision,
                          **self.retrain_options)
        rows = (version.lineage or {}).get("rows", {})
        self.comparison = None
        self.status.value = _text(
            f"version {version.version} trained on {rows.get('total', '?')} rows and made the challenger"
        )

    def compare(self) -> None:
        """Score the challenger against the champion on recent labelled rows neither learned from."""
        self.comparison = compare(self.registry, self.name, store=self.store, now=self.now, **self.compare_options)
        self.status.value = _text(self.comparison.summary)

    def promote(self) -> None:
        """Promote the challenger through the gate: it may refuse, and says why."""
        if self.comparison is None:
            raise LabkitError("expected a comparison before promoting; got none; fix: press Compare first")
        verdict = promote_if_better(self.registry, self.name, self.comparison, self.gate)
        self.status.value = _text(("promoted: " if verdict.promoted else "not promoted: ") + verdict.reason)
        self.comparison = None  # a comparison is for one decision: the next needs a fresh one

    def rollback(self) -> None:
        """Put the previous champion back."""
        version = self.registry.rollback(self.name, alias="champion", reason="rolled back from the maintenance panel")
        self.status.value = _text(f"rolled back: the champion is version {version.version} again")

    def _do(self, action: Any) -> None:
        try:
            action()
        except (LabkitError, ValueError, KeyError) as error:  # shown in the panel, never as a traceback
            self.status.value = _text(f"cannot {action.__name__}: {error}")
        self._show_history()

    def _show_history(self) -> None:
        try:
            history = self.registry.history(self.name).tail(8)
        except LabkitError:
            self.history.value = ""
            return
        rows = "".join(
            f"<tr><td>{html.escape(str(r.event))}</td><td>{'' if pd.isna(r.version) else int(r.version)}</td>"
            f"<td>{html.escape(str(r.alias or ''))}</td><td>{html.escape(str(r.reason or ''))[:160]}</td></tr>"
            for r in history.itertuples()
        )
        self.history.value = (f"<table><caption>history</caption><tr><th>event</th><th>version</th><th>alias</th>"
                              f"<th>reason</th></tr>{rows}</table>")


def _text(words: str) -> str:
    return f"<p>{html.escape(words)}</p>"
