"""The weather app's forecast card: its words, its figure, and the model behind it, over a real service."""

from __future__ import annotations

import io
import socket

import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DataError
from labkit.integration.weather_app import ForecastCard, WeatherApp, render_card

WEEK = ["Thu\n14", "Fri\n15", "Sat\n16", "Sun\n17", "Mon\n18", "Tue\n19", "Wed\n20"]


@pytest.fixture()
def week(march) -> pd.DataFrame:
    """14 to 20 March 2013: three dry days among four wet ones."""
    return march.tail(7)


def png(card: ForecastCard) -> bytes:
    buffer = io.BytesIO()
    card.figure.savefig(buffer, format="png")  # drawn by Agg: a bare Figure needs no pyplot backend
    return buffer.getvalue()


def nothing_listening() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    ("chance", "words"),
    [
        (0.0, "rain unlikely (0%)"),
        (0.29, "rain unlikely (29%)"),
        (0.3, "rain possible (30%)"),
        (0.59, "rain possible (59%)"),
        (0.6, "rain likely (60%)"),
        (0.72, "rain likely (72%)"),
        (1.0, "rain likely (100%)"),
        (None, "forecast unavailable"),
    ],
)
def test_the_text_puts_the_chance_in_words(week, chance, words):
    assert render_card(week, chance).text == f"Tomorrow in Seattle: {words}"


def test_the_figure_shows_the_week_and_tomorrows_chance(week):
    card = render_card(week, 0.72)

    temperature, rain, tomorrow = card.figure.axes
    assert card.figure.get_suptitle() == "Tomorrow in Seattle\nrain likely (72%)"
    assert [axes.get_title() for axes in card.figure.axes] == [
        "Max temperature (°C)",
        "Precipitation (mm)",
        "Chance of rain tomorrow (%)",
    ]
    np.testing.assert_allclose(temperature.lines[0].get_ydata(), [11.7, 14.4, 10.6, 8.9, 11.7, 12.8, 11.1])
    np.testing.assert_allclose([bar.get_height() for bar in rain.patches], [2.8, 0.0, 4.3, 0.0, 0.0, 11.7, 9.9])
    assert [label.get_text() for label in rain.get_xticklabels()] == WEEK
    assert [bar.get_width() for bar in tomorrow.patches] == pytest.approx([72.0])
    assert [text.get_text() for text in tomorrow.texts] == ["72%"]
    assert tomorrow.get_xlim() == (0, 100)


def test_an_unavailable_forecast_still_shows_the_week(week):
    card = render_card(week, None, city="Walla Walla")

    temperature, rain, tomorrow = card.figure.axes
    assert card.text == "Tomorrow in Walla Walla: forecast unavailable"
    assert card.figure.get_suptitle() == "Tomorrow in Walla Walla\nforecast unavailable"
    assert len(temperature.lines[0].get_ydata()) == 7 and len(rain.patches) == 7
    assert len(tomorrow.patches) == 0
    assert [text.get_text() for text in tomorrow.texts] == ["unavailable"]


def test_the_same_inputs_draw_the_same_card(week):
    first, second = render_card(week, 0.72), render_card(week, 0.72)

    assert png(first) == png(second)
    assert png(first) != png(render_card(week, 0.71))


def test_a_notebook_shows_the_card_as_its_picture(week):
    card = render_card(week, 0.72)

    assert card._repr_png_().startswith(b"\x89PNG")
    assert card._repr_png_() == png(card)


def test_bad_inputs_are_refused_with_a_fix(week):
    with pytest.raises(DataError, match=r"missing \['temp_max'\]; fix: pass the last days"):
        render_card(week.drop(columns="temp_max"), 0.5)
    with pytest.raises(DataError, match="got no rows; fix"):
        render_card(week.iloc[:0], 0.5)
    with pytest.raises(ValueError, match=r"from 0 to 1, or None; got 72; fix: pass the model's proba_True"):
        render_card(week, 72)


def test_the_app_asks_the_model_about_tomorrow_and_shows_the_last_days(weather_service, weather_model, march):
    expected = weather_model.predict_proba(march[list(lk.data.FEATURES)].tail(1))[0, 1]
    app = WeatherApp(client=lk.ModelClient(weather_service.url, timeout=5.0, retries=0))

    card = app.card(march)

    assert round(expected, 2) == 0.73
    assert card.text == "Tomorrow in Seattle: rain likely (73%)"
    rain, tomorrow = card.figure.axes[1:]
    assert [label.get_text() for label in rain.get_xticklabels()] == WEEK
    assert [bar.get_width() for bar in tomorrow.patches] == pytest.approx([100 * expected])
    assert repr(app) == "WeatherApp(city='Seattle', days=7)"


def test_each_day_the_card_follows_the_newest_row(weather_service, weather_model, march):
    app = WeatherApp(client=weather_service.client, days=3)

    cards = [app.card(march.iloc[: day + 1]) for day in range(2, 5)]

    expected = weather_model.predict_proba(march[list(lk.data.FEATURES)].iloc[2:5])[:, 1]
    assert [card.text for card in cards] == [
        f"Tomorrow in Seattle: {words}" for words in ("rain possible (39%)", "rain unlikely (23%)", "rain likely (72%)")
    ]
    np.testing.assert_allclose([card.figure.axes[2].patches[0].get_width() for card in cards], 100 * expected)
    assert [len(card.figure.axes[1].patches) for card in cards] == [3, 3, 3]


def test_with_the_service_down_the_app_says_so_and_still_draws(march):
    app = WeatherApp(client=lk.ModelClient(nothing_listening(), timeout=1.0, retries=0))

    card = app.card(march)

    assert card.text == "Tomorrow in Seattle: forecast unavailable"
    assert [label.get_text() for label in card.figure.axes[1].get_xticklabels()] == WEEK


def test_the_app_needs_at_least_today(weather_service, march):
    app = WeatherApp(client=weather_service.client)

    with pytest.raises(DataError, match="got no rows; fix: pass lk.data.load_weather"):
        app.card(march.iloc[:0])
