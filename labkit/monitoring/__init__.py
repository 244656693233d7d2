"""Monitoring: what a deployed model predicts, how right it turns out, and whether its data drifts."""

from labkit.monitoring import scenarios
from labkit.monitoring.alerts import Rule, evaluate, post_alerts
from labkit.monitoring.cbpe import CBPE
from labkit.monitoring.detectors import DETECTORS, Detection, compare_detectors, mistakes, run_detector
from labkit.monitoring.drift import DriftReport, drift_report
from labkit.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS, performance_over_time
from labkit.monitoring.serving import SERVICE_MEASURES, service_over_time
from labkit.monitoring.simulate import Replay, simulate
from labkit.monitoring.stattests import STAT_TESTS, StatTest, choose_test
from labkit.monitoring.views import distribution, drift_over_time, metric_over_time
from labkit.store import LabelReport, PredictionStore

__all__ = [
    "CBPE",
    "CLASSIFICATION_METRICS",
    "DETECTORS",
    "Detection",
    "DriftReport",
    "LabelReport",
    "PredictionStore",
    "REGRESSION_METRICS",
    "Replay",
    "Rule",
    "SERVICE_MEASURES",
    "STAT_TESTS",
    "StatTest",
    "choose_test",
    "compare_detectors",
    "distribution",
    "drift_over_time",
    "drift_report",
    "evaluate",
    "metric_over_time",
    "mistakes",
    "performance_over_time",
    "post_alerts",
    "run_detector",
    "scenarios",
    "service_over_time",
    "simulate",
]
