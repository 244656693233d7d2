"""Widgets: thin ipywidgets views over labkit's functions."""

from labkit.widgets.deploy_panel import DeployPanel

__all__ = ["DeployPanel"]
