"""Fixtures for the integration tests: one real service of the rain model, shared by the tests that only call it."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import labkit as lk


@pytest.fixture(scope="session")
def weather_service(tmp_path_factory, weather_split, weather_model) -> Iterator[lk.Deployment]:
    """The rain model served by a real uvicorn process, for tests that never stop it."""
    train, _ = weather_split
    registry = lk.Registry(tmp_path_factory.mktemp("service") / "registry")
    registry.register(weather_model, name="weather", X=train[list(lk.data.FEATURES)], y=train["rain_tomorrow"])
    registry.promote("weather", version=1, alias="champion")
    with lk.deploy(registry, "weather") as deployment:
        yield deployment


@pytest.fixture(scope="session")
def march(weather_split) -> pd.DataFrame:
    """Twenty days of production traffic, 1 to 20 March 2013: dry spells, showers and a wet run."""
    _, production = weather_split
    days = production[(production["date"] >= "2013-03-01") & (production["date"] <= "2013-03-20")]
    return days.reset_index(drop=True)
