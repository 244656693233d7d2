"""A drift lab: inject drift into a replay with sliders, and watch the monitors react.

The lab wires three labkit pieces together and adds nothing of its own: a scenario from
:mod:`labkit.monitoring.scenarios` changes a copy of the traffic from a chosen date;
:func:`labkit.monitoring.simulate` replays it through the real deployment, labels
following a day later; then :func:`labkit.monitoring.performance_over_time`,
:func:`labkit.monitoring.drift_report` and :func:`labkit.monitoring.evaluate` say what
a monitor would have seen. :func:`run_lab` is that wiring as a plain function;
:class:`DriftLab` is a form over it. Tests drive the widget without a browser: set
``.scenario.value`` and ``.amount.value``, call ``.run_button.click()``, read
``.status.value``, ``.drift_table.value`` and ``.alerts_table.value``.

The drift table shows each feature twice, judged against the reference: as the traffic
was, and with the injected drift. Real traffic drifts on its own (Seattle's seasons, the
2013 change in how weather labels were recorded), so a verdict only means something next
to what it would have been anyway.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from labkit.deployment import Deployment
from labkit.errors import LabkitError
from labkit.monitoring.alerts import ALERT_COLUMNS, Rule, evaluate
from labkit.monitoring.drift import DriftReport, drift_report
from labkit.monitoring.performance import performance_over_time
from labkit.monitoring.scenarios import add_noise, resample_categories, shift, swap_concept
from labkit.monitoring.simulate import simulate
from labkit.monitoring.views import metric_over_time
from labkit.store import PredictionStore
from labkit.widgets.monitoring_dashboard import _png

__all__ = ["SCENARIOS", "DriftLab", "LabRun", "inject", "run_lab"]

# What each scenario does, in the words the lab shows, and the range of its amount.
SCENARIOS: dict[str, tuple[str, float, float]] = {
    "none": ("no drift injected: the traffic as it was", 0.0, 0.0),
    "shift": ("move a numeric feature's values, by this many of its standard deviations", -3.0, 3.0),
    "noise": ("add noise to a numeric feature, this many of its standard deviations wide (a failing sensor)", 0.0, 3.0),
    "categories": ("give one category this share of the days", 0.0, 1.0),
    "concept": ("flip this share of the labels: the inputs look the same, the truth does not", 0.0, 1.0),
}


@dataclass(frozen=True)
class LabRun:
    """What one run of the lab replayed and what the monitors saw.

    Attributes
    ----------
    traffic
        The traffic as replayed, the drift injected.
    predictions
        The prediction store's rows of this run (labels joined).
    performance
        :func:`labkit.monitoring.performance_over_time`'s table of the run.
    drift
        The traffic from the drift's start, judged against the reference, with the drift.
    drift_before
        The same rows judged without the injected drift: what the monitor would have said anyway.
    alerts
        The alerts the rules fired over the run's windows.
    description
        One sentence: what was injected, from when.
    """

    traffic: pd.DataFrame
    predictions: pd.DataFrame
    performance: pd.DataFrame
    drift: DriftReport
    drift_before: DriftReport
    alerts: pd.DataFrame
    description: str


def inject(
    traffic: pd.DataFrame,
    *,
    scenario: str,
    start: Any,
    column: str | None = None,
    amount: float = 0.0,
    category: Any = None,
    ramp: Any = None,
    label_column: str = "rain_tomorrow",
    time_column: str = "date",
    seed: int = 0,
) -> tuple[pd.DataFrame, str]:
    """Apply one of :data:`SCENARIOS` to a copy of ``traffic``; return it and a sentence saying what changed.

    Parameters
    ----------
    traffic
        The days to replay: inputs, event time and label.
    scenario
        A key of :data:`SCENARIOS`.
    start
        When the drift begins (event time).
    column
        The feature to change (``"shift"``, ``"noise"``, ``"categories"``).
    amount
        How much, in the unit :data:`SCENARIOS` gives: standard deviations of ``column``
        over ``traffic`` for ``"shift"`` and ``"noise"``, a share for the other two.
    category
        The category whose share becomes ``amount`` (``"categories"``); the others keep
        their relative frequencies in ``traffic`` before ``start``.
    ramp
        For ``"shift"``: how long until the shift is complete (e.g. ``"60D"``); ``None``
        for an abrupt change.
    label_column, time_column
        The traffic's label and event-time columns.
    seed
        Decides the noise, the draws of categories and which labels flip.

    Returns
    -------
    (pandas.DataFrame, str)
        The changed copy, and e.g. "temp_max moved by +7.4 (1 standard deviation) from 2013-06-01".

    Raises
    ------
    ValueError
        If the scenario is unknown, or a setting it needs is missing or out of range.

    Examples
    --------
    >>> import labkit as lk
    >>> days = lk.data.running_example(lk.data.load_weather())
    >>> changed, said = inject(days, scenario="concept", amount=0.5, start="2014-01-01")
    >>> said
    '50% of the labels flipped from 2014-01-01'
    >>> after = days["date"] >= "2014-01-01"
    >>> round(float((changed["rain_tomorrow"] != days["rain_tomorrow"])[after].mean()), 1)
    0.5
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"expected a scenario among {list(SCENARIOS)!r}; got {scenario!r}; fix: use one of those")
    _, low, high = SCENARIOS[scenario]
    if not low <= amount <= high:
        raise ValueError(f"expected an amount from {low} to {high} for {scenario!r}; got {amount!r}; fix: pass one in that range")
    when = pd.Timestamp(start).strftime("%Y-%m-%d")
    changed, said = _inject(traffic.reset_index(drop=True), scenario, start, column, amount, category, ramp,
                            label_column, time_column, seed, when)
    # Positions inside, the caller's index outside: sampled traffic may repeat index labels.
    changed.index = traffic.index
    return changed, said


