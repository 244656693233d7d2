"""Monitoring: what a deployed model predicts, how right it turns out, and whether its data drifts."""

from labkit import _lazy

# A module whose name is also a public function's: bound now, so that a later import of
# the module (``from labkit.monitoring.simulate import Replay``) cannot replace the function.
from labkit.monitoring.simulate import Replay, simulate

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

# Where every other public name lives, imported on first use (see labkit/_lazy.py): a
# drift report needs numpy, pandas and scipy, not river, scikit-learn or FastAPI.
_SOURCES = {
    "CBPE": "labkit.monitoring.cbpe",
    "CLASSIFICATION_METRICS": "labkit.monitoring.performance",
    "DETECTORS": "labkit.monitoring.detectors",
    "Detection": "labkit.monitoring.detectors",
    "DriftReport": "labkit.monitoring.drift",
    "LabelReport": "labkit.store",
    "PredictionStore": "labkit.store",
    "REGRESSION_METRICS": "labkit.monitoring.performance",
    "Rule": "labkit.monitoring.alerts",
    "SERVICE_MEASURES": "labkit.monitoring.serving",
    "STAT_TESTS": "labkit.monitoring.stattests",
    "StatTest": "labkit.monitoring.stattests",
    "choose_test": "labkit.monitoring.stattests",
    "compare_detectors": "labkit.monitoring.detectors",
    "distribution": "labkit.monitoring.views",
    "drift_over_time": "labkit.monitoring.views",
    "drift_report": "labkit.monitoring.drift",
    "evaluate": "labkit.monitoring.alerts",
    "metric_over_time": "labkit.monitoring.views",
    "mistakes": "labkit.monitoring.detectors",
    "performance_over_time": "labkit.monitoring.performance",
    "post_alerts": "labkit.monitoring.alerts",
    "run_detector": "labkit.monitoring.detectors",
    "scenarios": "labkit.monitoring.scenarios",
    "service_over_time": "labkit.monitoring.serving",
}


__getattr__, __dir__ = _lazy.attach(__name__, _SOURCES, __all__)
