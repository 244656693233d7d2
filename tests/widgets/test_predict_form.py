"""The prediction form, driven without a browser against real deployments: set .value, call .click()."""

from __future__ import annotations

import json
from collections.abc import Iterator

import ipywidgets as widgets
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

import labkit as lk
from labkit.card import card_html
from labkit.data import FEATURES
from labkit.form import likelihood
from labkit.widgets import PredictForm

TOKEN = "s3cret"
NUMERIC = ["precipitation", "temp_max", "temp_min", "wind"]
CATEGORIES = ["drizzle", "fog", "rain", "snow", "sun"]
RAINY = {"precipitation": 10.0, "temp_max": 10.0, "temp_min": 5.0, "wind": 5.0, "weather": "rain"}
SUNNY = {"precipitation": 0.0, "temp_max": 28.0, "temp_min": 14.0, "wind": 2.0, "weather": "sun"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, weather_split, weather_model: Pipeline) -> lk.Registry:
    """The shared model as the champion, registered with its 2013 accuracy, as the notebook does."""
    train, later = weather_split
    year_2013 = later[later["date"].dt.year == 2013]
    accuracy = accuracy_score(year_2013["rain_tomorrow"], weather_model.predict(year_2013[list(FEATURES)]))
    registry = lk.Registry(tmp_path_factory.mktemp("registry"))
    registry.register(
        weather_model, name="weather", X=train[list(FEATURES)], y=train["rain_tomorrow"],
        metrics={"accuracy_2013": accuracy},
    )
    registry.promote("weather", version=1, alias="champion")
    return registry


@pytest.fixture(scope="module")
def deployment(registry: lk.Registry) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather") as running:
        yield running


@pytest.fixture(scope="module")
def token_deployment(registry: lk.Registry) -> Iterator[lk.Deployment]:
    with lk.deploy(registry, "weather", token=TOKEN) as running:
        yield running


def fill(form: PredictForm, record: dict) -> None:
    for name, value in record.items():
        form.controls[name].value = value


def expected_answer(model: Pipeline, record: dict) -> str:
    """The answer in words, from the model in this process: what the form must show."""
    chance = model.predict_proba(pd.DataFrame([record]))[0, 1]
    percent = "under 1%" if chance < 0.005 else f"{round(chance * 100)}%"
    return f"rain tomorrow: {likelihood(chance)}, {percent}"


def test_the_form_has_a_control_per_input_built_from_the_service(deployment: lk.Deployment, weather_split):
    train, _ = weather_split

    form = PredictForm(deployment)

    assert list(form.controls) == list(FEATURES)
    assert all(type(form.controls[name]) is widgets.FloatText for name in NUMERIC)
    assert type(form.controls["weather"]) is widgets.Dropdown
    assert list(form.controls["weather"].options) == CATEGORIES
    assert {name: form.controls[name].description for name in NUMERIC} == {
        "precipitation": "precipitation (in training: 0 to 54.1)",
        "temp_max": "temp_max (in training: -1.1 to 34.4)",
        "temp_min": "temp_min (in training: -3.3 to 18.3)",
        "wind": "wind (in training: 1 to 9.5)",
    }


def test_the_form_starts_at_what_was_typical_in_training(deployment: lk.Deployment, weather_split):
    train, _ = weather_split

    form = PredictForm(deployment)

    assert {name: form.controls[name].value for name in NUMERIC} == {name: train[name].median() for name in NUMERIC}
    assert form.controls["weather"].value == train["weather"].mode()[0] == "rain"
    assert form.answer.value == form.warnings.value == form.error.value == ""


def test_predict_shows_the_answer_in_words(deployment: lk.Deployment, weather_model: Pipeline):
    form = PredictForm(deployment)

    fill(form, RAINY)
    form.predict_button.click()
    rainy = form.answer.value
    fill(form, SUNNY)
    form.predict_button.click()

    assert rainy == expected_answer(weather_model, RAINY) == "rain tomorrow: likely, 81%"
    assert form.answer.value == expected_answer(weather_model, SUNNY) == "rain tomorrow: very unlikely, 8%"
    assert form.warnings.value == form.error.value == ""


def test_a_value_outside_training_warns_and_still_predicts(deployment: lk.Deployment, weather_model: Pipeline):
    form = PredictForm(deployment)
    record = {**SUNNY, "temp_max": 45.0}

    fill(form, record)
    form.predict_button.click()

    assert "the model has never seen a temp_max of 45 (in training: -1.1 to 34.4); trust this answer less" in (
        form.warnings.value
    )
    assert form.answer.value == expected_answer(weather_model, record) == "rain tomorrow: very unlikely, under 1%"
    assert form.error.value == ""
    fill(form, SUNNY)
    form.predict_button.click()
    assert form.warnings.value == ""


