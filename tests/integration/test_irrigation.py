"""The irrigation controller against a real service: it uses the model, survives its outage, and comes back."""

from __future__ import annotations

import os
import signal
import socket
import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError
from labkit.integration.breaker import CircuitBreaker, Transition
from labkit.integration.irrigation import Decision, IrrigationController, water_unless_it_rained

COLUMNS = ["time", "action", "source", "chance_of_rain", "breaker", "reason"]


def evening(day: int) -> datetime:
    return datetime(2013, 3, day, 19, tzinfo=timezone.utc)


def controller_for(url: str, *, failures: int = 3, cooldown_days: int = 2, **options) -> IrrigationController:
    """A controller as a lesson builds one: short timeout, no retries, one simulated evening per step."""
    return IrrigationController(
        client=lk.ModelClient(url, timeout=5.0, retries=0),
        breaker=CircuitBreaker(failures=failures, cooldown=timedelta(days=cooldown_days)),
        clock=lk.SimulatedClock(start="2013-03-01T19:00", step=timedelta(days=1)),
        **options,
    )


def nothing_listening() -> str:
    """The URL of a port nothing listens on: a service that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_the_fallback_waters_unless_it_rained():
    assert water_unless_it_rained(pd.Series({"precipitation": 0.0})) == (True, "it stayed dry today")
    assert water_unless_it_rained(pd.Series({"precipitation": 11.9})) == (False, "it rained today (11.9 mm)")


def test_while_the_model_answers_it_decides_by_the_models_chance_of_rain(weather_service, weather_model, march):
    expected = weather_model.predict_proba(march[list(lk.data.FEATURES)])[:, 1]
    controller = controller_for(weather_service.url)

    decisions = controller.run(march)

    assert decisions.columns.tolist() == COLUMNS
    assert decisions["time"].tolist() == [evening(day) for day in range(1, 21)]
    np.testing.assert_allclose(decisions["chance_of_rain"].astype(float), expected)
    assert decisions["action"].tolist() == ["skip" if p >= 0.5 else "water" for p in expected]
    assert set(decisions["source"]) == {"model"} and set(decisions["breaker"]) == {"closed"}
    assert decisions["reason"][0] == "model: 66% chance of rain tomorrow, at least 50%"
    assert decisions["reason"][3] == "model: 23% chance of rain tomorrow, below 50%"
    # The model and the fallback disagree on some days, so the source matters.
    assert decisions["action"].tolist() != ["water" if p == 0 else "skip" for p in march["precipitation"]]
    assert controller.decisions.equals(decisions)
    assert controller.breaker.history == ()


def test_the_threshold_decides_how_sure_of_rain_it_must_be_to_skip(weather_service, weather_model, march):
    expected = weather_model.predict_proba(march[list(lk.data.FEATURES)])[:, 1]

    decisions = controller_for(weather_service.url, threshold=0.7).run(march)

    assert decisions["action"].tolist() == ["skip" if p >= 0.7 else "water" for p in expected]
    assert decisions["reason"][0] == "model: 66% chance of rain tomorrow, below 70%"


def test_step_returns_and_records_one_decision(weather_service, march):
    controller = controller_for(weather_service.url)

    decision = controller.step(march.iloc[0])

    assert isinstance(decision, Decision)
    assert (decision.time, decision.action, decision.source) == (evening(1), "skip", "model")
    assert (decision.breaker, decision.chance_of_rain) == ("closed", pytest.approx(0.656, abs=1e-3))
    assert controller.decisions.to_dict("records") == [vars(decision)]
    assert repr(controller) == "IrrigationController(1 decisions, breaker 'closed')"


def test_a_refused_call_counts_as_a_failure_and_the_fallback_decides(weather_service, march):
    controller = controller_for(weather_service.url)
    hail = march.iloc[0].copy()
    hail["weather"] = "hail"  # a category the model never saw: the service answers 422

    refused = controller.step(hail)

    assert (refused.source, refused.action, refused.chance_of_rain) == ("fallback", "skip", None)
    assert refused.reason == "model failed (ServiceError, status 422); fallback: it rained today (4.1 mm)"
    assert controller.breaker.failures_in_a_row == 1
    assert controller.step(march.iloc[1]).source == "model"
    assert controller.breaker.failures_in_a_row == 0


def test_with_no_service_it_keeps_acting_with_its_own_fallback(march):
    controller = controller_for(
        nothing_listening(), failures=2, cooldown_days=5, fallback=lambda today: (True, "water every evening")
    )

    decisions = controller.run(march.head(4))

    assert decisions["action"].tolist() == ["water"] * 4
    assert decisions["breaker"].tolist() == ["closed", "closed", "open", "open"]
    assert decisions["chance_of_rain"].isna().all()
    assert decisions["reason"].tolist() == [
        "model failed (ServiceUnavailableError); fallback: water every evening",
        "model failed (ServiceUnavailableError); breaker opened; fallback: water every evening",
        "breaker open, model not called; fallback: water every evening",
        "breaker open, model not called; fallback: water every evening",
    ]


def test_it_survives_the_service_stopping_and_comes_back_to_the_model_on_its_own(
    weather_registry, weather_model, march
):
    dep = lk.deploy(weather_registry, "weather")
    port = urlsplit(dep.url).port
    controller = controller_for(dep.url, failures=3, cooldown_days=4)
    try:
        before = controller.run(march.iloc[:3])  # 1-3 March
        dep.stop()
        outage = controller.run(march.iloc[3:8])  # 4-8 March
        # Up again at the same address; the controller is not told.
        dep = lk.deploy(weather_registry, "weather", port=port)
        after = controller.run(march.iloc[8:])  # 9-20 March
    finally:
        dep.stop()

    assert set(before["source"]) == {"model"}
    # Down: the fallback decides every evening, and the third failure in a row opens the breaker.
    assert outage["source"].tolist() == ["fallback"] * 5
    # Dry, dry, 11.9 mm, 7.4 mm, dry; the model would have skipped on 5 March (72%).
    assert outage["action"].tolist() == ["water", "water", "skip", "skip", "water"]
    assert outage["breaker"].tolist() == ["closed", "closed", "closed", "open", "open"]
    assert outage["reason"][2] == (
        "model failed (ServiceUnavailableError); breaker opened; fallback: it rained today (11.9 mm)"
    )
    # Back, but the breaker is cooling down: on 9 March the model is not even asked.
    assert after["source"].tolist()[:2] == ["fallback", "model"]
    assert after["reason"][0] == "breaker open, model not called; fallback: it stayed dry today"
    # 10 March, four days after it opened: one probe, which succeeds, and the model is back.
    assert after["breaker"].tolist()[:3] == ["open", "half-open", "closed"]
    assert set(after["source"][1:]) == {"model"}
    expected = weather_model.predict_proba(march.iloc[9:][list(lk.data.FEATURES)])[:, 1]
    np.testing.assert_allclose(after["chance_of_rain"][1:].astype(float), expected)
    assert controller.breaker.history == (
        Transition(time=evening(6), old="closed", new="open", reason="3 failures in a row"),
        Transition(time=evening(10), old="open", new="half-open", reason="the cooldown is over"),
        Transition(time=evening(10), old="half-open", new="closed", reason="the probe succeeded"),
    )
    assert len(controller.decisions) == 20


def test_a_bad_row_raises_and_never_leaves_the_breaker_waiting_for_its_probe(march):
    controller = controller_for(nothing_listening(), failures=1, cooldown_days=1)
    controller.step(march.iloc[0])
    assert controller.breaker.state == "open"

    # 2 March: the cooldown is over, and the probe is this bad row.
    with pytest.raises(DataError, match="missing \\['wind'\\]"):
        controller.step(march.iloc[1].drop("wind"))

    assert controller.breaker.state == "open"
    assert len(controller.decisions) == 1
    # 3 March: a new probe is let through (and fails: nothing listens).
    assert controller.step(march.iloc[2]).breaker == "half-open"


@pytest.mark.skipif(sys.platform == "win32", reason="freezing a process with SIGSTOP is POSIX only")
def test_a_frozen_service_costs_one_timeout_not_a_stuck_controller(weather_registry, march):
    with lk.deploy(weather_registry, "weather") as dep:
        controller = IrrigationController(
            client=lk.ModelClient(dep.url, timeout=0.5, retries=0),
            breaker=CircuitBreaker(failures=1, cooldown=timedelta(days=1)),
            clock=lk.SimulatedClock(start="2013-03-01T19:00", step=timedelta(days=1)),
        )
        # A frozen process still has its port open, so the call connects and then hears
        # nothing: only the client's timeout ends it.
        os.kill(dep.pid, signal.SIGSTOP)
        try:
            frozen = controller.step(march.iloc[0])
        finally:
            os.kill(dep.pid, signal.SIGCONT)
        thawed = controller.step(march.iloc[1])

    assert frozen.source == "fallback"
    assert frozen.reason.startswith("model failed (ServiceUnavailableError); breaker opened")
    assert (thawed.source, thawed.breaker) == ("model", "half-open")
