"""One run: papermill's engine in a fresh folder and environment, errors not stopping it, nothing left behind."""

from __future__ import annotations

import json
import os
import time

import psutil
from nbformat.v4 import new_code_cell, new_notebook

from labkit.course.engine import Limits, execute


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_run_is_isolated_parameterised_and_leaves_nothing_behind(monkeypatch):
    monkeypatch.setenv("LABKIT_TEST_SECRET", "the instructor's token")
    parameters = new_code_cell("n = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook = new_notebook(cells=[
        parameters,
        new_code_cell("1 / 0"),
        new_code_cell(
            "import json, os, subprocess\n"
            "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
            "print(json.dumps({'n': n, 'cwd': os.getcwd(), 'home': os.environ['HOME'], 'child': child.pid,\n"
            "                  'secret': os.environ.get('LABKIT_TEST_SECRET'), 'files': sorted(os.listdir('.'))}))"
        ),
    ])

    execution = execute(notebook, parameters={"n": 3}, limits=Limits(timeout_s=120))

    assert (execution.status, execution.error, execution.cell) == ("completed", "", None)
    cells = execution.notebook.cells
    assert cells[1].metadata["tags"] == ["injected-parameters"] and "n = 3" in cells[1].source
    assert cells[2].outputs[0]["ename"] == "ZeroDivisionError"  # the error did not stop the run
    seen = json.loads(cells[3].outputs[0]["text"])
    assert seen["n"] == 3
    assert seen["home"] == seen["cwd"] and os.path.basename(seen["cwd"]).startswith("labkit-run-")
    assert seen["secret"] is None
    assert not os.path.exists(seen["cwd"])
    deadline = time.monotonic() + 10
    while not _gone(seen["child"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(seen["child"]), "a process the notebook started outlived the run"
    assert notebook.cells[1].source == "1 / 0"  # the caller's notebook is not changed
