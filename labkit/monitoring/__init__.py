"""Monitoring: how a deployed model is doing, with labels and without them."""

from labkit.monitoring.cbpe import CBPE
from labkit.monitoring.detectors import DETECTORS, Detection, compare_detectors, mistakes, run_detector
from labkit.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS, performance_over_time

__all__ = [
    "CBPE",
    "CLASSIFICATION_METRICS",
    "DETECTORS",
    "Detection",
    "REGRESSION_METRICS",
    "compare_detectors",
    "mistakes",
    "performance_over_time",
    "run_detector",
]
