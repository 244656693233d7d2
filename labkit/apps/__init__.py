"""Notebooks served to end users as web pages with Voilà (package data, found with importlib.resources)."""

__all__: list[str] = []
