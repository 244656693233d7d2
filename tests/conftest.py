"""Shared fixtures: the running example's model, trained once, a registry holding it, and a browser.

The browser is Debian's chromium driven by Playwright (see shared/BROWSER-TESTS.md),
launched once per test module that uses it; where chromium is missing, the tests that
need it skip and say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import labkit as lk


@pytest.fixture(scope="session")
def weather_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The running example: 2012 for training, the rest as production traffic."""
    frame = lk.data.running_example(lk.data.load_weather())
    return lk.data.split_by_time(frame, at="2013-01-01")


@pytest.fixture(scope="session")
def weather_model(weather_split: tuple[pd.DataFrame, pd.DataFrame]) -> Pipeline:
    """The notebook's model: scaled numbers, one-hot weather, logistic regression."""
    train, _ = weather_split
    numeric = ["precipitation", "temp_max", "temp_min", "wind"]
    model = make_pipeline(
        make_column_transformer(
            (StandardScaler(), numeric), (OneHotEncoder(handle_unknown="ignore"), ["weather"])
        ),
        LogisticRegression(),
    )
    return model.fit(train[list(lk.data.FEATURES)], train["rain_tomorrow"])


@pytest.fixture()
def weather_registry(tmp_path: Path, weather_split, weather_model) -> lk.Registry:
    """A fresh registry with the model registered as version 1 and promoted to champion."""
    train, _ = weather_split
    registry = lk.Registry(tmp_path / "registry")
    registry.register(weather_model, name="weather", X=train[list(lk.data.FEATURES)], y=train["rain_tomorrow"])
    registry.promote("weather", version=1, alias="champion")
    return registry


@pytest.fixture(scope="session")
def champion_registry(
    tmp_path_factory: pytest.TempPathFactory, weather_split, weather_model: Pipeline
) -> lk.Registry:
    """The model as version 1, the champion, in a registry shared by the session: never change it."""
    train, _ = weather_split
    registry = lk.Registry(tmp_path_factory.mktemp("champion-registry"))
    registry.register(weather_model, name="weather", X=train[list(lk.data.FEATURES)], y=train["rain_tomorrow"])
    registry.promote("weather", version=1, alias="champion")
    return registry


@pytest.fixture()
def weather_store(tmp_path: Path, weather_split, weather_model) -> lk.PredictionStore:
    """2013 served by the weather model: one prediction a day, each label back the next day."""
    _, traffic = weather_split
    year = traffic[traffic["date"] < "2014-01-01"].reset_index(drop=True)
    X = year[list(lk.data.FEATURES)]
    probabilities = weather_model.predict_proba(X)
    classes = [str(c) for c in weather_model.classes_]
    with lk.PredictionStore(tmp_path / "weather.db") as opened:
        opened.log([
            {"request_id": f"d{i}", "event_time": pd.Timestamp(row["date"], tz="UTC"), "model_name": "weather",
             "model_version": 1, "inputs": {column: row[column] for column in lk.data.FEATURES},
             "prediction": bool(p[1] > 0.5), "probabilities": dict(zip(classes, p.tolist())), "latency_ms": 1.0}
            for i, (row, p) in enumerate(zip(year.to_dict("records"), probabilities))
        ])
        for i, row in year.iterrows():
            opened.add_labels([f"d{i}"], [bool(row["rain_tomorrow"])], at=pd.Timestamp(row["date"], tz="UTC") + pd.Timedelta(days=1))
        yield opened


CHROMIUM = Path("/usr/bin/chromium")
# Screenshots and other files a person may want to look at after a run; gitignored.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


# Module scope, not session: while Playwright's sync API is running, its event loop
# counts as the thread's running loop, so asyncio.run() (and jupyter_client, which
# nbval uses) would fail in every later test. One browser per test module is the most
# that can be shared without breaking the tests that come after.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright, one for each test module that asks for it."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"expected Debian's chromium at {CHROMIUM}; it is missing; "
            "fix: apt-get install -y chromium (.ci/run does; never `playwright install`)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox because tests run as root; the other two keep headless chromium
        # off the GPU and off a /dev/shm that containers make small.
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in its own context (no cookies or storage shared with other tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for screenshots a test leaves for people to look at (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
