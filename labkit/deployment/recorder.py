"""Group commit: a service records every prediction before answering, without a commit each.

A commit to disk takes far longer than a prediction. Committing each request alone would
make the disk the limit; answering before committing would lose predictions when the
server is killed. Group commit does neither: a request hands its rows over and waits;
one commit at a time runs in a worker thread; every request that arrived while it ran
shares the next one. Under load, one commit serves many requests; alone, a request waits
for just its own.

Copying the write-ahead log into the database file (a checkpoint, with its sync to disk)
is left out of the commits: it runs at most once a second in a thread of its own, so a
slow disk delays no answer. A commit is kept from the moment it is in the log.
"""

from __future__ import annotations

import asyncio
import time

from labkit.store import Batch, PredictionStore

__all__ = ["Recorder"]

# Seconds between checkpoints: often enough that the log stays small, rarely enough
# that the database file is synced to disk about once a second, not once a commit.
_CHECKPOINT_EVERY_S = 1.0


class Recorder:
    """Commit requests to a :class:`labkit.PredictionStore` in groups; ``await record(batch)`` returns once committed.

    Parameters
    ----------
    store
        Where the rows go. Only this recorder's worker threads use it: one commits, one
        checkpoints (open it with ``autocheckpoint=False``, so commits leave that to the
        recorder).

    Examples
    --------
    >>> import asyncio, tempfile, pathlib
    >>> store = PredictionStore(pathlib.Path(tempfile.mkdtemp()) / "monitor.db", autocheckpoint=False)
    >>> recorder = Recorder(store)
    >>> def request(i):
    ...     return Batch(request_prefix=f"r{i}", event_times=0.0, arrival_time=0.0, model_name="m",
    ...                  model_version=1, inputs=[{"x": i}], predictions=[0], classes=None,
    ...                  probabilities=None, latency_ms=1.0)
    >>> async def many_requests():
    ...     await asyncio.gather(*(recorder.record(request(i)) for i in range(50)))
    >>> asyncio.run(many_requests())
    >>> len(store), recorder.commits < 50
    (50, True)
    """

    def __init__(self, store: PredictionStore) -> None:
        self.store = store
        self.commits = 0
        self._waiting: list[tuple[Batch, asyncio.Future[None]]] = []
        self._committing: asyncio.Task[None] | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._last_checkpoint = time.monotonic()

    async def record(self, batch: Batch) -> None:
        """Return once ``batch`` is committed; raise what the commit raised if it failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, done))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_while_waiting())
        await done

    async def wait(self) -> None:
        """Return once no commit or checkpoint is running, as before closing the store."""
        for task in (self._committing, self._checkpointing):
            if task is not None:
                # A commit's error went to its requests; a checkpoint's is retried by the next one.
                await asyncio.gather(task, return_exceptions=True)

    async def _commit_while_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                await asyncio.to_thread(self.store.log_batches, [batch for batch, _ in group])
            except Exception as error:  # every request of the group learns its rows were not kept
                for _, done in group:
                    if not done.done():
                        done.set_exception(error)
            else:
                self.commits += 1
                for _, done in group:
                    if not done.done():
                        done.set_result(None)
                self._checkpoint_now_and_then()

    def _checkpoint_now_and_then(self) -> None:
        running = self._checkpointing is not None and not self._checkpointing.done()
        if not running and time.monotonic() - self._last_checkpoint >= _CHECKPOINT_EVERY_S:
            self._last_checkpoint = time.monotonic()
            # Not awaited: the requests of this group are answered without waiting for it.
            self._checkpointing = asyncio.create_task(asyncio.to_thread(self.store.checkpoint))
