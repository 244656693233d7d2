"""deploy() runs a real uvicorn process: it answers, stops, and never outlives its parent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import labkit as lk
from labkit.errors import DeploymentError, NotFoundError, ServiceError


def _gone(pid: int) -> bool:
    """True once ``pid`` has exited: no such process, or only a zombie awaiting its reaper."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z"


def _wait_gone(pid: int, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_deploy_serves_the_champion_and_matches_in_process_predictions(weather_registry, weather_split, weather_model):
    _, production = weather_split
    rows = production[list(lk.data.FEATURES)].head(20)
    with lk.deploy(weather_registry, "weather", alias="champion") as dep:
        assert dep.url.startswith("http://127.0.0.1:")
        assert dep.version == 1 and dep.running
        assert dep.url.endswith(f":{dep.port}")
        answer = dep.predict(rows)
        assert dep.health() == {"status": "ok", "model": "weather", "model_version": 1}
    assert answer.index.equals(rows.index)
    assert answer["prediction"].tolist() == weather_model.predict(rows).tolist()
    np.testing.assert_allclose(answer[["proba_False", "proba_True"]], weather_model.predict_proba(rows))
    assert answer["request_id"].is_unique
    assert not dep.running
    assert repr(dep) == "Deployment(name='weather', version=1, alias='champion', stopped)"


def test_stop_reaps_the_process_and_is_idempotent(weather_registry):
    dep = lk.deploy(weather_registry, "weather")
    url, pid = dep.url, dep.pid
    dep.stop()
    dep.stop()
    assert dep._process.returncode is not None  # reaped by wait(): not a zombie
    assert _gone(pid)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)
    with pytest.raises(DeploymentError, match="process has stopped"):
        dep.predict(pd.DataFrame({"wind": [1.0]}))


def test_deploy_by_version_and_the_bad_request_error(weather_registry, weather_split):
    _, production = weather_split
    bad = production[list(lk.data.FEATURES)].head(2).assign(weather="hail")
    with lk.deploy(weather_registry, "weather", version=1) as dep:
        with pytest.raises(ServiceError, match="hail") as caught:
            dep.predict(bad)
    assert caught.value.status == 422
    assert caught.value.detail[0]["loc"] == ["body", 0, "weather"]


def test_unknown_model_is_refused_before_a_server_starts(weather_registry, monkeypatch):
    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(args))
    with pytest.raises(NotFoundError, match="expected a registered model name \\('weather'\\); got 'no-such-model'"):
        lk.deploy(weather_registry, "no-such-model", timeout=30)
    with pytest.raises(NotFoundError, match="expected an alias of model 'weather'; got 'staging'"):
        lk.deploy(weather_registry, "weather", alias="staging", timeout=30)
    assert started == []


def test_port_in_use_fails_with_the_server_log(weather_registry):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DeploymentError, match="exited with status") as caught:
            lk.deploy(weather_registry, "weather", port=port, timeout=30)
    assert f"127.0.0.1:{port}" in caught.value.log
    assert "choose another port" in caught.value.log


def test_token_is_required_when_set(weather_registry, weather_split):
    _, production = weather_split
    with lk.deploy(weather_registry, "weather", token="s3cret") as dep:
        assert httpx.get(f"{dep.url}/model").status_code == 401
        assert dep.predict(production[list(lk.data.FEATURES)].head(1))["model_version"].tolist() == [1]


_PARENT = textwrap.dedent(
    """
    import os, signal, sys
    import labkit as lk
    dep = lk.deploy(sys.argv[1], "weather")
    print(dep.pid, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    # "exit": leave without calling stop(); interpreter exit must end the server
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("how", ["exit", "kill"])
def test_server_never_outlives_its_parent(weather_registry, how):
    parent = subprocess.run(
        [sys.executable, "-c", _PARENT, str(weather_registry.root), how],
        capture_output=True, text=True, timeout=120,
    )
    assert parent.returncode == (0 if how == "exit" else -9), parent.stderr
    server_pid = int(parent.stdout.split()[0])
    assert _wait_gone(server_pid), f"server {server_pid} outlived its parent ({how})"
