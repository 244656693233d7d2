"""Tests for labkit.monitoring._frames: how every monitor finds labels and cuts time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labkit.monitoring._frames import is_labelled, known_labels, windows


def test_a_label_is_missing_when_none_nan_or_empty():
    labels = pd.Series([True, None, np.nan, "", "  ", False], dtype=object)

    assert is_labelled(labels).tolist() == [True, False, False, False, False, True]
    assert known_labels(labels).dtype == bool


@pytest.mark.parametrize("window", ["1D", "7D", "W", "MS", "12h"])
def test_offset_windows_hold_every_row_once_inside_their_bounds(window):
    times = pd.date_range("2013-01-03", periods=50, freq="19h", tz="UTC")
    frame = pd.DataFrame({"event_time": times[::-1], "n": range(50)})  # out of order on purpose

    cut = list(windows(frame, window, time_column="event_time"))

    assert sum(len(w.rows) for w in cut) == 50
    for w in cut:
        assert ((w.rows["event_time"] >= w.start) & (w.rows["event_time"] < w.end)).all()
    assert all(a.end == b.start for a, b in zip(cut, cut[1:], strict=False))  # consecutive, no gaps


def test_count_windows_follow_event_time_not_row_order():
    times = pd.date_range("2013-01-01", periods=5, freq="D", tz="UTC")
    frame = pd.DataFrame({"event_time": times[::-1], "n": [4, 3, 2, 1, 0]})

    cut = list(windows(frame, 2, time_column="event_time"))

    assert [w.rows["n"].tolist() for w in cut] == [[0, 1], [2, 3], [4]]
