"""The background part of the webhooks in each service process.

A loop claims new unlocks from the outbox (one delivery per endpoint) and starts an
attempt for every due delivery, at most `max_in_flight` at a time. It runs when
woken (`wake()`, after a commit that wrote unlocks) and every `poll_seconds`
otherwise, so deliveries written or retried by any process are found. Every
process may run one: claims and leases in the database keep them apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as randomness
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from laurels.db import Database
from laurels.settings import Settings
from laurels.sqlasync import AsyncConnection
from laurels.titles import Catalog
from laurels.webhooks import queue, service
from laurels.webhooks.addresses import Resolver, resolve_host
from laurels.webhooks.policy import RetryPolicy
from laurels.webhooks.queue import Due, Outcome
from laurels.webhooks.views import FAILED
from laurels.wire.times import now_micros

if TYPE_CHECKING:
    import httpx

# The sender (and httpx with it, about 6 MB in every worker) is imported with the
# first delivery attempt: most processes never send one.

log = logging.getLogger(__name__)
# A lease outlives the longest attempt (bounded by the timeout) by this much.
LEASE_MARGIN_SECONDS = 30.0
CLOSE_SECONDS = 5.0
# Rounds begin at most this often: under load nearly every group commit unlocks
# something and wakes the dispatcher, and a round per commit (two reads and a write
# transaction) took the database from the updates; at 20 rounds a second they still
# cost 3 % of a worker. A lone unlock is claimed at once.
ROUND_SECONDS = 0.2
# Claim rounds per wake-up, so that a backlog does not starve the sending.
CLAIM_ROUNDS = 10
Work = Callable[[AsyncConnection], Awaitable[str | None]]


class WebhookDispatcher:
    """Claims unlocks and sends deliveries until `close()`.

    `failures` counts attempts that failed in this process (an error or a non-2xx
    status), `delivered` the deliveries it completed; `count_pending()` counts the
    deliveries every process still has to send.
    """

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        retry: RetryPolicy,
        timeout_seconds: float,
        poll_seconds: float,
        clock: Callable[[], int] = now_micros,
        resolve: Resolver = resolve_host,
        random: Callable[[], float] = randomness.random,
        max_in_flight: int = 16,
        batch: int = 100,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._retry = retry
        self._timeout = timeout_seconds
        self._lease_us = int((timeout_seconds + LEASE_MARGIN_SECONDS) * 1_000_000)
        self._poll = poll_seconds
        self._clock = clock
        self._resolve = resolve
        self._random = random
        self._max_in_flight = max_in_flight
        self._batch = batch
        self._client: httpx.AsyncClient | None = None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._attempts: set[asyncio.Task[None]] = set()
        self._sending: set[asyncio.Task[Outcome]] = set()
        self.failures = 0
        self.delivered = 0

    @classmethod
    def from_settings(cls, db: Database, catalog: Catalog, settings: Settings) -> WebhookDispatcher:
        retry = RetryPolicy(
            base_seconds=settings.webhook_retry_base_seconds,
            max_seconds=settings.webhook_retry_max_seconds,
            give_up_seconds=settings.webhook_give_up_seconds,
        )
        return cls(
            db,
            catalog,
            retry=retry,
            timeout_seconds=settings.webhook_timeout_seconds,
            poll_seconds=settings.webhook_poll_seconds,
        )

    async def start(self) -> None:
        """Start the loop; it claims and sends what is waiting at once."""
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="laurels-webhooks")

    def wake(self) -> None:
        """Look for new unlocks and due deliveries now rather than at the next poll.
        Call it from the event loop, after a commit that wrote unlocks."""
        self._wakeup.set()

    async def count_pending(self) -> int:
        """Deliveries not yet delivered nor given up, by every process. Raises
        Unavailable when the database cannot be read."""
        async with self._db.read() as conn:
            return await service.count_pending(conn)

    async def dispatch_once(self) -> None:
        """Claim everything waiting and make one attempt of each due delivery (up to
        `max_in_flight`), then return when they are recorded (for tools and tests;
        the loop started by `start()` does this by itself)."""
        while await self._claim():
            pass
        self._launch(await self._take())
        while self._attempts:
            await asyncio.wait(set(self._attempts))

    async def close(self) -> None:
        """Stop within a few seconds: a claim under way finishes, attempts in flight
        are cancelled and their deliveries are due again at once (not counted as an
        attempt)."""
        self._stopping.set()
        self._wakeup.set()
        if self._task is not None:
            await _finish(self._task)
            self._task = None
        for sending in list(self._sending):
            sending.cancel()
        if self._attempts:
            _, late = await asyncio.wait(set(self._attempts), timeout=CLOSE_SECONDS)
            for task in late:
                await _finish(task, 0)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        began = -ROUND_SECONDS
        while not self._stopping.is_set():
            wait = began + ROUND_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            began = loop.time()
            try:
                if await self._claim():
                    self.wake()  # a backlog: claim more right after this round
                self._launch(await self._take())
            except Exception:  # the database may be back at the next poll
                log.exception("webhooks: could not claim or take deliveries")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll)
            self._wakeup.clear()

    async def _claim(self) -> bool:
        """Claim waiting unlocks; True when more may be waiting."""
        for _ in range(CLAIM_ROUNDS):
            async with self._db.read() as conn:
                if not await queue.has_unclaimed(conn):
                    return False
            claimed, _ = await self._db.run_write(
                lambda conn: queue.claim_unlocks(
                    conn, describe=self._catalog.version, now_us=self._clock(), limit=self._batch
                )
            )
            if claimed < self._batch:
                return False
        return True

    async def _take(self) -> list[Due]:
        free = self._max_in_flight - len(self._attempts)
        if free <= 0 or self._stopping.is_set():
            return []
        now_us = self._clock()
        async with self._db.read() as conn:
            if not await queue.has_due(conn, now_us=now_us):
                return []
        return await self._db.run_write(
            lambda conn: queue.take_due(conn, now_us=now_us, lease_us=self._lease_us, limit=free)
        )

    def _launch(self, taken: list[Due]) -> None:
        for due in taken:
            task = asyncio.create_task(self._attempt(due), name=f"laurels-webhook-{due.id}")
            self._attempts.add(task)
            task.add_done_callback(self._attempt_done)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._attempts.discard(task)
        self.wake()  # a slot is free: more may be due

    async def _attempt(self, due: Due) -> None:
        if self._stopping.is_set():  # taken just as close() began
            await self._write(lambda conn: queue.release(conn, due=due, now_us=self._clock()))
            return
        from laurels.webhooks.sender import make_client, send

        if self._client is None:
            self._client = make_client(
                timeout_seconds=self._timeout, max_connections=self._max_in_flight
            )
        sending = asyncio.create_task(
            send(
                self._client,
                due,
                now_us=self._clock(),
                timeout_seconds=self._timeout,
                resolve=self._resolve,
            )
        )
        self._sending.add(sending)
        try:
            outcome = await sending
        except asyncio.CancelledError:
            if not sending.cancelled() or _cancelling():
                raise
            await self._write(lambda conn: queue.release(conn, due=due, now_us=self._clock()))
            return
        except Exception as exc:  # a bug here, not the endpoint's doing: log it as one
            log.exception("webhooks: attempt of delivery %s failed", due.id)
            outcome = Outcome(self._clock(), 0, error=f"internal error: {exc!r}")
        finally:
            self._sending.discard(sending)
        await self._record(due, outcome)

    async def _record(self, due: Due, outcome: Outcome) -> None:
        if outcome.ok:
            self.delivered += 1
        else:
            self.failures += 1
        status = await self._write(
            lambda conn: queue.record_attempt(
                conn,
                due=due,
                outcome=outcome,
                now_us=self._clock(),
                retry=self._retry,
                random=self._random(),
            )
        )
        if status == FAILED:
            log.warning("webhooks: gave up delivery %s: %s", due.id, outcome.describe())

    async def _write(self, work: Work) -> str | None:
        try:
            return await self._db.run_write(work)
        except Exception:  # the lease runs out and the delivery is retried
            log.exception("webhooks: could not record an attempt")
            return None


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _finish(task: asyncio.Task[None], seconds: float = CLOSE_SECONDS) -> None:
    """Let `task` finish (cancelling a query midway leaves a PostgreSQL connection in
    a bad state); cancel it if it takes longer than `seconds`."""
    try:
        await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
