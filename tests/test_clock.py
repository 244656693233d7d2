"""Tests for labkit.clock: the simulated clock and the system clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from labkit.clock import SimulatedClock, system_clock


def test_simulated_clock_steps_from_its_start():
    clock = SimulatedClock(start="2013-01-01", step=timedelta(hours=1))

    readings = [clock() for _ in range(3)]

    assert [r.isoformat() for r in readings] == [
        "2013-01-01T00:00:00+00:00",
        "2013-01-01T01:00:00+00:00",
        "2013-01-01T02:00:00+00:00",
    ]


def test_simulated_clock_defaults():
    clock = SimulatedClock()

    assert clock() == datetime(2013, 1, 1, tzinfo=timezone.utc)
    assert clock() == datetime(2013, 1, 1, 0, 1, tzinfo=timezone.utc)


def test_simulated_clock_is_reproducible():
    first, second = SimulatedClock(start="2014-06-01T12:00"), SimulatedClock(start="2014-06-01T12:00")

    assert [first() for _ in range(5)] == [second() for _ in range(5)]


def test_simulated_clock_takes_a_datetime_and_keeps_its_zone():
    plus_two = timezone(timedelta(hours=2))
    aware = SimulatedClock(start=datetime(2013, 5, 1, 8, tzinfo=plus_two), step=timedelta(days=1))
    naive = SimulatedClock(start=datetime(2013, 5, 1, 8))
    offset = SimulatedClock(start="2013-05-01T08:00:00+02:00")

    assert aware().isoformat() == "2013-05-01T08:00:00+02:00"
    assert aware().isoformat() == "2013-05-02T08:00:00+02:00"
    assert naive().tzinfo == timezone.utc
    assert offset().utcoffset() == timedelta(hours=2)


def test_simulated_clock_repr():
    clock = SimulatedClock(start="2013-01-01", step=timedelta(seconds=5))

    assert repr(clock) == "SimulatedClock(start='2013-01-01', step=datetime.timedelta(seconds=5))"


def test_system_clock_is_now_in_utc():
    before = datetime.now(timezone.utc)
    now = system_clock()
    after = datetime.now(timezone.utc)

    assert now.tzinfo == timezone.utc
    assert before <= now <= after
