"""labkit installed from a wheel (not editable), used from another folder: the data and the notebooks work.

The wheel goes into a new virtual environment that sees the test environment's
dependencies but not its editable labkit, so every import of labkit comes from the wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """labkit built as a wheel, as `pip install .` builds it."""
    where = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(where), str(ROOT)], check=True
    )
    return next(where.glob("labkit-*.whl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel) -> Path:
    """The python of a new venv holding only labkit's wheel (dependencies seen from this one)."""
    where = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where / "venv")], check=True)
    python = where / "venv" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )
    # A plain path line: the dependencies become importable, but the .pth files over
    # there (the editable labkit's finder among them) are not run.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
    )
    return python


def test_the_wheel_carries_the_data_and_every_subpackage(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"labkit/datasets/seattle-weather.csv", "labkit/datasets/README.md"} <= names
    source = {p.relative_to(ROOT).as_posix() for p in (ROOT / "labkit").rglob("*.py") if "__pycache__" not in p.parts}
    assert source <= names, f"modules missing from the wheel (list their package in pyproject.toml): {sorted(source - names)}"


def test_data_loads_from_another_folder(installed, tmp_path):
    probe = "import labkit as lk; print(lk.__file__); print(len(lk.data.load_weather()))"
    out = subprocess.run([str(installed), "-c", probe], cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    where, rows = out.split()
    assert Path(where).is_relative_to(installed.parents[1]), f"labkit came from {where}, not the wheel"
    assert int(rows) == 1461


# The first notebook (set-up and data) and the capstone (every pillar, the synthetic ward):
# together they import what the wheel must carry. Every notebook also runs under nbval from
# the source tree, so running all six again from the wheel would add minutes and no coverage.
@pytest.mark.parametrize("notebook", ["00_welcome.ipynb", "05_capstone.ipynb"])
def test_notebooks_run_from_another_folder(installed, tmp_path, notebook):
    executed = tmp_path / notebook
    result = subprocess.run(
        [str(installed), "-m", "papermill", str(ROOT / "notebooks" / notebook), str(executed),
         "--cwd", str(tmp_path), "--no-progress-bar", "--log-level", "WARNING"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
