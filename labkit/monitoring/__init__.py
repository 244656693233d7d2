"""Monitoring: is the model still seeing the data it learned from?"""

from labkit.monitoring.drift import DriftReport, drift_report
from labkit.monitoring.stattests import STAT_TESTS, StatTest, choose_test

__all__ = ["DriftReport", "STAT_TESTS", "StatTest", "choose_test", "drift_report"]
