"""Parameter grids for batch runs, read from YAML or JSON, expanded as scikit-learn's ParameterGrid.

A mapping runs every combination of its values; a list of mappings runs each mapping's
combinations in turn. A value that is not a list is one value.

Examples
--------
>>> expand({"n_days": [30, 120], "seed": 0})
[{'n_days': 30, 'seed': 0}, {'n_days': 120, 'seed': 0}]
>>> expand([{"scenario": ["sudden"]}, {"scenario": ["gradual"], "seed": [1, 2]}])
[{'scenario': 'sudden'}, {'scenario': 'gradual', 'seed': 1}, {'scenario': 'gradual', 'seed': 2}]
"""

from __future__ import annotations

import json
from pathlib import Path

from labkit.errors import CourseError

__all__ = ["expand", "read_grid"]


def expand(grid: dict | list) -> list[dict]:
    """Every parameter set of a grid, in a stable order (keys sorted within each mapping)."""
    from sklearn.model_selection import ParameterGrid

    mappings = grid if isinstance(grid, list) else [grid]
    if not mappings or not all(isinstance(mapping, dict) for mapping in mappings):
        raise CourseError(
            f"expected a parameter grid: a mapping of names to values, or a list of such mappings; got {grid!r}; "
            "fix: write e.g. {\"n_days\": [30, 120]}"
        )
    for mapping in mappings:
        bad = [name for name in mapping if not isinstance(name, str) or not name.isidentifier()]
        if bad:
            raise CourseError(
                f"expected parameter names that are Python identifiers; got {bad!r}; "
                "fix: use the names of the notebook's parameters cell"
            )
    lists = [{name: value if isinstance(value, list) else [value] for name, value in m.items()} for m in mappings]
    return [dict(params) for params in ParameterGrid(lists)]


def read_grid(path: str | Path) -> list[dict]:
    """Read a grid from a ``.yaml``/``.yml`` or ``.json`` file and expand it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CourseError(f"expected a readable parameter file; got {str(path)!r}: {error.strerror}", path=str(path))
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise CourseError(
            f"expected a parameter file ending in .yaml, .yml or .json; got {path.name!r}; fix: rename it",
            path=str(path),
        )
    import yaml

    try:
        grid = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        kind = "JSON" if suffix == ".json" else "YAML"
        raise CourseError(f"expected valid {kind} in {str(path)!r}; got: {error}", path=str(path)) from None
    return expand(grid)
