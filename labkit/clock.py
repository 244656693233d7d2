"""A simulated clock, so that notebooks print the same times on every run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["SimulatedClock", "system_clock"]


def system_clock() -> datetime:
    """The current time in UTC: the default clock outside lessons and tests."""
    return datetime.now(timezone.utc)


class SimulatedClock:
    """A clock that starts at a fixed time and moves forward a fixed step per reading.

    Pass it wherever labkit takes ``clock=``: every reading is the previous one plus
    ``step``, so a notebook run twice shows the same timestamps.

    Parameters
    ----------
    start
        The first time read, as a datetime or ISO 8601 string (UTC if no zone is given).
    step
        How far the clock moves after each reading.

    Examples
    --------
    >>> clock = SimulatedClock(start="2013-01-01", step=timedelta(hours=1))
    >>> clock().isoformat(), clock().isoformat()
    ('2013-01-01T00:00:00+00:00', '2013-01-01T01:00:00+00:00')
    """

    def __init__(self, *, start: datetime | str = "2013-01-01", step: timedelta = timedelta(minutes=1)) -> None:
        self.start = start
        self.step = step
        self._readings = 0

    def __call__(self) -> datetime:
        start = datetime.fromisoformat(self.start) if isinstance(self.start, str) else self.start
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        now = start + self._readings * self.step
        self._readings += 1
        return now

    def __repr__(self) -> str:
        return f"SimulatedClock(start={self.start!r}, step={self.step!r})"
