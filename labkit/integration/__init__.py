"""Integration: other systems and people using a deployed model."""

from labkit.integration.breaker import CircuitBreaker, Transition
from labkit.integration.webapp import serve_app

__all__ = ["CircuitBreaker", "Transition", "serve_app"]
