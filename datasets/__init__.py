"""The data labkit ships (see README.md beside this file), installed as ``labkit.datasets``."""

__all__: list[str] = []
