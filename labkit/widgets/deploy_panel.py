"""A deploy panel: choose a registered version, deploy it, see its URL, stop it.

The panel only wires buttons to :func:`labkit.deploy` and :meth:`Deployment.stop`; every
decision is theirs. Tests drive it without a browser by setting ``.version.value`` and
calling ``.deploy_button.click()``.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from labkit.deployment import Deployment, deploy
from labkit.errors import LabkitError
from labkit.registry import Registry

__all__ = ["DeployPanel"]


class DeployPanel:
    """Deploy and stop versions of one registered model with two buttons.

    Parameters
    ----------
    registry
        The registry holding the model.
    name
        The registered model's name.
    deploy_options
        Extra keyword arguments for :func:`labkit.deploy` (``token=``, ``max_rows=``...).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from labkit.registry import Registry
    >>> X = pd.DataFrame({"wind": np.random.default_rng(0).normal(size=30)})
    >>> reg = Registry(tempfile.mkdtemp())
    >>> _ = reg.register(LogisticRegression().fit(X, X.wind > 0), name="demo", X=X)
    >>> panel = DeployPanel(registry=reg, name="demo")
    >>> panel.version.options
    (('version 1', 1),)
    >>> panel.status.value
    'not deployed'
    """

    def __init__(self, *, registry: Registry, name: str, deploy_options: dict[str, Any] | None = None) -> None:
        self.registry = registry
        self.name = name
        self.deploy_options = dict(deploy_options or {})
        self.deployment: Deployment | None = None
        self.version = widgets.Dropdown(description="Version", options=self._choices())
        self.deploy_button = widgets.Button(description="Deploy", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = widgets.Label(value="not deployed")
        self.url = widgets.HTML(value="")
        self.deploy_button.on_click(self._on_deploy)
        self.stop_button.on_click(self._on_stop)
        self.widget = widgets.VBox([
            widgets.HBox([self.version, self.deploy_button, self.stop_button]),
            widgets.HBox([widgets.Label("Status:"), self.status]),
            self.url,
        ])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> None:
        """Reload the list of versions (after registering a new one)."""
        self.version.options = self._choices()

    def _choices(self) -> list[tuple[str, int]]:
        aliases: dict[int, list[str]] = {}
        for alias, number in self.registry.aliases(self.name).items():
            aliases.setdefault(number, []).append(alias)
        choices = []
        for entry in self.registry.versions(self.name):
            held = aliases.get(entry.version)
            label = f"version {entry.version}" + (f" ({', '.join(sorted(held))})" if held else "")
            choices.append((label, entry.version))
        return choices

    def _on_deploy(self, _button: widgets.Button) -> None:
        self._stop_current()
        self.status.value = f"starting version {self.version.value}..."
        self.deploy_button.disabled = True
        try:
            self.deployment = deploy(self.registry, self.name, version=self.version.value, **self.deploy_options)
        except LabkitError as error:
            self.status.value = f"failed: {str(error).splitlines()[0]}"
            self.deploy_button.disabled = False
            return
        self.status.value = f"running version {self.deployment.version}"
        self.url.value = f'<a href="{self.deployment.url}/docs" target="_blank">{self.deployment.url}</a>'
        self.deploy_button.disabled = False
        self.stop_button.disabled = False

    def _on_stop(self, _button: widgets.Button) -> None:
        self._stop_current()
        self.status.value = "stopped"

    def _stop_current(self) -> None:
        if self.deployment is not None:
            self.deployment.stop()
            self.deployment = None
        self.url.value = ""
        self.stop_button.disabled = True
