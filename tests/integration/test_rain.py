"""chance_of_rain asks a real service for the probability of rain tomorrow, and nothing else."""

from __future__ import annotations

import pytest
from sklearn.linear_model import LinearRegression

import labkit as lk
from labkit.errors import DataError, ServiceError
from labkit.integration.rain import chance_of_rain


def test_it_is_the_models_probability_of_rain(weather_service, weather_model, march):
    expected = weather_model.predict_proba(march[list(lk.data.FEATURES)])[:, 1]

    # Rows of the running example carry the date and the labels too; only features go.
    chances = [chance_of_rain(weather_service.client, today) for _, today in march.head(5).iterrows()]

    assert chances == pytest.approx(expected[:5])
    assert all(isinstance(chance, float) for chance in chances)


def test_a_row_without_the_features_is_refused_before_any_call(weather_service, march):
    today = march.iloc[0].drop(["wind", "weather"])

    with pytest.raises(DataError, match=r"today's weather with .* missing \['wind', 'weather'\]; fix: pass one row"):
        chance_of_rain(weather_service.client, today)


def test_a_model_without_a_probability_of_rain_is_named(tmp_path, weather_split):
    train, _ = weather_split
    X = train[["precipitation", "temp_max", "temp_min", "wind"]]
    registry = lk.Registry(tmp_path / "registry")
    registry.register(LinearRegression().fit(X, train["temp_max_tomorrow"]), name="temperature", X=X)
    registry.promote("temperature", version=1, alias="champion")

    with lk.deploy(registry, "temperature") as dep:
        with pytest.raises(ServiceError, match=r"probability of rain .*; fix: deploy a classifier") as caught:
            chance_of_rain(dep.client, train.iloc[0])
    assert "['prediction', 'model_version', 'request_id']" in str(caught.value)
    assert caught.value.status is None
