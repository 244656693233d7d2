"""An automated control loop that uses the model: a garden's irrigation controller.

Each evening, once the day's weather is in, the controller decides whether to water the
garden tonight. If the model says rain is likely tomorrow, it skips: the rain will water
the garden for free. Like a thermostat, it acts on its own, every day, so it must keep
acting when the model cannot answer:

- each call has a short timeout (the client's), so a hung service cannot stall it;
- a :class:`~labkit.integration.breaker.CircuitBreaker` stops it calling a service that
  keeps failing, and lets one probe through after a cooldown, so it comes back to the
  model on its own once the service is up again;
- meanwhile a fallback rule decides without the model (by default
  :func:`water_unless_it_rained`);
- every decision is recorded with its time, action, source, breaker state and reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime

import pandas as pd

from labkit.clock import system_clock
from labkit.deployment.client import ModelClient
from labkit.errors import ServiceError
from labkit.integration.breaker import CircuitBreaker
from labkit.integration.rain import chance_of_rain

__all__ = ["Decision", "IrrigationController", "water_unless_it_rained"]


@dataclass(frozen=True)
class Decision:
    """One evening's decision, and everything needed to explain it later.

    Parameters
    ----------
    time
        When it was made, read from the controller's clock.
    action
        ``"water"`` or ``"skip"``.
    source
        ``"model"`` if the model's answer decided, ``"fallback"`` if the fallback rule did.
    chance_of_rain
        The model's chance of rain tomorrow; ``None`` when it did not answer.
    breaker
        The breaker's state when the decision was made: ``"closed"`` (the model was
        called), ``"open"`` (it was not) or ``"half-open"`` (this call was the probe).
    reason
        Why, in words.
    """

    time: datetime
    action: str
    source: str
    chance_of_rain: float | None
    breaker: str
    reason: str


def water_unless_it_rained(today: pd.Series) -> tuple[bool, str]:
    """The fallback rule: water tonight unless it rained today.

    Seattle's wet days come in runs, so today's rain is a fair guess at tomorrow's; it
    needs no model and no network, which is what a fallback must be.

    Parameters
    ----------
    today
        Today's weather, with ``precipitation`` in mm.

    Returns
    -------
    tuple of (bool, str)
        Whether to water, and why.

    Examples
    --------
    >>> water_unless_it_rained(pd.Series({"precipitation": 4.1}))
    (False, 'it rained today (4.1 mm)')
    >>> water_unless_it_rained(pd.Series({"precipitation": 0.0}))
    (True, 'it stayed dry today')
    """
    if today["precipitation"] > 0:
        return False, f"it rained today ({today['precipitation']:g} mm)"
    return True, "it stayed dry today"


class IrrigationController:
    """Decide each evening whether to water the garden, with the model or without it.

    Parameters
    ----------
    client
        A client of the rain model's service. Give it a short ``timeout`` and few
        ``retries`` (``ModelClient(url, timeout=2, retries=0)``): a controller waiting on
        retries is a controller not acting. Its URL stays the same, so a service started
        again at the same address is found again.
    breaker
        The circuit breaker guarding the calls.
    clock
        Where each decision's time comes from, read once per decision: a
        :class:`labkit.SimulatedClock` stepping one day for a lesson.
    threshold
        Skip watering when the model's chance of rain tomorrow is at least this.
    fallback
        The rule used when the model cannot answer: today's weather in, whether to water
        and why out.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import timedelta
    >>> import labkit as lk
    >>> from sklearn.dummy import DummyClassifier
    >>> from labkit.integration import CircuitBreaker
    >>> days = lk.data.running_example(lk.data.load_weather()).head(8)
    >>> X, y = days[list(lk.data.FEATURES)], [True] * 5 + [False] * 3
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> _ = reg.register(DummyClassifier().fit(X, y), name="rain", X=X)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> dep = lk.deploy(reg, "rain")
    >>> controller = IrrigationController(
    ...     client=lk.ModelClient(dep.url, timeout=2, retries=0),
    ...     breaker=CircuitBreaker(failures=2, cooldown=timedelta(days=3)),
    ...     clock=lk.SimulatedClock(start="2012-01-01T19:00", step=timedelta(days=1)),
    ... )
    >>> controller.step(days.iloc[0]).reason
    'model: 62% chance of rain tomorrow, at least 50%'
    >>> dep.stop()  # the service goes down; the controller carries on without it
    >>> controller.run(days.iloc[1:])[["action", "source", "breaker"]]
      action    source    breaker
    0   skip  fallback     closed
    1   skip  fallback     closed
    2   skip  fallback       open
    3   skip  fallback       open
    4   skip  fallback  half-open
    5  water  fallback       open
    6  water  fallback       open
    >>> print(controller.decisions.reason.iloc[5])  # the probe, after three days' cooldown
    model failed (ServiceUnavailableError); breaker opened; fallback: it rained today (2.5 mm)
    """

    def __init__(
        self,
        *,
        client: ModelClient,
        breaker: CircuitBreaker,
        clock: Callable[[], datetime] = system_clock,
        threshold: float = 0.5,
        fallback: Callable[[pd.Series], tuple[bool, str]] = water_unless_it_rained,
    ) -> None:
        self.client = client
        self.breaker = breaker
        self.clock = clock
        self.threshold = threshold
        self.fallback = fallback
        self._decisions: list[Decision] = []

    def __repr__(self) -> str:
        return f"IrrigationController({len(self._decisions)} decisions, breaker {self.breaker.state!r})"

    @property
    def decisions(self) -> pd.DataFrame:
        """Every decision so far, one row each, oldest first."""
        return _frame(self._decisions)

    def step(self, today: pd.Series) -> Decision:
        """Decide tonight's watering from ``today``'s weather, record it, and return it.

        Parameters
        ----------
        today
            One day of weather, such as a row of :func:`labkit.data.running_example`.

        Returns
        -------
        Decision
            Also appended to :attr:`decisions`.

        Raises
        ------
        DataError
            ``today`` lacks one of the model's features: a bug in the caller's data,
            which no fallback should hide. The breaker counts it as a failed call.
        """
        now = self.clock()
        allowed = self.breaker.allow(now)
        state = self.breaker.state  # read after allow(): "half-open" when this call is the probe
        chance, trouble = self._ask_model(now, today) if allowed else (None, "breaker open, model not called")
        if chance is None:
            water, rule = self.fallback(today)
            source, reason = "fallback", f"{trouble}; fallback: {rule}"
        else:
            water = chance < self.threshold
            source = "model"
            comparison = "below" if water else "at least"
            reason = f"model: {chance:.0%} chance of rain tomorrow, {comparison} {self.threshold:.0%}"
        decision = Decision(
            time=now,
            action="water" if water else "skip",
            source=source,
            chance_of_rain=chance,
            breaker=state,
            reason=reason,
        )
        self._decisions.append(decision)
        return decision

    def run(self, days: pd.DataFrame) -> pd.DataFrame:
        """Take one :meth:`step` per row of ``days``, in order; return those decisions as a frame."""
        return _frame([self.step(today) for _, today in days.iterrows()])

    def _ask_model(self, now: datetime, today: pd.Series) -> tuple[float | None, str]:
        """The model's chance of rain, or None and what went wrong; the breaker hears which."""
        try:
            chance = chance_of_rain(self.client, today)
        except ServiceError as error:
            # Down, timed out, refused or the wrong model: whatever the cause, no answer came,
            # so it counts against the service and the fallback decides tonight.
            self.breaker.record_failure(now)
            opened = "; breaker opened" if self.breaker.state == "open" else ""
            return None, f"model failed ({_failure(error)}){opened}"
        except BaseException:
            # Interrupted (Ctrl+C in a notebook) or a bad row: still tell the breaker, or a
            # half-open one would wait for this probe's outcome forever.
            self.breaker.record_failure(now)
            raise
        self.breaker.record_success(now)
        return chance, ""


def _failure(error: ServiceError) -> str:
    # The class name and status, never the message: it holds the URL, whose port changes
    # from run to run, and a notebook's decisions table must read the same every time.
    return type(error).__name__ if error.status is None else f"{type(error).__name__}, status {error.status}"


def _frame(decisions: list[Decision]) -> pd.DataFrame:
    return pd.DataFrame([asdict(d) for d in decisions], columns=[f.name for f in fields(Decision)])
