"""A circuit breaker: stop calling a service that keeps failing, and try again later.

A system that calls a model over the network must not wait on a dead service every time
it needs an answer. The breaker counts failures in a row. After ``failures`` of them it
*opens*: calls are refused at once, and the caller uses its fallback. Once ``cooldown``
has passed it turns *half-open* and lets exactly one probe call through: if the probe
succeeds it *closes* again (back to normal), if it fails it opens for another cooldown.

Time is always passed in (``now``), never read from the wall clock here, so a lesson on
a simulated clock gives the same story on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["CircuitBreaker", "Transition"]

State = Literal["closed", "open", "half-open"]


@dataclass(frozen=True)
class Transition:
    """One change of a breaker's state: when, from what, to what, and why."""

    time: datetime
    old: State
    new: State
    reason: str


class CircuitBreaker:
    """Refuse calls to a failing service for a while, then probe it with one call.

    The caller asks :meth:`allow` before each call and reports the outcome with
    :meth:`record_success` or :meth:`record_failure`.

    Parameters
    ----------
    failures
        How many failures in a row open the breaker; a success starts the count again.
    cooldown
        How long the breaker stays open before it lets one probe call through.

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> breaker = CircuitBreaker(failures=2, cooldown=timedelta(days=2))
    >>> def evening(day):
    ...     return datetime(2013, 6, day, 19)
    >>> for day in (1, 2):  # the service is down: two calls fail
    ...     if breaker.allow(evening(day)):
    ...         breaker.record_failure(evening(day))
    >>> breaker.state
    'open'
    >>> breaker.allow(evening(3))  # cooling down: do not call
    False
    >>> breaker.allow(evening(4)), breaker.state  # the cooldown is over: one probe
    (True, 'half-open')
    >>> breaker.record_success(evening(4))
    >>> breaker.state
    'closed'
    >>> [(t.time.day, t.new, t.reason) for t in breaker.history]
    [(2, 'open', '2 failures in a row'), (4, 'half-open', 'the cooldown is over'), (4, 'closed', 'the probe succeeded')]
    """

    def __init__(self, *, failures: int = 3, cooldown: timedelta = timedelta(days=2)) -> None:
        self.failures = failures
        self.cooldown = cooldown
        self._state: State = "closed"
        self._failures_in_a_row = 0
        self._opened_at: datetime | None = None
        self._probe_out = False
        self._history: list[Transition] = []

    def __repr__(self) -> str:
        return f"CircuitBreaker(failures={self.failures!r}, cooldown={self.cooldown!r}, state={self._state!r})"

    @property
    def state(self) -> State:
        """``"closed"`` (calls go through), ``"open"`` (calls refused) or ``"half-open"`` (one probe)."""
        return self._state

    @property
    def failures_in_a_row(self) -> int:
        """Failures since the last success."""
        return self._failures_in_a_row

    @property
    def history(self) -> tuple[Transition, ...]:
        """Every change of state so far, oldest first; ``pd.DataFrame(breaker.history)`` tabulates it."""
        return tuple(self._history)

    def allow(self, now: datetime) -> bool:
        """Whether a call may be made at ``now``; after the cooldown, the first ask is the probe."""
        self._check()
        if self._state == "open" and now - self._opened_at >= self.cooldown:
            self._move(now, "half-open", "the cooldown is over")
        if self._state == "closed":
            return True
        if self._state == "half-open" and not self._probe_out:
            # Only one probe: a service that is just coming back is not flooded with calls.
            self._probe_out = True
            return True
        return False

    def record_success(self, now: datetime) -> None:
        """Report that a call allowed at ``now`` succeeded."""
        self._failures_in_a_row = 0
        if self._state == "half-open":
            self._move(now, "closed", "the probe succeeded")

    def record_failure(self, now: datetime) -> None:
        """Report that a call allowed at ``now`` failed."""
        self._check()
        self._failures_in_a_row += 1
        if self._state == "half-open":
            self._move(now, "open", "the probe failed")
        elif self._state == "closed" and self._failures_in_a_row >= self.failures:
            self._move(now, "open", f"{self._failures_in_a_row} failures in a row")

    def _move(self, now: datetime, new: State, reason: str) -> None:
        self._history.append(Transition(time=now, old=self._state, new=new, reason=reason))
        self._state = new
        self._probe_out = False
        if new == "open":
            self._opened_at = now

    def _check(self) -> None:
        if isinstance(self.failures, bool) or not isinstance(self.failures, int) or self.failures < 1:
            raise ValueError(
                f"expected failures= to be a whole number of at least 1; got {self.failures!r}; "
                "fix: pass e.g. CircuitBreaker(failures=3, ...)"
            )
        if not isinstance(self.cooldown, timedelta) or self.cooldown < timedelta(0):
            raise ValueError(
                f"expected cooldown= to be a timedelta of zero or more; got {self.cooldown!r}; "
                "fix: pass e.g. CircuitBreaker(cooldown=timedelta(days=2), ...)"
            )
