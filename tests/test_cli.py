"""The labkit command: serve in the foreground, open JupyterLab, run the doctor."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from labkit.cli import main


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, seconds: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else "exited"
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def _interrupt(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGINT if sys.platform != "win32" else signal.CTRL_C_EVENT)
    try:
        return process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_runs_in_the_foreground_until_interrupted(weather_registry):
    port = _free_port()
    env = {**os.environ, "LABKIT_TOKEN": "from-env"}
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "serve", "--registry", str(weather_registry.root),
         "--model", "weather", "--version", "1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/health", process).json()["model_version"] == 1
        assert httpx.get(f"http://127.0.0.1:{port}/model").status_code == 401
        info = httpx.get(f"http://127.0.0.1:{port}/model", headers={"Authorization": "Bearer from-env"}).json()
        assert (info["version"], info["alias"]) == (1, None)
    finally:
        status = _interrupt(process)
    assert status == 0
    log = process.stdout.read()
    assert f"weather on http://127.0.0.1:{port}" in log
    assert "Finished server process" in log and "Traceback" not in log


def test_serve_refuses_an_unknown_model_before_serving(weather_registry, capfd):
    status = main(["serve", "--registry", str(weather_registry.root), "--model", "nope", "--port", "0"])
    assert status == 1
    out, err = capfd.readouterr()
    assert err.startswith("labkit serve: expected a registered model name ('weather'); got 'nope'")
    assert "Traceback" not in err and "serving" not in out and "on http://" not in out


def test_serve_refuses_alias_and_version_together(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--registry", "r", "--model", "m", "--alias", "a", "--version", "1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_doctor_reports_a_ready_environment(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "fastapi" in out and "skops" in out
    assert "labkit's environment is ready." in out


def test_lab_names_a_missing_notebooks_folder(tmp_path, capsys):
    assert main(["lab", "--notebooks", str(tmp_path / "missing")]) == 2
    assert "expected a notebooks folder" in capsys.readouterr().err


def test_lab_opens_jupyterlab_on_the_notebooks(tmp_path):
    port = _free_port()
    (tmp_path / "hello.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "BROWSER": "true"}
    process = subprocess.Popen(
        [sys.executable, "-m", "labkit", "lab", "--notebooks", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/api", process).json()["version"]
    finally:
        _interrupt(process)
        if process.poll() is None:
            process.kill()
    log = process.stdout.read()
    assert str(tmp_path) in log or "hello.ipynb" in log or "Jupyter Server" in log


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--port", "99999"], "argument --port: expected a port from 0 to 65535 (0 picks a free one); got '99999'"),
        (["--port", "-1"], "argument --port: expected a port from 0 to 65535"),
        (["--max-rows", "0"], "argument --max-rows: expected a whole number of at least 1; got '0'"),
    ],
)
def test_serve_refuses_bad_numbers_as_a_usage_error(weather_registry, capsys, arguments, message):
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--registry", str(weather_registry.root), "--model", "weather", *arguments])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_serve_names_an_address_that_is_not_this_machines(weather_registry, capfd):
    status = main(["serve", "--registry", str(weather_registry.root), "--model", "weather", "--host", "999.1.1.1", "--port", "0"])

    assert status == 1
    err = capfd.readouterr().err
    assert "expected an address of this machine to listen on; got '999.1.1.1'" in err
    assert "fix: use 127.0.0.1" in err and "Traceback" not in err