def _inject(traffic: pd.DataFrame, scenario: str, start: Any, column: str | None, amount: float, category: Any,
            ramp: Any, label_column: str, time_column: str, seed: int, when: str) -> tuple[pd.DataFrame, str]:
    if scenario == "none":
        return traffic.copy(), "no drift injected"
    if scenario == "concept":
        flips = np.random.default_rng(seed).random(len(traffic)) < amount
        flip = pd.Series(flips, index=traffic.index)

        def flipped(rows: pd.DataFrame) -> pd.Series:
            return rows[label_column].where(~flip.loc[rows.index], ~rows[label_column].astype(bool))

        changed = swap_concept(traffic, label_column=label_column, rule=flipped, start=start, time_column=time_column)
        return changed, f"{amount:.0%} of the labels flipped from {when}"
    if column is None or column not in traffic.columns:
        raise ValueError(f"expected column= naming a feature of the traffic for {scenario!r}; got {column!r}; "
                         f"fix: pass one of {[c for c in traffic.columns if c not in {label_column, time_column}]!r}")
    if scenario == "categories":
        before = traffic.loc[pd.to_datetime(traffic[time_column]) < pd.Timestamp(start), column]
        counts = (before if len(before) else traffic[column]).value_counts(normalize=True)
        others = counts.drop(category, errors="ignore")
        rest = (1.0 - amount) * others / others.sum() if others.sum() > 0 else others
        shares = {category: amount, **rest.to_dict()}
        changed = resample_categories(traffic, column, shares=shares, start=start, seed=seed, time_column=time_column)
        return changed, f"{column} = {category!r} on a share of {amount:.2f} of the days from {when}"
    spread = float(pd.to_numeric(traffic[column]).std())
    units = f"{abs(amount):g} standard deviation{'s' if abs(amount) != 1 else ''}"
    if scenario == "shift":
        changed = shift(traffic, column, by=amount * spread, start=start, ramp=ramp, time_column=time_column)
        over = f" over {pd.to_timedelta(ramp).days} days" if ramp is not None else ""
        return changed, f"{column} moved by {amount * spread:+.1f} ({units}) from {when}{over}"
    changed = add_noise(traffic, column, scale=amount * spread, start=start, seed=seed, time_column=time_column)
    return changed, f"noise of {amount * spread:.1f} ({units}) added to {column} from {when}"


