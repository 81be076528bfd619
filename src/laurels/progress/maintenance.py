"""Forgetting applied event ids once no redelivery can be honoured any more.

An event id is kept at least as long as the `timeAchieved` window (plus the clock
skew allowed, plus a day's margin): within it a redelivered event is recognised and
skipped. Every process prunes once an hour; deleting an already deleted row is
harmless, so processes need not agree on who does it.
"""

from __future__ import annotations

import logging

from laurels.db import Database
from laurels.polling import Poller
from laurels.progress.service import prune_applied_events
from laurels.wire.times import now_micros

log = logging.getLogger(__name__)
DAY_US = 24 * 3600 * 1_000_000


class AppliedEventPruner:
    def __init__(self, db: Database, *, keep_us: int, every_seconds: float = 3600.0) -> None:
        self._db = db
        self._keep_us = keep_us + DAY_US
        self._poller = Poller(
            self._round,
            every_seconds=every_seconds,
            name="laurels-applied-events-pruner",
            failure="could not prune applied event ids",
        )

    async def start(self) -> None:
        self._poller.start()

    async def close(self) -> None:
        """Stop; a prune under way finishes first."""
        await self._poller.close()

    async def prune(self) -> int:
        """Forget the ids applied before the window; returns how many."""
        before = now_micros() - self._keep_us
        return await self._db.run_write(lambda conn: prune_applied_events(conn, before_us=before))

    async def _round(self) -> None:
        forgotten = await self.prune()
        if forgotten:
            log.info("forgot %d applied event ids past the window", forgotten)
