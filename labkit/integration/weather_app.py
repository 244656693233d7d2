"""A weather app that uses the model: tomorrow's forecast, as a card on a phone screen.

Each day, once the weather is in, the app asks the deployed rain model about tomorrow
and shows a card: one line of text ("Tomorrow in Seattle: rain likely (72%)") over a
small figure of the last days and tomorrow's chance of rain. Drawing the card is a plain
function of its inputs, :func:`render_card`, so the same inputs always give the same
card; :class:`WeatherApp` only adds the call to the model. If the model cannot answer,
the app still shows the recent days, and says the forecast is unavailable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from labkit.deployment.client import ModelClient
from labkit.errors import DataError, ServiceError
from labkit.integration.rain import chance_of_rain

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ForecastCard", "WeatherApp", "render_card"]

# Fixed English names: strftime("%a") would follow the machine's locale, and the same
# inputs must draw the same card everywhere.
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_COLUMNS = ["date", "temp_max", "precipitation"]


@dataclass(frozen=True)
class ForecastCard:
    """What the app shows: a line of text and a figure. A notebook displays the figure.

    Parameters
    ----------
    text
        The forecast in words, such as ``"Tomorrow in Seattle: rain likely (72%)"``.
    figure
        The recent days and tomorrow's chance of rain, drawn for a phone screen.
    """

    text: str
    figure: Figure

    def _repr_png_(self) -> bytes:
        # Jupyter calls this to show the card; the figure belongs to no pyplot window,
        # so without it a notebook would show only "<Figure ...>".
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png")
        return buffer.getvalue()


def render_card(recent: pd.DataFrame, chance: float | None, *, city: str = "Seattle") -> ForecastCard:
    """Draw the forecast card from the recent days and tomorrow's chance of rain.

    The same inputs always give the same card: no clock, no network, no pyplot (the
    figure is a plain :class:`matplotlib.figure.Figure`, so there is nothing to close).

    Parameters
    ----------
    recent
        The days to show, oldest first, with ``date``, ``temp_max`` (degrees C) and
        ``precipitation`` (mm): the tail of :func:`labkit.data.load_weather`.
    chance
        Tomorrow's chance of rain, from 0 to 1; ``None`` when the forecast is unavailable.
        Below 0.3 reads "rain unlikely", below 0.6 "rain possible", from 0.6 "rain likely".
    city
        The place named on the card.

    Returns
    -------
    ForecastCard

    Raises
    ------
    DataError
        ``recent`` has no rows, or lacks one of the three columns.
    ValueError
        ``chance`` is not a number from 0 to 1.

    Examples
    --------
    >>> import labkit as lk
    >>> recent = lk.data.load_weather().head(7)
    >>> card = render_card(recent, 0.72)
    >>> card.text
    'Tomorrow in Seattle: rain likely (72%)'
    >>> [axes.get_title() for axes in card.figure.axes]
    ['Max temperature (°C)', 'Precipitation (mm)', 'Chance of rain tomorrow (%)']
    >>> [float(bar.get_height()) for bar in card.figure.axes[1].patches]  # precipitation, mm
    [0.0, 10.9, 0.8, 20.3, 1.3, 2.5, 0.0]
    """
    # Imported here, not at the top: importing matplotlib builds its font cache on disk,
    # and importing labkit must write nothing.
    from matplotlib.figure import Figure

    missing = [column for column in _COLUMNS if column not in recent.columns]
    if missing or recent.empty:
        got = f"columns {list(recent.columns)!r}, missing {missing!r}" if missing else "no rows"
        raise DataError(
            f"expected recent days with columns {_COLUMNS!r}; got {got}; "
            "fix: pass the last days of lk.data.load_weather(), e.g. weather.tail(7)"
        )
    place, forecast = f"Tomorrow in {city}", _in_words(chance)
    days = range(len(recent))
    names = [f"{_DAY_NAMES[day.weekday()]}\n{day.day}" for day in recent["date"]]

    figure = Figure(figsize=(3.2, 4.8), dpi=100, layout="constrained")
    # Two lines, as a phone card would: the place as a header, the forecast large below.
    figure.suptitle(f"{place}\n{forecast}", fontsize=11, fontweight="bold")
    temperature, rain, tomorrow = figure.subplots(3, 1, height_ratios=[3, 3, 1.2])
    temperature.plot(days, recent["temp_max"].to_numpy(), marker="o", color="tab:red")
    temperature.set_title("Max temperature (°C)", fontsize=9)
    temperature.set_xticks(days, [""] * len(recent))
    rain.bar(days, recent["precipitation"].to_numpy(), color="tab:blue")
    rain.set_title("Precipitation (mm)", fontsize=9)
    rain.set_xticks(days, names)
    tomorrow.set_title("Chance of rain tomorrow (%)", fontsize=9)
    tomorrow.set_xlim(0, 100)
    tomorrow.set_yticks([])
    for axes in (temperature, rain, tomorrow):
        axes.tick_params(labelsize=8)
    if chance is None:
        tomorrow.text(50, 0, "unavailable", ha="center", va="center", color="gray")
        tomorrow.set_ylim(-0.5, 0.5)
    else:
        tomorrow.barh([0], [100 * chance], color="tab:blue")
        tomorrow.bar_label(tomorrow.containers[0], fmt="%.0f%%", padding=3, fontsize=8)
    return ForecastCard(text=f"{place}: {forecast}", figure=figure)


class WeatherApp:
    """Ask the deployed rain model about tomorrow, and show the answer as a card.

    Parameters
    ----------
    client
        A client of the rain model's service; a short ``timeout`` keeps the app
        responsive when the service is down.
    city
        The place named on the card.
    days
        How many recent days the card shows.

    Examples
    --------
    >>> import tempfile
    >>> import labkit as lk
    >>> from sklearn.dummy import DummyClassifier
    >>> weather = lk.data.load_weather().head(10)
    >>> X, y = weather[list(lk.data.FEATURES)], [True] * 7 + [False] * 3
    >>> reg = lk.Registry(tempfile.mkdtemp())
    >>> _ = reg.register(DummyClassifier().fit(X, y), name="rain", X=X)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> with lk.deploy(reg, "rain") as dep:
    ...     app = WeatherApp(client=lk.ModelClient(dep.url, timeout=2, retries=0))
    ...     app.card(weather).text
    'Tomorrow in Seattle: rain likely (70%)'
    >>> app.card(weather).text  # the service has stopped
    'Tomorrow in Seattle: forecast unavailable'
    """

    def __init__(self, *, client: ModelClient, city: str = "Seattle", days: int = 7) -> None:
        self.client = client
        self.city = city
        self.days = days

    def __repr__(self) -> str:
        return f"WeatherApp(city={self.city!r}, days={self.days!r})"

    def card(self, history: pd.DataFrame) -> ForecastCard:
        """Tomorrow's card, from the weather up to today (``history``'s last row).

        Parameters
        ----------
        history
            Daily weather, oldest first, ending today: rows of
            :func:`labkit.data.load_weather`.

        Returns
        -------
        ForecastCard
            With the model's chance of rain, or "forecast unavailable" if the model did
            not answer.

        Raises
        ------
        DataError
            ``history`` is empty, or lacks a column the model or the card needs.
        """
        if history.empty:
            raise DataError(
                "expected the weather up to today in history; got no rows; "
                "fix: pass lk.data.load_weather() up to today, e.g. weather[weather.date <= today]"
            )
        try:
            chance = chance_of_rain(self.client, history.iloc[-1])
        except ServiceError:
            # An app shows what it can: the recent days still help, and the text says
            # plainly that the forecast is missing rather than guessing one.
            chance = None
        return render_card(history.tail(self.days), chance, city=self.city)


def _in_words(chance: float | None) -> str:
    if chance is None:
        return "forecast unavailable"
    if isinstance(chance, bool) or not isinstance(chance, (int, float)) or not 0 <= chance <= 1:
        raise ValueError(
            f"expected chance to be a probability from 0 to 1, or None; got {chance!r}; "
            "fix: pass the model's proba_True, e.g. 0.72 rather than 72"
        )
    words = "rain likely" if chance >= 0.6 else "rain possible" if chance >= 0.3 else "rain unlikely"
    return f"{words} ({chance:.0%})"
