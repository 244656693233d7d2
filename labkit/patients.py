"""A synthetic hospital ward: vital signs in, "will this patient deteriorate within a day?" out.

The capstone's scenario is the course's healthcare example: a model that warns doctors
about patients at risk. Real patient data cannot ship with a course, so this module
generates it, with every change placed at a known moment and documented here, so a
student's findings can be checked against the truth:

- Each row is one check of one patient: ``time`` (hourly checks spread over the day),
  ``ward`` (general, surgical or cardiac), ``age``, ``heart_rate`` (beats/min),
  ``resp_rate`` (breaths/min), ``systolic_bp`` (mmHg), ``temperature`` (°C), ``spo2``
  (oxygen saturation, %), and the label ``deteriorated`` (the patient needed intensive
  care within 24 hours). The label is known a day after the check.
- The risk follows a logistic rule of the vital signs in the spirit of early-warning
  scores (fast breathing, low oxygen, low blood pressure, fever and a racing heart raise
  it), with about 10 % of checks positive.
- **A new thermometer** from ``sensor_change_at``: the ward's new devices read 0.6 °C too
  high. The patients are as before; only the record changed (like the weather label in
  2013): data drift in ``temperature``, and a model that reads it as fever.
- **A new rapid-response protocol** from ``protocol_change_at``: patients with low oxygen
  now get oxygen at once, so low ``spo2`` predicts deterioration far less than before,
  and the inputs look exactly the same: a change of concept, invisible to drift checks.

Examples
--------
>>> ward = patient_monitoring(days=60, seed=0)
>>> ward.columns.tolist()
['time', 'ward', 'age', 'heart_rate', 'resp_rate', 'systolic_bp', 'temperature', 'spo2', 'deteriorated']
>>> len(ward), round(float(ward["deteriorated"].mean()), 2)
(2400, 0.1)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FEATURES", "LABEL", "patient_monitoring"]

FEATURES: tuple[str, ...] = ("ward", "age", "heart_rate", "resp_rate", "systolic_bp", "temperature", "spo2")
LABEL = "deteriorated"

_WARDS = ("general", "surgical", "cardiac")
_WARD_RISK = {"general": 0.0, "surgical": 0.3, "cardiac": 0.6}
_SENSOR_ERROR = 0.6  # °C the new thermometers read too high


def patient_monitoring(
    *,
    days: int = 365,
    checks_per_day: int = 40,
    start: Any = "2016-01-01",
    sensor_change_at: Any = None,
    protocol_change_at: Any = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Generate ``days`` of patient checks, with the documented changes at the given moments.

    Parameters
    ----------
    days
        How many days.
    checks_per_day
        How many checks a day, spread over its hours.
    start
        The first day.
    sensor_change_at
        From this time on, recorded temperatures read 0.6 °C too high; ``None`` for never.
    protocol_change_at
        From this time on, low oxygen saturation raises the risk far less; ``None`` for never.
    seed
        The same seed gives the same ward.

    Returns
    -------
    pandas.DataFrame
        One row per check, in time order, with the columns listed in the module's docstring.

    Raises
    ------
    ValueError
        If ``days`` or ``checks_per_day`` is not a whole number of at least 1.

    Examples
    --------
    A protocol change moves the truth, not the inputs:

    >>> before = patient_monitoring(days=200, seed=1)
    >>> after = patient_monitoring(days=200, seed=1, protocol_change_at="2016-04-01")
    >>> bool(before["spo2"].equals(after["spo2"])), bool(before["deteriorated"].equals(after["deteriorated"]))
    (True, False)
    """
    for name, value in (("days", days), ("checks_per_day", checks_per_day)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"expected {name} to be a whole number of at least 1; got {value!r}; fix: pass e.g. {name}=30")
    rng = np.random.default_rng(seed)
    n = days * checks_per_day
    day = np.repeat(np.arange(days), checks_per_day)
    hour = np.tile(np.linspace(0, 24, checks_per_day, endpoint=False), days)
    time = pd.Timestamp(start) + pd.to_timedelta(day, unit="D") + pd.to_timedelta(np.round(hour * 60), unit="min")
    ward = rng.choice(_WARDS, size=n, p=[0.5, 0.3, 0.2])
    age = np.clip(rng.normal(62, 15, n), 18, 99).round().astype(int)
    # A patient's hidden frailty moves every vital sign the same way, as illness does.
    frailty = rng.normal(0, 1, n)
    heart_rate = np.round(80 + 10 * frailty + rng.normal(0, 10, n))
    resp_rate = np.round(16 + 2.5 * frailty + rng.normal(0, 2.5, n))
    systolic_bp = np.round(125 - 8 * frailty + rng.normal(0, 15, n))
    true_temperature = 37.0 + 0.35 * frailty + rng.normal(0, 0.4, n)
    spo2 = np.clip(np.round(96 - 1.5 * frailty + rng.normal(0, 1.5, n)), 80, 100)
    base = (-3.9 + 0.03 * (heart_rate - 80) + 0.2 * (resp_rate - 16) - 0.02 * (systolic_bp - 125)
            + 0.9 * (true_temperature - 37) + 0.02 * (age - 62) + np.vectorize(_WARD_RISK.get)(ward))
    oxygen = -0.55 * (spo2 - 96)
    if protocol_change_at is not None:
        # Early oxygen: low saturation is treated at once, and mostly stops leading to ICU.
        oxygen = np.where(time >= pd.Timestamp(protocol_change_at), 0.05 * oxygen, oxygen)
    risk = 1.0 / (1.0 + np.exp(-(base + oxygen)))
    deteriorated = rng.random(n) < risk
    temperature = true_temperature
    if sensor_change_at is not None:
        temperature = np.where(time >= pd.Timestamp(sensor_change_at), temperature + _SENSOR_ERROR, temperature)
    return pd.DataFrame({
        "time": time, "ward": pd.array(ward, dtype="str"), "age": age, "heart_rate": heart_rate,
        "resp_rate": resp_rate, "systolic_bp": systolic_bp, "temperature": np.round(temperature, 1),
        "spo2": spo2, LABEL: deteriorated,
    })
