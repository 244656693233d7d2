"""Parameter grids from YAML or JSON."""

from __future__ import annotations

import pytest

from labkit.course.grid import expand, read_grid
from labkit.errors import CourseError


def test_a_mapping_is_every_combination_and_a_list_runs_each(tmp_path):
    (tmp_path / "grid.yaml").write_text("n_days: [30, 120]\nscenario: [sudden, gradual]\nseed: 0\n")
    (tmp_path / "grid.json").write_text('[{"n_days": 30}, {"n_days": [60, 90], "seed": [1]}]')

    assert read_grid(tmp_path / "grid.yaml") == [
        {"n_days": 30, "scenario": "sudden", "seed": 0},
        {"n_days": 30, "scenario": "gradual", "seed": 0},
        {"n_days": 120, "scenario": "sudden", "seed": 0},
        {"n_days": 120, "scenario": "gradual", "seed": 0},
    ]
    assert read_grid(tmp_path / "grid.json") == [{"n_days": 30}, {"n_days": 60, "seed": 1}, {"n_days": 90, "seed": 1}]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("grid.toml", "x = 1", r"expected a parameter file ending in .yaml, .yml or .json; got 'grid.toml'"),
        ("grid.json", "{", r"expected valid JSON in"),
        ("grid.yaml", "a: [1,", r"expected valid YAML in"),
        ("grid.yaml", "- 1\n- 2\n", r"expected a parameter grid: a mapping of names to values"),
        ("grid.json", '{"not a name": [1]}', r"expected parameter names that are Python identifiers; got \['not a name'\]"),
    ],
)
def test_bad_grids_are_refused(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(CourseError, match=message):
        read_grid(tmp_path / name)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CourseError, match=r"expected a readable parameter file; got '.*missing.yaml'"):
        read_grid(tmp_path / "missing.yaml")


def test_an_empty_list_is_refused():
    with pytest.raises(CourseError, match="expected a parameter grid"):
        expand([])
