"""A monitoring dashboard: a metric over time and one feature's drift, refreshed from the live store.

The dashboard only wires controls to :func:`labkit.monitoring.performance_over_time`,
:func:`labkit.monitoring.metric_over_time` and :func:`labkit.monitoring.distribution`;
:func:`dashboard_figures` is that wiring as a plain function a notebook can call
directly. Tests drive the widget without a browser: set ``.window.value``, call
``.refresh_button.click()``, read ``.status.value`` and the PNG images.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from labkit.errors import LabkitError
from labkit.monitoring.performance import CLASSIFICATION_METRICS, performance_over_time
from labkit.monitoring.views import distribution, metric_over_time
from labkit.store import PredictionStore

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MonitoringDashboard", "dashboard_figures"]

_WINDOWS = ("7D", "14D", "30D", "90D")


def dashboard_figures(
    frame: pd.DataFrame, reference: pd.DataFrame | None, *, window: str, metric: str, feature: str
) -> tuple[Figure, Figure | None, str]:
    """The dashboard's two pictures and its one line of text, from a frame of logged predictions.

    Parameters
    ----------
    frame
        :meth:`labkit.PredictionStore.frame`'s rows.
    reference
        What the model learned from (a frame with the feature), or ``None`` to skip drift.
    window, metric, feature
        What the controls say.

    Returns
    -------
    (Figure, Figure or None, str)
        The metric over time, the feature's distributions, and a summary such as
        "1,095 predictions, 1,000 labelled; last window: accuracy 0.61 on 30 labels".
    """
    table = performance_over_time(frame, window=window, metrics=[metric])
    over_time = metric_over_time(table, metric)
    spread = distribution(reference, frame, feature) if reference is not None else None
    labelled = int(frame["label"].notna().sum()) if "label" in frame.columns else 0
    last = table.dropna(subset=["value"]).tail(1)
    latest = (
        f"; last window: {metric} {last['value'].iloc[0]:.2f} on {int(last['n_labelled'].iloc[0])} labels"
        if len(last) else "; no window has labels yet"
    )
    return over_time, spread, f"{len(frame):,} predictions, {labelled:,} labelled{latest}"


class MonitoringDashboard:
    """Watch a deployed model from its prediction store: choose a window, a metric and a feature.

    Parameters
    ----------
    store
        The prediction store the service logs to (or its path).
    reference
        What the model learned from, to compare a feature's distribution with; a
        registered version's ``.reference`` is the usual choice.
    """

    def __init__(self, store: PredictionStore | str, *, reference: pd.DataFrame | None = None) -> None:
        self.store = store if isinstance(store, PredictionStore) else PredictionStore(store)
        self.reference = reference
        features = [c for c in (reference.columns if reference is not None else []) if c != "label"]
        self.window = widgets.Dropdown(options=_WINDOWS, value="30D", description="Window")
        self.metric = widgets.Dropdown(options=CLASSIFICATION_METRICS, value="accuracy", description="Metric")
        self.feature = widgets.Dropdown(options=features, value=features[0] if features else None, description="Feature")
        self.refresh_button = widgets.Button(description="Refresh")  # no icon: it needs a CDN font in Voila
        self.status = widgets.Label(value="")
        self.metric_image = widgets.Image(format="png")
        self.feature_image = widgets.Image(format="png")
        self.widget = widgets.VBox([
            widgets.HBox([self.window, self.metric, self.feature, self.refresh_button]),
            self.status, self.metric_image, self.feature_image,
        ])
        self.refresh_button.on_click(lambda _: self.refresh())

    def __repr__(self) -> str:
        return f"MonitoringDashboard({self.store!r})"

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> None:
        """Read the store again and redraw; a problem is shown in the status line, never raised."""
        try:
            over_time, spread, summary = dashboard_figures(
                self.store.frame(), self.reference,
                window=self.window.value, metric=self.metric.value, feature=self.feature.value,
            )
        except (LabkitError, KeyError, ValueError) as error:
            self.status.value = f"cannot draw: {error}"
            return
        self.metric_image.value = _png(over_time)
        self.feature_image.value = _png(spread) if spread is not None else b""
        self.status.value = summary


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    return buffer.getvalue()
