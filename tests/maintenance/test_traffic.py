"""keep_sending: steady traffic through a change, every request's fate kept."""

from __future__ import annotations

import time

import labkit as lk
from labkit.maintenance.traffic import keep_sending

FEATURES = list(lk.data.FEATURES)


def test_a_promotion_under_traffic_fails_nothing_and_the_versions_follow_each_other(weather_registry, weather_split):
    train, _ = weather_split
    weather_registry.register(weather_registry.load("weather", version=1), name="weather", X=train[FEATURES])
    with lk.deploy(weather_registry, "weather", alias="champion", token="s3cret") as dep:
        with keep_sending(dep, train[FEATURES].head(3)) as traffic:
            time.sleep(0.5)
            weather_registry.promote("weather", version=2, alias="champion", reason="test")
            time.sleep(2.0)
    assert traffic.failed == 0 and len(traffic.answers) > 20
    stretches = traffic.versions()
    assert stretches["model_version"].tolist() == [1, 2]
    assert stretches["answers"].sum() == len(traffic.answers)
    assert (traffic.answers["answered_s"] >= traffic.answers["sent_s"]).all()


def test_a_service_that_goes_away_shows_as_failed_requests_not_as_an_exception(weather_registry, weather_split):
    train, _ = weather_split
    dep = lk.deploy(weather_registry, "weather", alias="champion")
    with keep_sending(dep.url, train[FEATURES].head(1)) as traffic:
        time.sleep(0.5)
        dep.stop()
        time.sleep(0.5)
    assert traffic.failed > 0
    gone = traffic.answers[traffic.answers["status"] != 200]
    assert (gone["status"] == 0).all() and gone["error"].str.startswith("ConnectError").all()
    assert traffic.versions()["model_version"].tolist() == [1]
