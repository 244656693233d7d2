"""A shadow version sees every answered request, answers no one, and can never slow or fail an answer."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.base import clone

import labkit as lk
from labkit.errors import DeploymentError, NotFoundError
from labkit.maintenance import compare

FEATURES = list(lk.data.FEATURES)


@pytest.fixture
def challenger(weather_registry, weather_split):
    """Version 2, fitted on 2014 (which saw no snow), as the challenger beside the 2012 champion."""
    _, production = weather_split
    later = production[production["date"].dt.year == 2014]
    refit = clone(weather_registry.load("weather", version=1)).fit(later[FEATURES], later["rain_tomorrow"])
    weather_registry.register(refit, name="weather", X=later[FEATURES], y=later["rain_tomorrow"])
    weather_registry.promote("weather", version=2, alias="challenger")
    return weather_registry, refit


def _wait_for_shadow(store: lk.PredictionStore, rows: int, timeout: float = 10.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout
    while len(shadow := store.shadow()) < rows:
        assert time.monotonic() < deadline, f"the shadow scored {len(shadow)} rows of {rows}"
        time.sleep(0.05)
    return shadow


def test_the_shadow_scores_what_the_champion_answered_and_its_predictions_reach_only_the_store(
    challenger, weather_split, tmp_path
):
    registry, refit = challenger
    _, production = weather_split
    days = production[production["weather"].isin(["sun", "rain", "fog"])].iloc[:60]
    with lk.deploy(registry, "weather", store=tmp_path / "monitor.db", shadow="challenger", max_rows=20) as dep:
        answers = dep.client.predict(days[FEATURES], event_times=days["date"])
        store = lk.PredictionStore(tmp_path / "monitor.db")
        shadow = _wait_for_shadow(store, len(days))
        assert "version 2 ('challenger') runs in shadow" in dep.log
    champion = registry.load("weather", version=1)
    assert answers["prediction"].tolist() == champion.predict(days[FEATURES]).tolist()
    logged = store.frame()
    assert set(logged["model_version"]) == {1} and len(logged) == len(days)
    by_id = shadow.set_index("request_id")
    assert by_id.loc[answers["request_id"], "prediction"].tolist() == refit.predict(days[FEATURES]).tolist()
    assert by_id.loc[answers["request_id"], "proba_True"].to_numpy() == pytest.approx(refit.predict_proba(days[FEATURES])[:, 1])
    assert (shadow["model_version"] == 2).all()
    assert shadow["event_time"].tolist() == sorted(days["date"].dt.tz_localize("UTC").tolist())


def test_a_shadow_that_refuses_a_record_fails_quietly_and_the_answer_is_the_champions(challenger, weather_split, tmp_path):
    registry, _ = challenger
    _, production = weather_split
    snowy = production[production["weather"] == "snow"].iloc[:2]  # version 2 never saw snow: its schema refuses it
    sunny = production[production["weather"] == "sun"].iloc[:2]
    with lk.deploy(registry, "weather", store=tmp_path / "monitor.db", shadow="challenger") as dep:
        answered = []
        for days in (snowy, sunny):
            response = httpx.post(f"{dep.url}/predict", json={"records": days[FEATURES].to_dict(orient="records")})
            assert response.status_code == 200 and response.json()["model_version"] == 1
            answered.append(response.json()["request_ids"])
        store = lk.PredictionStore(tmp_path / "monitor.db")
        shadow = _wait_for_shadow(store, 2)
        time.sleep(0.3)
        assert "the shadow (version 2) could not score a request (SchemaError" in dep.log
        assert "no answer was affected" in dep.log
    assert len(store.frame()) == 4  # every answer kept
    assert store.shadow()["request_id"].tolist() == answered[1] == shadow["request_id"].tolist()  # the sunny ones only


def test_a_slow_shadow_does_not_slow_the_answers_it_falls_behind_and_skips(weather_registry, weather_split, tmp_path,
                                                                          monkeypatch):
    from slow_model import SlowClassifier

    train, _ = weather_split
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # so the server can import the slow model
    name = f"{SlowClassifier.__module__}.SlowClassifier"
    weather_registry.register(SlowClassifier(delay=0.5).fit(train[FEATURES], train["rain_tomorrow"]), name="weather",
                              X=train[FEATURES], trusted=[name])
    weather_registry.promote("weather", version=2, alias="challenger")
    body = {"records": train[FEATURES].head(1).to_dict(orient="records")}
    with lk.deploy(weather_registry, "weather", store=tmp_path / "monitor.db", shadow="challenger", trusted=(name,)) as dep:
        with httpx.Client(base_url=dep.url, timeout=30) as client:  # one connection, reused: keep-alive
            client.post("/predict", json=body)
            started = time.monotonic()
            for _ in range(30):
                assert client.post("/predict", json=body).status_code == 200
            took = time.monotonic() - started
        store = lk.PredictionStore(tmp_path / "monitor.db")
        time.sleep(1.5)
        scored = len(store.shadow())
    # 31 requests with a 1-second shadow each (predict and predict_proba) would take 31 s if they waited for it.
    assert took < 8.0, f"30 answers took {took:.1f} s"
    assert 1 <= scored < 31  # it scored some, and skipped the rest rather than queue them


def test_a_shadow_needs_a_store_and_an_alias_that_exists(weather_registry, tmp_path):
    with pytest.raises(DeploymentError, match="expected store= with shadow='challenger'"):
        lk.deploy(weather_registry, "weather", shadow="challenger")
    with pytest.raises(NotFoundError):
        lk.deploy(weather_registry, "weather", shadow="challenger", store=tmp_path / "monitor.db")


def test_compare_on_shadow_traffic_agrees_with_predicting_again(challenger, weather_split, tmp_path):
    registry, _ = challenger
    _, production = weather_split
    days = production[(production["date"] >= "2015-03-01") & production["weather"].isin(["sun", "rain", "fog"])].iloc[:80]
    with lk.deploy(registry, "weather", store=tmp_path / "monitor.db", shadow="challenger") as dep:
        answers = dep.client.predict(days[FEATURES], event_times=days["date"])
        store = lk.PredictionStore(tmp_path / "monitor.db")
        _wait_for_shadow(store, len(days))
    store.add_labels(answers["request_id"].tolist(), days["rain_tomorrow"].tolist(), at="2015-12-31")
    settings = dict(store=store, now="2015-12-31", window=("2015-01-01", "2015-12-31"), n_bootstrap=500)
    live = compare(registry, "weather", shadow=True, **settings)
    again = compare(registry, "weather", **settings)
    assert live.n_rows == again.n_rows == len(days)
    for field in ("champion_value", "challenger_value", "lower", "upper"):
        assert getattr(live, field) == pytest.approx(getattr(again, field)), field
    for metric in ("roc_auc", "log_loss"):
        assert compare(registry, "weather", shadow=True, metric=metric, **settings).challenger_value == pytest.approx(
            compare(registry, "weather", metric=metric, **settings).challenger_value)