def run_lab(
    deployment: Deployment,
    store: PredictionStore,
    traffic: pd.DataFrame,
    *,
    reference: pd.DataFrame,
    scenario: str = "none",
    start: Any,
    column: str | None = None,
    amount: float = 0.0,
    category: Any = None,
    ramp: Any = None,
    window: str = "MS",
    rules: list[Rule] | None = None,
    label_column: str = "rain_tomorrow",
    time_column: str = "date",
    seed: int = 0,
) -> LabRun:
    """Inject a scenario, replay the traffic through the deployment, and measure what a monitor sees.

    Parameters
    ----------
    deployment
        A running deployment that logs to ``store`` (``lk.deploy(..., store=...)``).
    store
        Its prediction store; the run reads back only its own predictions.
    traffic
        The days to replay: inputs, event time and label.
    reference
        What the model learned from (a registered version's ``.reference``).
    scenario, start, column, amount, category, ramp, seed
        The drift to inject: see :func:`inject`.
    window
        The windows of the metrics and of the alert rules (a pandas offset; calendar
        months by default).
    rules
        Alert rules over the columns ``accuracy`` (per window) and ``drift_share`` (the
        share of features drifted per window); by default accuracy below 0.6 for two
        windows (recovering at 0.65), and more than half the features drifted.
    label_column, time_column
        The traffic's label and event-time columns.

    Returns
    -------
    LabRun
        What was replayed and what the monitors saw.
    """
    changed, description = inject(
        traffic, scenario=scenario, start=start, column=column, amount=amount, category=category, ramp=ramp,
        label_column=label_column, time_column=time_column, seed=seed,
    )
    replay = simulate(deployment, changed, time_column=time_column, label_column=label_column,
                      label_delay=timedelta(days=1), period="7D", seed=seed)
    logged = store.frame()
    predictions = logged[logged["request_id"].isin(set(replay.predictions["request_id"]))].reset_index(drop=True)
    performance = performance_over_time(predictions, window=window, metrics=["accuracy"])
    features = [c for c in reference.columns if c in changed.columns and c not in {label_column, time_column}]
    after = (pd.to_datetime(changed[time_column]) >= pd.Timestamp(start)).to_numpy()
    drift = drift_report(reference, changed.loc[after, features])
    drift_before = drift_report(reference, traffic.loc[after, features])
    measures = _measures(performance, predictions[["event_time", *features]], reference, features, window)
    rules = rules if rules is not None else [
        Rule(name="accuracy low", measure="accuracy", below=0.6, for_windows=2, recover_at=0.65),
        Rule(name="features drifting", measure="drift_share", above=0.5),
    ]
    alerts = evaluate(rules, measures)
    return LabRun(changed, predictions, performance, drift, drift_before, alerts, description)


