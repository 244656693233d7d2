"""Integration: other systems and people using a deployed model."""

from labkit.integration.breaker import CircuitBreaker, Transition
from labkit.integration.irrigation import Decision, IrrigationController, water_unless_it_rained
from labkit.integration.rain import chance_of_rain
from labkit.integration.scoring import ScoringReport, score_file
from labkit.integration.weather_app import ForecastCard, WeatherApp, render_card
from labkit.integration.webapp import serve_app

__all__ = [
    "CircuitBreaker",
    "Decision",
    "ForecastCard",
    "IrrigationController",
    "ScoringReport",
    "Transition",
    "WeatherApp",
    "chance_of_rain",
    "render_card",
    "score_file",
    "serve_app",
    "water_unless_it_rained",
]
