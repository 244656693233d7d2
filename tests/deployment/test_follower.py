"""A deployment follows its alias: promote and roll back under load, no request fails, answers name their version."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import labkit as lk

FEATURES = list(lk.data.FEATURES)
SWITCH_SECONDS = 2.0


def _identity(frame):
    """A function of this test module: a type no trust list names."""
    return frame


@pytest.fixture
def two_versions(weather_registry, weather_split):
    """Version 1 (the 2012 model, champion) and version 2 (the same pipeline fitted on 2014), which disagree."""
    _, production = weather_split
    later = production[production["date"].dt.year == 2014]
    v1 = weather_registry.load("weather", version=1)
    from sklearn.base import clone

    refit = clone(v1).fit(later[FEATURES], later["rain_tomorrow"])
    weather_registry.register(refit, name="weather", X=later[FEATURES], y=later["rain_tomorrow"])
    # Days both versions accept: 2014 saw no snow or drizzle, so version 2's schema refuses them.
    days = production.loc[production["weather"].isin(set(later["weather"])), FEATURES].iloc[:40]
    expected = {1: v1.predict(days).tolist(), 2: refit.predict(days).tolist()}
    assert expected[1] != expected[2], "the two versions must disagree somewhere for the test to mean anything"
    return weather_registry, days, expected


def _wait_for_version(url: str, version: int, since: float) -> float:
    """Seconds from ``since`` until /health names ``version`` (fails after the switch time)."""
    while True:
        if httpx.get(f"{url}/health", timeout=5).json()["model_version"] == version:
            return time.monotonic() - since
        assert time.monotonic() - since < SWITCH_SECONDS, f"still not serving version {version} after {SWITCH_SECONDS} s"
        time.sleep(0.02)


def test_promote_and_rollback_under_load_fail_nothing_and_switch_within_two_seconds(two_versions, tmp_path):
    registry, days, expected = two_versions
    body = {"records": days.to_dict(orient="records")}
    answers: list[tuple[float, int, dict]] = []
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                response = client.post(f"{dep.url}/predict", json=body)
                answers.append((time.monotonic(), response.status_code, response.json()))

    with lk.deploy(registry, "weather", alias="champion", store=tmp_path / "monitor.db") as dep:
        senders = [threading.Thread(target=send) for _ in range(3)]
        for sender in senders:
            sender.start()
        try:
            moves = []
            for move, version in [("promote", 2), ("rollback", 1), ("promote", 2)]:
                time.sleep(0.8)
                moved_at = time.monotonic()
                if move == "promote":
                    registry.promote("weather", version=version, alias="champion", reason="test: move under load")
                else:
                    registry.rollback("weather", alias="champion", reason="test: back under load")
                took = _wait_for_version(dep.url, version, moved_at)
                moves.append((moved_at, version, took))
            time.sleep(0.5)
        finally:
            stop.set()
            for sender in senders:
                sender.join()
        assert dep.version == 2 and "moved from version 1 to 2" in dep.log

    assert len(answers) > 50
    assert [(status, answer) for _, status, answer in answers if status != 200] == []
    # Every answer is exactly the predictions of the version it names.
    for _, _, answer in answers:
        assert answer["predictions"] == expected[answer["model_version"]]
    # Once a move has been served for the switch time, no answer names the old version.
    for moved_at, version, took in moves:
        assert took < SWITCH_SECONDS
        later = [a["model_version"] for t, _, a in answers if moved_at + SWITCH_SECONDS < t < moved_at + 0.8]
        assert set(later) <= {version}
    # The store logged each prediction under the version that answered it.
    logged = lk.PredictionStore(tmp_path / "monitor.db").frame()
    by_id = dict(zip(logged["request_id"], logged["model_version"]))
    assert all(by_id[answer["request_ids"][0]] == answer["model_version"] for _, _, answer in answers)
    assert set(logged["model_version"]) == {1, 2}


def test_a_rollback_serves_the_earlier_versions_exact_predictions(two_versions):
    registry, days, _ = two_versions
    with lk.deploy(registry, "weather", alias="champion") as dep:
        first = dep.client.predict(days)
        registry.promote("weather", version=2, alias="champion")
        _wait_for_version(dep.url, 2, time.monotonic())
        registry.rollback("weather", alias="champion", reason="test")
        _wait_for_version(dep.url, 1, time.monotonic())
        again = dep.client.predict(days)
    pd.testing.assert_frame_equal(first.drop(columns="request_id"), again.drop(columns="request_id"), check_exact=True)


def test_wait_for_version_returns_once_the_switch_is_done_and_says_why_when_it_is_not(two_versions):
    registry, _, _ = two_versions
    with lk.deploy(registry, "weather", alias="champion") as dep:
        registry.promote("weather", version=2, alias="champion")
        dep.wait_for_version(2)
        assert httpx.get(f"{dep.url}/health").json()["model_version"] == 2
        with pytest.raises(lk.errors.DeploymentError, match="expected the service to serve version 7 within 0.5 s"):
            dep.wait_for_version(7, timeout=0.5)


def test_a_pinned_deployment_keeps_its_version(two_versions):
    registry, days, expected = two_versions
    with lk.deploy(registry, "weather", alias="champion", follow=False) as dep:
        registry.promote("weather", version=2, alias="champion")
        time.sleep(SWITCH_SECONDS)
        answer = httpx.post(f"{dep.url}/predict", json={"records": days.to_dict(orient="records")}).json()
        assert answer["model_version"] == 1 and answer["predictions"] == expected[1]
        assert dep.version == 1


def test_a_changed_file_is_refused_and_the_service_keeps_serving_the_version_it_had(two_versions):
    registry, days, expected = two_versions
    with lk.deploy(registry, "weather", alias="champion") as dep:
        model_file = next((registry.root / "weather" / "versions" / "2").glob("*.skops"))
        model_file.write_bytes(model_file.read_bytes()[:-10] + b"0123456789")  # tampered after registration
        registry.promote("weather", version=2, alias="champion", reason="test: a changed file")
        time.sleep(SWITCH_SECONDS)
        answer = httpx.post(f"{dep.url}/predict", json={"records": days.to_dict(orient="records")}).json()
        assert answer["model_version"] == 1 and answer["predictions"] == expected[1]
        assert "moved to version 2, which cannot be served (IntegrityError" in dep.log
        assert "still serving version 1" in dep.log
        # Refused once, not again every half second.
        assert dep.log.count("which cannot be served") == 1
        # The alias moves back to a good version: nothing to switch; then to a third, good one.
        registry.rollback("weather", alias="champion")
        registry.register(registry.load("weather", version=1), name="weather", X=days)
        registry.promote("weather", version=3, alias="champion")
        _wait_for_version(dep.url, 3, time.monotonic())


def test_an_untrusted_version_is_refused_and_nothing_from_it_runs(two_versions, weather_split):
    registry, days, expected = two_versions
    train, _ = weather_split
    hostile = make_pipeline(FunctionTransformer(func=_identity), registry.load("weather", version=1)[-1])
    hostile.fit(train[FEATURES].pipe(lambda f: registry.load("weather", version=1)[:-1].transform(f)), train["rain_tomorrow"])
    # Registered by someone who trusted the function; the service was never told to.
    registry.register(hostile, name="weather", X=train[FEATURES].iloc[:5],
                      trusted=[f"{_identity.__module__}._identity"])
    with lk.deploy(registry, "weather", alias="champion") as dep:
        registry.promote("weather", version=3, alias="champion", reason="test: an untrusted type")
        time.sleep(SWITCH_SECONDS)
        assert dep.version == 1
        assert "moved to version 3, which cannot be served (UntrustedModelError" in dep.log
        assert "_identity" in dep.log


def test_labkit_serve_without_following(two_versions, tmp_path):
    registry, _, _ = two_versions
    from labkit.cli import _parser

    arguments = _parser().parse_args(
        ["serve", "--registry", str(registry.root), "--model", "weather", "--no-follow"]
    )
    assert arguments.no_follow is True
