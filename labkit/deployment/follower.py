"""A service that follows its alias: promote or roll back, and the running service switches.

A deployment made by alias (``champion``) serves whatever version the alias points at,
not the version it started with. The follower reads the registry's aliases every half
second; when its alias moves, it loads the new version in a worker thread (checksum and
trust list checked, as at start-up) and only then swaps it in, in one assignment. A request
takes the served model once, when it starts, so a request in flight finishes with the
version it began with and reports that version; no request waits for a load or fails
because of one. A version that cannot be loaded (a changed file, a type outside the
trust list) is refused: the service keeps serving the version it had, and its log says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from labkit.errors import LabkitError
from labkit.registry import ModelVersion, Registry

__all__ = ["AliasFollower"]


class AliasFollower:
    """Watch one alias of a registered model and hand each newly loaded version to ``swap``.

    Parameters
    ----------
    registry
        The registry to watch.
    name, alias
        The model and the alias followed.
    load
        Turns a version's metadata into what the service serves (loading the model); it
        runs in a worker thread and raises a :class:`labkit.errors.LabkitError` for a
        version that must not be served.
    swap
        Called on the event loop with what ``load`` returned, once it is ready.
    current
        The version served at the start.
    interval
        Seconds between two reads of the aliases.
    say
        Where the follower reports a switch or a refusal (the server's log).

    Examples
    --------
    >>> import asyncio, tempfile
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> X = pd.DataFrame({"wind": np.arange(20.0)})
    >>> reg = Registry(tempfile.mkdtemp())
    >>> for _ in range(2):
    ...     _ = reg.register(LogisticRegression().fit(X, X.wind > 9), name="rain", X=X)
    >>> _ = reg.promote("rain", version=1, alias="champion")
    >>> served = []
    >>> follower = AliasFollower(registry=reg, name="rain", alias="champion", load=lambda entry: entry.version,
    ...                          swap=served.append, current=1, interval=0.05, say=print)
    >>> async def promote_while_following():
    ...     task = asyncio.create_task(follower.run())
    ...     reg.promote("rain", version=2, alias="champion")
    ...     await asyncio.sleep(0.5)
    ...     task.cancel()
    >>> asyncio.run(promote_while_following())
    labkit serve: alias 'champion' of 'rain' moved from version 1 to 2; now serving version 2
    >>> served
    [2]
    """

    def __init__(
        self,
        *,
        registry: Registry,
        name: str,
        alias: str,
        load: Callable[[ModelVersion], Any],
        swap: Callable[[Any], None],
        current: int,
        interval: float = 0.5,
        say: Callable[[str], None] = print,
    ) -> None:
        self.registry = registry
        self.name = name
        self.alias = alias
        self.load = load
        self.swap = swap
        self.current = current
        self.interval = interval
        self.say = say

    async def run(self) -> None:
        """Follow the alias until cancelled."""
        refused: int | None = None  # a version already refused is not tried again until the alias moves
        while True:
            await asyncio.sleep(self.interval)
            try:
                target = self.registry.aliases(self.name).get(self.alias)
            except (LabkitError, OSError, ValueError) as error:
                self.say(f"labkit serve: cannot read the aliases of {self.name!r} ({error}); still serving version {self.current}")
                continue
            if target is None or target == self.current or target == refused:
                refused = refused if target == refused else None
                continue
            try:
                entry = await asyncio.to_thread(self.registry.get, self.name, version=target)
                served = await asyncio.to_thread(self.load, entry)
            except Exception as error:  # whatever stops a version loading, the service keeps the one it has
                refused = target
                self.say(
                    f"labkit serve: alias {self.alias!r} of {self.name!r} moved to version {target}, which cannot be "
                    f"served ({type(error).__name__}: {error}); still serving version {self.current}"
                )
                continue
            self.swap(served)
            self.say(
                f"labkit serve: alias {self.alias!r} of {self.name!r} moved from version {self.current} to {target}; "
                f"now serving version {target}"
            )
            self.current, refused = target, None
