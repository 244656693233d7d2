"""Names a package makes public now but imports on first use (PEP 562).

A package's ``__init__`` lists where each public name lives and hands the list to
:func:`attach`, which returns the module-level ``__getattr__`` and ``__dir__`` that
Python calls for a name the package does not hold yet. ``import labkit`` then costs
milliseconds, and a drift report does not load FastAPI, ipywidgets or skops, nor keep
them in memory; the first ``lk.deploy`` imports what deploying needs.

Examples
--------
>>> __getattr__, __dir__ = attach("labkit", {"SimulatedClock": "labkit.clock"}, ["SimulatedClock"])
>>> __getattr__("SimulatedClock").__name__
'SimulatedClock'
>>> __getattr__("clock").__name__  # any module of the package is found as well
'labkit.clock'
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from importlib.util import find_spec

__all__ = ["attach"]


def attach(
    package: str, sources: Mapping[str, str], public: Iterable[str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names load on first use.

    Parameters
    ----------
    package
        The package's name (its ``__name__``).
    sources
        Each name and the module it comes from: the name itself when it is a module, an
        attribute of the module otherwise.
    public
        The package's ``__all__``, which ``dir()`` (and so tab completion) lists even
        before the names are imported.
    """
    names = sorted(public)

    def __getattr__(name: str) -> object:
        if name in sources:
            module = import_module(sources[name])
            value = module if module.__name__ == f"{package}.{name}" else getattr(module, name)
        elif find_spec(f"{package}.{name}") is not None:
            # Another module of the package (``lk.form``), as an attribute once it is imported.
            value = import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # Kept in the package, so the next use finds it without calling __getattr__.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
