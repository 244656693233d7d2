"""Maintenance: decide when to retrain, retrain without seeing the future, compare, and promote through a gate."""

from labkit.maintenance.compare import GREATER_IS_BETTER, Comparison, compare
from labkit.maintenance.gate import MetricThreshold, Verdict, promote_if_better, validate
from labkit.maintenance.policies import Decision, DriftPolicy, PerformancePolicy, SchedulePolicy
from labkit.maintenance.retrain import retrain, training_rows

__all__ = [
    "Comparison",
    "Decision",
    "DriftPolicy",
    "GREATER_IS_BETTER",
    "MetricThreshold",
    "PerformancePolicy",
    "SchedulePolicy",
    "Verdict",
    "compare",
    "promote_if_better",
    "retrain",
    "training_rows",
    "validate",
]
