"""Forgetting applied event ids once no redelivery can be honoured any more.

An event id is kept at least as long as the `timeAchieved` window (plus the clock
skew allowed, plus a day's margin): within it a redelivered event is recognised and
skipped. Every process prunes once an hour; deleting an already deleted row is
harmless, so processes need not agree on who does it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from laurels.db import Database
from laurels.progress.service import prune_applied_events
from laurels.wire.times import now_micros

log = logging.getLogger(__name__)
DAY_US = 24 * 3600 * 1_000_000


class AppliedEventPruner:
    def __init__(self, db: Database, *, keep_us: int, every_seconds: float = 3600.0) -> None:
        self._db = db
        self._keep_us = keep_us + DAY_US
        self._every = every_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="laurels-applied-events-pruner")

    async def close(self) -> None:
        """Stop; a prune under way finishes first (cancelling a query midway leaves
        a PostgreSQL connection in a bad state)."""
        if self._task is None:
            return
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 5.0)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def prune(self) -> int:
        before = now_micros() - self._keep_us
        return await self._db.run_write(lambda conn: prune_applied_events(conn, before_us=before))

    async def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._every)
            if self._stop.is_set():
                return
            try:
                forgotten = await self.prune()
                if forgotten:
                    log.info("forgot %d applied event ids past the window", forgotten)
            except Exception:  # try again at the next round
                log.exception("could not prune applied event ids")
