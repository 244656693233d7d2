"""A shadow version: it sees every request the service answers, and answers no one.

Before a challenger replaces the champion, it can run beside it on real traffic: the
service answers with the champion as always, and afterwards hands the same records to
the shadow, whose predictions go to the prediction store (:meth:`labkit.PredictionStore.shadow`)
and nowhere else. Once labels arrive, the two can be compared on what really happened
(:func:`labkit.maintenance.compare` with ``shadow=True``).

The shadow must never change an answer, delay it, or fail it:

- it runs after the answer is on its way, in a task of its own and in one worker thread
  of its own, so a client's request (and the next one on the same connection) never
  waits for it, and it never takes more than that one thread from the service;
- if it falls behind, later requests skip it rather than queue (``skipped`` counts them);
- anything it raises (a record its schema refuses, a model that breaks) is counted in
  ``failed`` and reported in the server's log, and never reaches a client.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any

from labkit.store import PredictionStore

__all__ = ["Shadow"]

# Failures reported in full before the log reports only every hundredth: a shadow that
# fails on every request must not drown the log.
_REPORTED_IN_FULL = 5


class Shadow:
    """Score requests with a shadow version after they are answered, and keep its predictions.

    Parameters
    ----------
    store
        Where the shadow's predictions go (its own connection, not the recorder's).
    backlog
        How many requests may wait for the shadow; beyond that, requests skip it.
    say
        Where failures are reported (the server's log).

    Attributes
    ----------
    served
        What the shadow serves (a version, its schema and its predictor), or ``None``.
    scored, failed, skipped
        Requests the shadow scored, failed on, and skipped because it was behind.
    """

    def __init__(self, *, store: PredictionStore, backlog: int = 8, say: Callable[[str], None] = print) -> None:
        self.store = store
        self.backlog = backlog
        self.say = say
        self.served: Any = None
        self.scored = self.failed = self.skipped = 0
        self._pending: set[asyncio.Task[None]] = set()
        # One thread: the shadow's work is done one request at a time, off the event loop,
        # and the store's connection is only ever used from that thread.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-shadow")

    def score_later(self, records: list[Any], request_ids: list[str], event_times: list[float]) -> None:
        """Schedule the shadow on records already answered; return at once."""
        served = self.served
        if served is None:
            return
        if len(self._pending) >= self.backlog:
            self.skipped += 1
            return
        task = asyncio.get_running_loop().create_task(self._score(served, records, request_ids, event_times))
        self._pending.add(task)  # a reference, so the task is not collected before it ends
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for the requests already handed to the shadow, then end its thread (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        self._worker.shutdown(wait=True)

    async def _score(self, served: Any, records: list[Any], request_ids: list[str], event_times: list[float]) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._worker, self._score_and_keep, served, records, request_ids, event_times
            )
        except Exception as error:  # whatever the shadow does, no client hears of it
            self.failed += 1
            if self.failed <= _REPORTED_IN_FULL or self.failed % 100 == 0:
                self.say(
                    f"labkit serve: the shadow (version {served.entry.version}) could not score a request "
                    f"({type(error).__name__}: {error}); {self.failed} such so far; no answer was affected"
                )
        else:
            self.scored += 1

    def _score_and_keep(self, served: Any, records: list[Any], request_ids: list[str], event_times: list[float]) -> None:
        started = time.perf_counter()
        frame, _ = served.schema.frame_from_records(records)
        out = served.predictor.predict(frame)
        latency = (time.perf_counter() - started) * 1000
        self.store.log_shadow(
            request_ids, event_times=event_times, model_name=served.entry.name, model_version=served.entry.version,
            predictions=out["predictions"], classes=out.get("classes"), probabilities=out.get("probabilities"),
            latency_ms=latency,
        )
