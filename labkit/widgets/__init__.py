"""Widgets: thin ipywidgets views over labkit's functions."""

from labkit.widgets.deploy_panel import DeployPanel
from labkit.widgets.drift_lab import DriftLab
from labkit.widgets.maintenance_panel import MaintenancePanel
from labkit.widgets.monitoring_dashboard import MonitoringDashboard
from labkit.widgets.predict_form import PredictForm

__all__ = ["DeployPanel", "DriftLab", "MaintenancePanel", "MonitoringDashboard", "PredictForm"]
