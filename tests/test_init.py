"""Tests for the package surface: every public name imports, and importing has no side effects."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap

import pytest

import labkit

# ``python -m labkit`` runs the command line when imported, so it is not a library module.
_SCRIPTS = {"labkit.__main__"}


def _raise(name: str) -> None:
    raise  # walk_packages calls this inside its except block: a subpackage that fails to import fails the test


def _modules() -> list[str]:
    found = pkgutil.walk_packages(labkit.__path__, prefix="labkit.", onerror=_raise)
    return ["labkit", *sorted(m.name for m in found if m.name not in _SCRIPTS)]


def test_modules_are_discovered():
    modules = _modules()

    assert {"labkit", "labkit.registry", "labkit.schema", "labkit.errors"} <= set(modules)
    assert "labkit.__main__" not in modules


@pytest.mark.parametrize("module_name", _modules())
def test_every_name_in_all_imports(module_name):
    module = importlib.import_module(module_name)

    assert hasattr(module, "__all__"), f"{module_name} has no __all__"
    assert len(set(module.__all__)) == len(module.__all__), f"{module_name}.__all__ repeats a name"
    for name in module.__all__:
        assert getattr(module, name, None) is not None, f"{module_name}.__all__ lists {name!r}, which is missing"
    namespace: dict = {}
    exec(f"from {module_name} import *", namespace)
    assert set(module.__all__) <= set(namespace)


def test_top_level_names():
    assert {"Registry", "ModelVersion", "Schema", "SimulatedClock", "LabkitError", "deploy", "Deployment"} <= set(
        labkit.__all__
    )
    assert labkit.__version__


_IMPORT_PROBE = textwrap.dedent(
    """
    import glob, json, threading
    def children():
        found = []
        for path in glob.glob("/proc/self/task/*/children"):
            with open(path) as file:
                found += file.read().split()
        return found
    threads, processes = threading.active_count(), children()
    import labkit
    print(json.dumps({
        "threads": [threads, threading.active_count()],
        "thread_names": [t.name for t in threading.enumerate()],
        "children": [processes, children()],
    }))
    """
)


def test_import_starts_nothing_and_writes_nothing(tmp_path):
    cwd, home, temp = (tmp_path / name for name in ("cwd", "home", "tmp"))
    for folder in (cwd, home, temp):
        folder.mkdir()
    environment = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(temp),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    environment.pop("MPLCONFIGDIR", None)

    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    before, after = report["threads"]
    assert after == before, f"import labkit started threads: {report['thread_names']}"
    assert report["children"][1] == report["children"][0], "import labkit started a process"
    for folder in (cwd, home, temp):
        assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [], f"import wrote into {folder}"


_LAZY_PROBE = textwrap.dedent(
    """
    import json, sys
    import labkit
    from labkit.monitoring import drift_report
    heavy = ["fastapi", "uvicorn", "ipywidgets", "skops", "sklearn", "river", "httpx"]
    print(json.dumps([name for name in heavy if name in sys.modules]))
    """
)


def test_a_drift_report_does_not_import_the_service_widgets_or_registry():
    result = subprocess.run(
        [sys.executable, "-c", _LAZY_PROBE], capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_dir_lists_public_names_before_their_modules_load():
    result = subprocess.run(
        [sys.executable, "-c", "import json, labkit, labkit.monitoring as m; print(json.dumps([dir(labkit), dir(m)]))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    top, monitoring = json.loads(result.stdout)
    assert set(labkit.__all__) <= set(top)
    assert set(labkit.monitoring.__all__) <= set(monitoring)


def test_functions_named_like_their_modules_stay_functions():
    # In a fresh interpreter, so that the modules are imported here for the first time.
    probe = (
        "import labkit, labkit.workspace, labkit.monitoring.simulate; "
        "print(callable(labkit.workspace), callable(labkit.monitoring.simulate), "
        "labkit.simulate is labkit.monitoring.simulate)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True"]


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        labkit.nothing_here  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        labkit.monitoring.nothing_here  # noqa: B018
