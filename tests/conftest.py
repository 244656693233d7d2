"""Shared fixtures: the running example's model, trained once, and a registry holding it."""

from __future__ import annotations

from pathlib import Path

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