def test_a_refusal_of_the_service_is_shown_in_the_form(deployment: lk.Deployment):
    form = PredictForm(deployment)

    fill(form, {**RAINY, "precipitation": float("nan")})
    form.predict_button.click()

    assert "the service answered 422" in form.error.value
    assert "column &#x27;precipitation&#x27;: expected a value; got null" in form.error.value
    assert form.answer.value == ""


def test_an_unreachable_service_is_shown_in_the_form(registry: lk.Registry):
    with lk.deploy(registry, "weather") as running:
        form = PredictForm(running)
    form.client.retries = 0  # one try is enough to learn that nothing answers

    form.predict_button.click()

    assert f"cannot reach the model service at {running.url}" in form.error.value
    assert "fix: check that the service is running" in form.error.value
    assert form.answer.value == ""


@pytest.mark.parametrize("make_source", [lambda url: url, lk.ModelClient], ids=["url", "client"])
def test_a_form_from_a_url_or_a_client(deployment: lk.Deployment, weather_model: Pipeline, make_source):
    form = PredictForm(make_source(deployment.url))

    fill(form, RAINY)
    form.predict_button.click()

    assert form.client.url == deployment.url
    assert form.answer.value == expected_answer(weather_model, RAINY)
    assert form.title.value == "<b>weather</b>, version 1"
    assert repr(form) == "PredictForm(name='weather', version=1)"


def test_a_form_from_a_url_sends_the_token(token_deployment: lk.Deployment, weather_model: Pipeline):
    form = PredictForm(token_deployment.url, token=TOKEN)

    fill(form, RAINY)
    form.predict_button.click()

    assert form.answer.value == expected_answer(weather_model, RAINY)


def test_a_wrong_token_is_refused_when_the_form_is_built(token_deployment: lk.Deployment):
    with pytest.raises(lk.errors.ServiceError, match=r"the service answered 401: expected the header"):
        PredictForm(token_deployment.url, token="wrong")


def test_a_token_refused_later_is_shown_in_the_form(token_deployment: lk.Deployment):
    form = PredictForm(token_deployment.url, token=TOKEN)
    form.client.close()
    form.client.token = "rotated"  # as if the service had been restarted with a new token

    form.predict_button.click()

    assert "the service answered 401: expected the header" in form.error.value
    assert form.answer.value == ""


def test_the_form_shows_the_services_card_for_users(deployment: lk.Deployment, registry: lk.Registry):
    accuracy = registry.get("weather").metrics["accuracy_2013"]

    form = PredictForm(deployment)

    assert form.card.value == card_html(form.info["user_card"])
    assert "It tells you how likely <b>rain tomorrow</b> is" in form.card.value
    assert f"When checked on 2013, it was right about {round(accuracy * 100)} times in 100." in form.card.value


def test_a_version_without_a_profile_gets_a_form_that_cannot_warn(
    tmp_path, weather_split, weather_model: Pipeline
):
    train, _ = weather_split
    registry = lk.Registry(tmp_path / "registry")
    old = registry.register(weather_model, name="weather", X=train[list(FEATURES)], y=train["rain_tomorrow"])
    meta = json.loads((old.directory / "meta.json").read_text(encoding="utf-8"))
    del meta["profile"]
    (old.directory / "meta.json").write_text(json.dumps(meta), encoding="utf-8")

    with lk.deploy(registry, "weather", version=1) as running:
        form = PredictForm(running)
        assert [form.controls[name].description for name in NUMERIC] == NUMERIC
        assert [form.controls[name].value for name in FEATURES] == [0.0, 0.0, 0.0, 0.0, "drizzle"]
        fill(form, {**SUNNY, "temp_max": 45.0})
        form.predict_button.click()

    assert form.answer.value == expected_answer(weather_model, {**SUNNY, "temp_max": 45.0})
    assert form.warnings.value == ""
    assert "This version has no training profile" in form.title.value
    assert "The range seen in training was not recorded for this version." in form.card.value


@pytest.mark.parametrize(
    ("source", "token", "message"),
    [
        pytest.param(42, None, r"expected a Deployment, a ModelClient or a service URL; got int; fix: pass", id="int"),
        pytest.param(lk.ModelClient("http://127.0.0.1:1"), "x", r"got token= with a ModelClient, which carries its own",
                     id="token-with-client"),
    ],
)
def test_a_form_needs_a_service(source, token, message):
    with pytest.raises(TypeError, match=message):
        PredictForm(source, token=token)
