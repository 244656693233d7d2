"""Maintenance: decide when to retrain, retrain without seeing the future, compare, promote through a gate, and compare ways of keeping a model current."""

from labkit.maintenance.compare import GREATER_IS_BETTER, Comparison, compare
from labkit.maintenance.gate import MetricThreshold, Verdict, promote_if_better, validate
from labkit.maintenance.policies import Decision, DriftPolicy, PerformancePolicy, SchedulePolicy
from labkit.maintenance.retrain import retrain, training_rows
from labkit.maintenance.strategies import Online, Scheduled, Static, StrategyComparison, Triggered, compare_strategies
from labkit.maintenance.traffic import Traffic, keep_sending

__all__ = [
    "Comparison",
    "Decision",
    "DriftPolicy",
    "GREATER_IS_BETTER",
    "MetricThreshold",
    "Online",
    "PerformancePolicy",
    "SchedulePolicy",
    "Scheduled",
    "Static",
    "StrategyComparison",
    "Traffic",
    "Triggered",
    "Verdict",
    "compare",
    "compare_strategies",
    "keep_sending",
    "promote_if_better",
    "retrain",
    "training_rows",
    "validate",
]
