"""The circuit breaker's states: closed, open after K failures in a row, one probe after the cooldown."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from labkit.integration.breaker import CircuitBreaker, Transition

START = datetime(2013, 6, 1, 19, tzinfo=timezone.utc)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def failing_calls(breaker: CircuitBreaker, count: int, *, start: float = 0) -> list[bool]:
    """Try ``count`` calls an hour apart that all fail; return which the breaker allowed."""
    allowed = []
    for hour in range(count):
        now = at(start + hour)
        allowed.append(breaker.allow(now))
        if allowed[-1]:
            breaker.record_failure(now)
    return allowed


def opened(failures: int = 3, cooldown: timedelta = timedelta(hours=10)) -> CircuitBreaker:
    """A breaker just opened at hour ``failures - 1``."""
    breaker = CircuitBreaker(failures=failures, cooldown=cooldown)
    failing_calls(breaker, failures)
    assert breaker.state == "open"
    return breaker


def test_a_new_breaker_is_closed_and_allows_calls():
    breaker = CircuitBreaker(failures=3, cooldown=timedelta(hours=1))

    assert breaker.state == "closed"
    assert breaker.allow(at(0)) and breaker.allow(at(1))
    assert breaker.history == ()


def test_it_opens_after_exactly_k_failures_in_a_row():
    breaker = CircuitBreaker(failures=3, cooldown=timedelta(hours=10))

    failing_calls(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.failures_in_a_row == 2
    failing_calls(breaker, 1, start=2)

    assert breaker.state == "open"
    assert breaker.history == (Transition(time=at(2), old="closed", new="open", reason="3 failures in a row"),)


def test_a_success_starts_the_count_again():
    breaker = CircuitBreaker(failures=3, cooldown=timedelta(hours=10))

    failing_calls(breaker, 2)
    assert breaker.allow(at(2))
    breaker.record_success(at(2))
    failing_calls(breaker, 2, start=3)

    assert breaker.failures_in_a_row == 2
    assert breaker.state == "closed"
    failing_calls(breaker, 1, start=5)
    assert breaker.state == "open"


def test_one_failure_opens_a_breaker_of_one():
    breaker = CircuitBreaker(failures=1, cooldown=timedelta(hours=1))

    failing_calls(breaker, 1)

    assert breaker.state == "open"


def test_it_refuses_every_call_during_the_cooldown():
    breaker = opened(failures=3, cooldown=timedelta(hours=10))

    # Opened at hour 2: hours 3 to 11 are inside the cooldown, which ends at hour 12.
    assert [breaker.allow(at(hour)) for hour in range(3, 12)] == [False] * 9
    assert breaker.state == "open"
    assert len(breaker.history) == 1


def test_after_the_cooldown_it_half_opens_and_lets_exactly_one_probe_through():
    breaker = opened(failures=3, cooldown=timedelta(hours=10))

    first = breaker.allow(at(12))
    state = breaker.state
    later = [breaker.allow(at(12 + hour)) for hour in range(1, 4)]

    assert first is True
    assert state == "half-open"
    assert later == [False, False, False]
    assert breaker.history[-1] == Transition(time=at(12), old="open", new="half-open", reason="the cooldown is over")


def test_a_successful_probe_closes_it():
    breaker = opened(failures=3, cooldown=timedelta(hours=10))
    assert breaker.allow(at(12))

    breaker.record_success(at(12))

    assert breaker.state == "closed"
    assert breaker.failures_in_a_row == 0
    assert breaker.allow(at(13)) and breaker.allow(at(14))
    assert [(t.old, t.new) for t in breaker.history] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]


def test_a_failed_probe_opens_it_for_another_full_cooldown():
    breaker = opened(failures=3, cooldown=timedelta(hours=10))
    assert breaker.allow(at(12))

    breaker.record_failure(at(12))

    assert breaker.state == "open"
    assert breaker.history[-1] == Transition(time=at(12), old="half-open", new="open", reason="the probe failed")
    # The new cooldown counts from the failed probe, not from the first opening.
    assert [breaker.allow(at(hour)) for hour in range(13, 22)] == [False] * 9
    assert breaker.allow(at(22)) and breaker.state == "half-open"


def test_a_closed_breaker_after_a_probe_needs_k_new_failures_to_open():
    breaker = opened(failures=3, cooldown=timedelta(hours=10))
    breaker.allow(at(12))
    breaker.record_success(at(12))

    failing_calls(breaker, 2, start=13)
    assert breaker.state == "closed"
    failing_calls(breaker, 1, start=15)
    assert breaker.state == "open"


def test_history_tabulates():
    breaker = opened(failures=2, cooldown=timedelta(hours=1))

    table = pd.DataFrame(breaker.history)

    assert table.columns.tolist() == ["time", "old", "new", "reason"]
    assert table.to_dict("records") == [
        {"time": at(1), "old": "closed", "new": "open", "reason": "2 failures in a row"}
    ]


def test_repr_shows_the_settings_and_state():
    assert repr(opened(failures=2, cooldown=timedelta(hours=1))) == (
        "CircuitBreaker(failures=2, cooldown=datetime.timedelta(seconds=3600), state='open')"
    )


@pytest.mark.parametrize("failures", [0, -1, 2.5, True, "3"])
def test_a_bad_failure_count_is_refused_with_a_fix(failures):
    breaker = CircuitBreaker(failures=failures, cooldown=timedelta(hours=1))

    with pytest.raises(ValueError, match=r"expected failures= to be a whole number of at least 1; got .*fix: pass"):
        breaker.allow(at(0))


@pytest.mark.parametrize("cooldown", [timedelta(hours=-1), 60])
def test_a_bad_cooldown_is_refused_with_a_fix(cooldown):
    breaker = CircuitBreaker(failures=3, cooldown=cooldown)

    with pytest.raises(ValueError, match=r"expected cooldown= to be a timedelta of zero or more; got .*fix: pass"):
        breaker.allow(at(0))
