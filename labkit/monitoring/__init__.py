"""Monitoring: how a deployed model is doing, with labels and without them."""

from labkit.monitoring.cbpe import CBPE
from labkit.monitoring.performance import CLASSIFICATION_METRICS, REGRESSION_METRICS, performance_over_time

__all__ = [
    "CBPE",
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "performance_over_time",
]
