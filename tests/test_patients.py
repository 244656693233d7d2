"""The capstone's synthetic ward: deterministic, and each documented change happens where it is said to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from labkit.patients import FEATURES, LABEL, patient_monitoring


def test_the_same_seed_gives_the_same_ward_and_another_seed_another():
    first = patient_monitoring(days=30, seed=4)
    assert first.equals(patient_monitoring(days=30, seed=4))
    assert not first.equals(patient_monitoring(days=30, seed=5))
    assert list(first.columns) == ["time", *FEATURES, LABEL]
    assert first["time"].is_monotonic_increasing and len(first) == 30 * 40
    assert set(first["ward"]) == {"general", "surgical", "cardiac"}


def test_the_new_thermometer_shifts_recorded_temperature_from_its_day_and_nothing_else():
    calm = patient_monitoring(days=100, seed=0)
    changed = patient_monitoring(days=100, seed=0, sensor_change_at="2016-02-15")
    after = (calm["time"] >= "2016-02-15").to_numpy()
    shift = (changed["temperature"] - calm["temperature"]).to_numpy()
    assert np.allclose(shift[after], 0.6) and np.allclose(shift[~after], 0.0)
    assert changed.drop(columns="temperature").equals(calm.drop(columns="temperature"))


def test_the_new_protocol_changes_the_truth_but_no_input():
    calm = patient_monitoring(days=300, seed=0)
    changed = patient_monitoring(days=300, seed=0, protocol_change_at="2016-06-01")
    assert changed[list(FEATURES)].equals(calm[list(FEATURES)])
    before = (calm["time"] < "2016-06-01").to_numpy()
    assert changed[LABEL][before].equals(calm[LABEL][before])
    # After the change, the same patients with low oxygen deteriorate far less often; the others as before.
    low = (changed["spo2"] <= 92).to_numpy()
    assert changed[LABEL][~before & low].mean() < 0.6 * calm[LABEL][~before & low].mean()
    normal = ~before & (changed["spo2"] >= 96).to_numpy()
    assert changed[LABEL][normal].mean() == pytest.approx(calm[LABEL][normal].mean(), abs=0.02)


def test_about_one_check_in_ten_deteriorates_and_sicker_vitals_mean_more_risk():
    ward = patient_monitoring(days=365, seed=0)
    assert 0.08 < ward[LABEL].mean() < 0.12
    for column, sign in (("resp_rate", 1), ("spo2", -1), ("systolic_bp", -1), ("heart_rate", 1)):
        correlation = stats.pointbiserialr(ward[LABEL], ward[column]).statistic
        assert np.sign(correlation) == sign, column


@pytest.mark.parametrize("days", [0, -3, 1.5, True])
def test_a_ward_needs_a_whole_number_of_days(days):
    with pytest.raises(ValueError, match="expected days to be a whole number of at least 1"):
        patient_monitoring(days=days)
