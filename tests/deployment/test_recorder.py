"""Group commit: every request is committed before it returns, many share a commit, checkpoints wait for none."""

from __future__ import annotations

import asyncio

from labkit.deployment import recorder as recorder_module
from labkit.deployment.recorder import Recorder
from labkit.errors import LabkitError
from labkit.store import Batch, PredictionStore


def request(prefix: str) -> Batch:
    return Batch(
        request_prefix=prefix, event_times=0.0, arrival_time=0.0, model_name="m", model_version=1,
        inputs=[{"x": 1.0}], predictions=[0], classes=None, probabilities=None, latency_ms=1.0,
    )


def test_requests_share_commits_and_each_returns_once_committed(tmp_path):
    store = PredictionStore(tmp_path / "monitor.db", autocheckpoint=False)
    recorder = Recorder(store)
    committed = []

    async def one(i: int) -> None:
        await recorder.record(request(f"r{i}"))
        committed.append(len(PredictionStore(store.path)))  # seen by another connection, so on disk

    async def many() -> None:
        await asyncio.gather(*(one(i) for i in range(30)))
        await recorder.wait()

    asyncio.run(many())
    assert len(store) == 30 and recorder.commits < 30
    assert min(committed) >= 1


def test_a_failed_commit_reaches_every_request_of_its_group(tmp_path):
    store = PredictionStore(tmp_path / "monitor.db")
    store.log_batches([request("taken")])
    recorder = Recorder(store)

    async def both() -> list[object]:
        return await asyncio.gather(recorder.record(request("new")), recorder.record(request("taken")),
                                    return_exceptions=True)

    outcomes = asyncio.run(both())
    assert all(isinstance(outcome, LabkitError) for outcome in outcomes)
    assert len(store) == 1  # all or none: "new" went with the refused group


def test_checkpoints_run_in_the_background_after_commits(tmp_path, monkeypatch):
    monkeypatch.setattr(recorder_module, "_CHECKPOINT_EVERY_S", 0.0)
    store = PredictionStore(tmp_path / "monitor.db", autocheckpoint=False)
    checkpoints = []
    monkeypatch.setattr(store, "checkpoint", lambda: checkpoints.append(len(store)))
    recorder = Recorder(store)

    async def requests() -> None:
        for i in range(3):
            await recorder.record(request(f"r{i}"))
        await recorder.wait()

    asyncio.run(requests())
    assert checkpoints and checkpoints[0] >= 1
