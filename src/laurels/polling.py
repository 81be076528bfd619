"""A background task that runs some work every few seconds until it is closed: the
catalog's and the revocation list's refreshes, the pruning of old event ids.

Closing lets a round under way finish (cancelling a query midway can strand its
pooled connection, or leave a PostgreSQL connection in a bad state) unless it takes
longer than the grace period; a round that fails is logged and the next one tries
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Poller:
    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        *,
        every_seconds: float,
        name: str,
        failure: str,
        grace_seconds: float = 5.0,
    ) -> None:
        """`failure` is logged (with the exception) when a round fails."""
        self._work = work
        self._every = every_seconds
        self._name = name
        self._failure = failure
        self._grace = grace_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def close(self) -> None:
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._every)
            if self._stop.is_set():
                return
            try:
                await self._work()
            except Exception:
                log.exception(self._failure)
