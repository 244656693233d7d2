"""Monitoring: what a deployed model predicts, how right it turns out, and whether its data drifts."""

from labkit.monitoring import scenarios
from labkit.monitoring.alerts import Rule, evaluate, post_alerts
from labkit.monitoring.simulate import Replay, simulate
from labkit.store import LabelReport, PredictionStore

__all__ = ["LabelReport", "PredictionStore", "Replay", "Rule", "evaluate", "post_alerts", "scenarios", "simulate"]