class DriftLab:
    """Sliders that inject drift into a replay; the metric, the drift table and the alerts react.

    Parameters
    ----------
    deployment
        A running deployment that logs to ``store``.
    store
        Its prediction store (or its path).
    traffic
        The days to replay: inputs, event time and label. A year is a good size (a run
        takes a few seconds); :func:`labkit.monitoring.scenarios.stationary` makes one
        that does not drift on its own, so only the injected drift shows.
    reference
        What the model learned from (a registered version's ``.reference``).
    label_column, time_column
        The traffic's label and event-time columns.
    """

    def __init__(
        self,
        deployment: Deployment,
        store: PredictionStore | str,
        traffic: pd.DataFrame,
        *,
        reference: pd.DataFrame,
        label_column: str = "rain_tomorrow",
        time_column: str = "date",
    ) -> None:
        self.deployment = deployment
        self.store = store if isinstance(store, PredictionStore) else PredictionStore(store)
        self.traffic = traffic
        self.reference = reference
        self.label_column = label_column
        self.time_column = time_column
        self.last_run: LabRun | None = None
        features = [c for c in reference.columns if c in traffic.columns and c not in {label_column, time_column}]
        self._numeric = [c for c in features if pd.api.types.is_numeric_dtype(traffic[c])]
        self._categorical = [c for c in features if c not in self._numeric]
        months = pd.date_range(pd.Timestamp(traffic[time_column].min()).normalize(), traffic[time_column].max(), freq="MS")
        style = {"description_width": "initial"}
        self.scenario = widgets.Dropdown(options=list(SCENARIOS), value="none", description="Scenario", style=style)
        self.column = widgets.Dropdown(options=self._numeric, description="Feature", style=style)
        self.category = widgets.Dropdown(options=[], description="Category", style=style)
        self.amount = widgets.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description="Amount",
                                          continuous_update=False, style=style)
        self.start = widgets.SelectionSlider(options=[(m.strftime("%Y-%m"), m) for m in months],
                                             value=months[len(months) // 2], description="From", style=style)
        self.explain = widgets.Label(value="")
        self.run_button = widgets.Button(description="Replay", button_style="primary")  # no icon: no CDN font offline
        self.status = widgets.HTML(value="")  # not a Label: a Label cuts a long line short
        self.metric_image = widgets.Image(format="png")
        self.drift_table = widgets.HTML(value="")
        self.alerts_table = widgets.HTML(value="")
        self.widget = widgets.VBox([
            widgets.HBox([self.scenario, self.column, self.category]),
            widgets.HBox([self.amount, self.start, self.run_button]),
            self.explain, self.status, self.metric_image,
            widgets.HBox([self.drift_table, self.alerts_table]),
        ])
        self.scenario.observe(lambda _: self._scenario_changed(), names="value")
        self.column.observe(lambda _: self._column_changed(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self._scenario_changed()

    def __repr__(self) -> str:
        return f"DriftLab({self.deployment!r})"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def run(self) -> None:
        """Replay with the controls' drift and redraw; a problem is shown in the status line, never raised."""
        self._say("replaying...")
        try:
            run = run_lab(
                self.deployment, self.store, self.traffic, reference=self.reference,
                scenario=self.scenario.value, start=self.start.value, column=self.column.value,
                amount=self.amount.value, category=self.category.value,
                label_column=self.label_column, time_column=self.time_column,
            )
        except Exception as error:  # a form shows what went wrong; a traceback would hide the controls
            self._say(f"cannot run: {error}" if isinstance(error, (LabkitError, ValueError)) else (
                f"cannot run: {type(error).__name__}: {error}"))
            return
        self.last_run = run
        figure = metric_over_time(run.performance, "accuracy", alerts=run.alerts)
        figure.axes[0].axvline(pd.Timestamp(self.start.value, tz="UTC"), color="black", linestyle="--", linewidth=1)
        self.metric_image.value = _png(figure)
        self.drift_table.value = _drift_html(run)
        self.alerts_table.value = _alerts_html(run.alerts)
        drifted = int(run.drift.table["drifted"].sum())
        self._say(
            f"{run.description}: {len(run.predictions):,} predictions; {drifted} of {len(run.drift.table)} "
            f"features drifted from then on ({int(run.drift_before.table['drifted'].sum())} without the injection); "
            f"{len(run.alerts)} alert{'s' if len(run.alerts) != 1 else ''}"
        )

    def _say(self, text: str) -> None:
        self.status.value = html.escape(text, quote=False)

    def _scenario_changed(self) -> None:
        scenario = self.scenario.value
        words, low, high = SCENARIOS[scenario]
        self.explain.value = words
        # Widen before narrowing, so the slider never holds min > max on the way.
        self.amount.min, self.amount.max = min(low, self.amount.min), max(high, self.amount.max)
        self.amount.min, self.amount.max = low, high
        self.amount.value = {"shift": 1.0, "noise": 1.0, "categories": 0.5, "concept": 0.3}.get(scenario, 0.0)
        self.amount.disabled = scenario == "none"
        options = {"shift": self._numeric, "noise": self._numeric, "categories": self._categorical}.get(scenario, [])
        self.column.options = options
        self.column.value = options[0] if options else None  # a Dropdown left at None keeps None
        self.column.disabled = not options
        self._column_changed()

    def _column_changed(self) -> None:
        if self.scenario.value == "categories" and self.column.value is not None:
            self.category.options = sorted(map(str, self.traffic[self.column.value].dropna().unique()))
        else:
            self.category.options = []
        self.category.disabled = not self.category.options


def _measures(performance: pd.DataFrame, traffic: pd.DataFrame, reference: pd.DataFrame,
              features: list[str], window: str) -> pd.DataFrame:
    """One row per window: its accuracy and the share of features drifted in it."""
    accuracy = performance[performance["metric"] == "accuracy"].set_index("start")["value"].rename("accuracy")
    shares = {
        start: drift_report(reference, part[features]).share_drifted
        for start, part in traffic.groupby(pd.Grouper(key="event_time", freq=window))
        if len(part)
    }
    table = pd.concat([accuracy, pd.Series(shares, name="drift_share", dtype=float)], axis=1)
    return table.rename_axis("time").reset_index()


def _drift_html(run: LabRun) -> str:
    before = run.drift_before.table.set_index("column")
    rows = "".join(
        f"<tr><td>{html.escape(str(row.column))}</td><td>{html.escape(str(row.test))}</td>"
        f"<td>{before.loc[row.column, 'score']:.3g}{' ✱' if before.loc[row.column, 'drifted'] else ''}</td>"
        f"<td>{row.score:.3g}{' ✱' if row.drifted else ''}</td></tr>"
        for row in run.drift.table.itertuples()
    )
    return ("<table><caption>drift from the start (✱ drifted)</caption><tr><th>feature</th><th>test</th>"
            f"<th>as it was</th><th>with the drift</th></tr>{rows}</table>")


def _alerts_html(alerts: pd.DataFrame) -> str:
    if alerts.empty:
        return "<p>no alerts</p>"
    rows = "".join(
        f"<tr><td>{pd.Timestamp(row.time):%Y-%m-%d}</td><td>{html.escape(row.message)}</td></tr>"
        for row in alerts[ALERT_COLUMNS].itertuples()
    )
    return f"<table><caption>alerts</caption><tr><th>window</th><th>message</th></tr>{rows}</table>"


