"""Group commit: a service records every prediction before answering, without a commit each.

A commit to disk takes far longer than a prediction. Committing each request alone would
make the disk the limit; answering before committing would lose predictions when the
server is killed. Group commit does neither: a request hands its rows over and waits;
one thread commits, one commit at a time; every request that arrived while it ran shares
the next one. Under load, one commit serves many requests; alone, a request waits for
just its own.

The committing thread takes the next group itself as soon as a commit ends, and wakes
the requests it committed; the event loop only hands rows over and answers. (Were the
commits driven from the loop, each would wait its turn behind requests the loop is busy
computing, a few milliseconds each, before it even started.)

Copying the write-ahead log into the database file (a checkpoint, with its sync to disk)
is left out of the commits: it runs at most once a second in a thread of its own, so a
slow disk delays no answer. A commit is kept from the moment it is in the log.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

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
        Where the rows go. Only this recorder's threads use it: one commits, one
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
        # The event loop adds to _waiting and the committing thread empties it: one lock for both.
        self._lock = threading.Lock()
        self._waiting: list[tuple[Batch, asyncio.Future[None]]] = []
        self._running = False
        self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-commit")
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="labkit-checkpoint")
        self._committing: Future[None] | None = None
        self._checkpointing: Future[None] | None = None
        self._last_checkpoint = time.monotonic()

    async def record(self, batch: Batch) -> None:
        """Return once ``batch`` is committed; raise what the commit raised if it failed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiting.append((batch, done))
            start, self._running = not self._running, True
        if start:
            # On the loop's next turn, so the requests of this turn share the first commit.
            loop.call_soon(self._start)
        await done

    async def wait(self) -> None:
        """Return once no commit or checkpoint is running, as before closing the store."""
        for future in (self._committing, self._checkpointing):
            if future is not None:
                # A commit's error went to its requests; a checkpoint's is retried by the next one.
                await asyncio.gather(asyncio.wrap_future(future), return_exceptions=True)

    def _start(self) -> None:
        self._committing = self._committer.submit(self._commit_while_waiting)

    def _commit_while_waiting(self) -> None:
        """In the committing thread: commit what is waiting, group after group, until nothing is."""
        try:
            while True:
                with self._lock:
                    group, self._waiting = self._waiting, []
                    if not group:
                        self._running = False
                        return
                try:
                    self.store.log_batches([batch for batch, _ in group])
                except Exception as error:  # every request of the group learns its rows were not kept
                    outcome: Exception | None = error
                else:
                    outcome = None
                    self.commits += 1
                    self._checkpoint_now_and_then()
                # Futures belong to their event loop: it sets them; this thread asks it to.
                group[0][1].get_loop().call_soon_threadsafe(_settle, group, outcome)
        except BaseException:
            with self._lock:
                self._running = False  # so the next request starts the thread again
            raise

    def _checkpoint_now_and_then(self) -> None:
        running = self._checkpointing is not None and not self._checkpointing.done()
        if not running and time.monotonic() - self._last_checkpoint >= _CHECKPOINT_EVERY_S:
            self._last_checkpoint = time.monotonic()
            # Not waited for: the requests of this group are answered without waiting for it.
            self._checkpointing = self._checkpointer.submit(self.store.checkpoint)


def _settle(group: list[tuple[Batch, asyncio.Future[None]]], outcome: Exception | None) -> None:
    """In the event loop: wake the requests of a committed group, or hand them the commit's error."""
    for _, done in group:
        if done.done():  # its request was cancelled, its client gone
            continue
        if outcome is None:
            done.set_result(None)
        else:
            done.set_exception(outcome)
