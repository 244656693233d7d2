"""Integration: other systems and people using a deployed model."""

from labkit.integration.webapp import serve_app

__all__ = ["serve_app"]
