"""Group commit: concurrent updates share one transaction and one fsync.

Requests wait in a queue; a committer takes everything waiting (up to `max_batch`),
applies it in one transaction, commits, and only then answers each request. Under
load many requests share a commit; alone, a request commits at once. If a batch
fails, its requests are retried one by one, so one bad request cannot fail others.
After each commit the listeners hear what it did (the event relay wakes on it)
before any request is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from laurels.errors import LaurelsError, Unavailable
from laurels.progress.batch import Request
from laurels.progress.drivers import BatchStore
from laurels.progress.event_plan import EventRequest
from laurels.progress.plan import Applied, UpdateRequest
from laurels.wire.times import now_micros

log = logging.getLogger(__name__)
# A request's answer: whether it changed anything, and how many events it applied.
Answer = tuple[bool, int]
Pending = tuple[Request, "asyncio.Future[Answer]"]
CommitListener = Callable[[Applied], None]


class GroupCommitWriter:
    def __init__(
        self,
        store: BatchStore,
        *,
        max_batch: int = 256,
        committers: int = 1,
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._committers = committers
        self._clock = clock
        self._queue: asyncio.Queue[Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[CommitListener] = []

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener` (in the event loop, must not block) after every commit."""
        self._listeners.append(listener)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"laurels-writer-{n}")
            for n in range(self._committers)
        ]

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        await self._queue.join()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._store.close()

    async def submit(self, request: UpdateRequest) -> bool:
        """Whether the update changed anything; returns only after the commit.
        Raises Unavailable if the database cannot take it."""
        changed, _ = await self._submit(request)
        return changed

    async def submit_events(self, request: EventRequest) -> int:
        """How many of the request's events were applied (the others were
        duplicates); returns only after the commit."""
        _, accepted = await self._submit(request)
        return accepted

    async def _submit(self, request: Request) -> Answer:
        if not self._tasks or all(task.done() for task in self._tasks):
            raise Unavailable("the service is shutting down")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((request, future))
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit(self, batch: list[Pending]) -> None:
        requests = [request for request, _ in batch]
        now = self._clock()
        try:
            results = await self._store.apply(requests, now_us=now)
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d failed (%s); retrying one by one", len(batch), exc)
                for pending in batch:
                    await self._commit([pending])
                return
            _fail(batch[0][1], exc)
            return
        for listener in self._listeners:
            try:
                listener(results)
            except Exception:
                log.exception("a commit listener failed")
        accepted = results.accepted or [0] * len(batch)
        for (_, future), changed, count in zip(batch, results.changed, accepted, strict=True):
            if not future.done():
                future.set_result((changed, count))


def _fail(future: asyncio.Future[Answer], exc: Exception) -> None:
    if future.done():
        return
    if not isinstance(exc, LaurelsError):
        log.error("update failed", exc_info=exc)
        exc = Unavailable("the update could not be stored; try again")
    future.set_exception(exc)
