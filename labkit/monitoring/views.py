"""Pictures of monitoring: a metric over time, drift per feature over time, one feature's distributions.

Each function takes what the monitoring functions return (a performance table, CBPE's
estimates, alerts, frames of traffic) and draws a :class:`matplotlib.figure.Figure`
without pyplot, so nothing global changes and nothing is left open. Show one in a
notebook with ``display(figure)`` after ``%matplotlib inline``, or save it with
``figure.savefig(...)``. The drawing is the only logic here; the numbers come from
:mod:`labkit.monitoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from labkit.errors import DataError
from labkit.monitoring.drift import drift_report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["distribution", "drift_over_time", "metric_over_time"]


def metric_over_time(
    performance: pd.DataFrame,
    metric: str = "accuracy",
    *,
    estimate: pd.DataFrame | None = None,
    alerts: pd.DataFrame | None = None,
    labels_known_at: Any = None,
) -> Figure:
    """A metric per window with its band; optionally CBPE's estimate, alerts and when labels stop.

    Parameters
    ----------
    performance
        :func:`labkit.monitoring.performance_over_time`'s table.
    metric
        Which of its metrics to draw.
    estimate
        :class:`labkit.monitoring.CBPE`'s estimates, drawn dashed with their band.
    alerts
        Alerts (a ``time`` column), drawn as vertical red lines.
    labels_known_at
        The time up to which labels had arrived: a grey line, right of which the
        realised metric is still unknown.

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the metric's windows on the x axis (their middle), the value on the y.

    Examples
    --------
    >>> table = pd.DataFrame({"start": pd.to_datetime(["2013-01-01", "2013-01-08"], utc=True),
    ...     "end": pd.to_datetime(["2013-01-08", "2013-01-15"], utc=True), "metric": "accuracy",
    ...     "value": [0.8, 0.6], "n_labelled": [7, 7], "lower": [0.5, 0.3], "upper": [0.95, 0.85]})
    >>> figure = metric_over_time(table)
    >>> [line.get_ydata().tolist() for line in figure.axes[0].get_lines()]
    [[0.8, 0.6]]
    """
    from matplotlib.figure import Figure

    rows = _metric_rows(performance, metric)
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.add_subplot()
    middle = rows["start"] + (rows["end"] - rows["start"]) / 2
    axes.plot(middle, rows["value"], marker="o", color="tab:blue", label=f"{metric} (realised)")
    axes.fill_between(middle, rows["lower"], rows["upper"], color="tab:blue", alpha=0.15, label="band")
    if estimate is not None:
        estimated = _metric_rows(estimate.rename(columns={"estimated": "value"}), metric)
        middle_e = estimated["start"] + (estimated["end"] - estimated["start"]) / 2
        axes.plot(middle_e, estimated["value"], linestyle="--", color="tab:orange", label=f"{metric} (estimated, CBPE)")
        axes.fill_between(middle_e, estimated["lower"], estimated["upper"], color="tab:orange", alpha=0.12)
    if alerts is not None:
        for when in pd.to_datetime(alerts["time"], utc=True):
            axes.axvline(when, color="tab:red", linewidth=1)
    if labels_known_at is not None:
        known = pd.Timestamp(labels_known_at)
        axes.axvline(known.tz_localize("UTC") if known.tzinfo is None else known, color="grey", linestyle=":",
                     label="labels known up to here")
    axes.set_ylabel(metric)
    axes.set_title(f"{metric} per window")
    axes.legend(loc="lower left", fontsize="small")
    return figure


def drift_over_time(
    reference: Any,
    traffic: pd.DataFrame,
    *,
    window: str = "30D",
    columns: Sequence[str] | None = None,
    time_column: str = "event_time",
) -> tuple[Figure, pd.DataFrame]:
    """Which features drifted in which window: a heatmap of :func:`drift_report` over time.

    Parameters
    ----------
    reference
        What the model learned from: a frame, or a registered version (its reference
        sample). Or a function that takes a window's start and returns the frame to
        compare that window with, such as the same month of the training year: a month
        never looks like a whole year, so seasonal data drifts against a yearly reference
        every month, and a same-season reference separates that from other changes.
    traffic
        The current data, with an event-time column.
    window
        How much time each column of the heatmap covers (a pandas offset).
    columns
        The features to judge; by default the reference's columns found in the traffic.
    time_column
        The traffic's event-time column.

    Returns
    -------
    (matplotlib.figure.Figure, pandas.DataFrame)
        The heatmap (rows: features; columns: windows; dark: drifted) and its numbers,
        one row per window and feature: ``start, column, test, score, threshold, drifted``.
    """
    from matplotlib.figure import Figure

    if time_column not in traffic.columns:
        raise DataError(f"expected an event-time column {time_column!r}; got {list(traffic.columns)!r}; "
                        "fix: pass time_column=")
    rows = []
    for start, part in traffic.groupby(pd.Grouper(key=time_column, freq=window)):
        if part.empty:
            continue
        against = reference(start) if callable(reference) else reference
        report = drift_report(against, part.drop(columns=[time_column]), columns=columns)
        rows.append(report.table.assign(start=start))
    if not rows:
        raise DataError("expected traffic to judge; got no rows; fix: pass a frame with at least one row")
    table = pd.concat(rows, ignore_index=True)[["start", "column", "test", "score", "threshold", "drifted"]]
    grid = table.pivot(index="column", columns="start", values="drifted").astype(float)
    figure = Figure(figsize=(8, 0.4 * len(grid) + 1.4), layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(grid.to_numpy(), aspect="auto", cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
    axes.set_yticks(range(len(grid)), grid.index)
    step = max(1, len(grid.columns) // 8)
    axes.set_xticks(range(0, len(grid.columns), step), [t.strftime("%Y-%m") for t in grid.columns[::step]])
    axes.set_title(f"drifted features per {window} window (dark: drifted)")
    return figure, table


def distribution(reference: pd.DataFrame, current: pd.DataFrame, column: str, *, bins: int = 30) -> Figure:
    """One feature in the reference and in current data, side by side: histograms or category shares.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> before, after = pd.DataFrame({"wind": rng.normal(3, 1, 500)}), pd.DataFrame({"wind": rng.normal(5, 1, 500)})
    >>> figure = distribution(before, after, "wind")
    >>> [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    ['reference', 'current']
    """
    from matplotlib.figure import Figure

    for name, frame in (("reference", reference), ("current", current)):
        if column not in frame.columns:
            raise DataError(f"expected a column {column!r} in the {name} frame; got {list(frame.columns)!r}; "
                            "fix: check the name")
    figure = Figure(figsize=(6, 3), layout="constrained")
    axes = figure.add_subplot()
    before, after = reference[column].dropna(), current[column].dropna()
    if pd.api.types.is_numeric_dtype(before) and not pd.api.types.is_bool_dtype(before):
        edges = np.histogram_bin_edges(np.concatenate([before.to_numpy(float), after.to_numpy(float)]), bins=bins)
        axes.hist(before, bins=edges, density=True, alpha=0.5, label="reference")
        axes.hist(after, bins=edges, density=True, alpha=0.5, label="current")
        axes.set_ylabel("density")
    else:
        shares = pd.DataFrame({"reference": before.value_counts(normalize=True),
                               "current": after.value_counts(normalize=True)}).fillna(0.0)
        positions = np.arange(len(shares))
        axes.bar(positions - 0.2, shares["reference"], width=0.4, label="reference")
        axes.bar(positions + 0.2, shares["current"], width=0.4, label="current")
        axes.set_xticks(positions, [str(label) for label in shares.index])
        axes.set_ylabel("share")
    axes.set_title(column)
    axes.legend()
    return figure


def _metric_rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    if "metric" not in table.columns or metric not in set(table["metric"]):
        found = sorted(set(table["metric"])) if "metric" in table.columns else []
        raise DataError(f"expected rows of metric {metric!r}; got metrics {found!r}; "
                        "fix: pass one of those, or compute this metric first")
    return table[table["metric"] == metric].sort_values("start")
