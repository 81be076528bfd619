"""Group commit: concurrent updates share one transaction and one fsync.

Requests wait in a queue; a committer takes everything waiting (up to `max_batch`),
applies it in one transaction, commits, and only then answers each request. Under
load many requests share a commit; alone, a request commits at once. If a batch
fails, its requests are retried one by one, so one bad request cannot fail others.
After each commit the listeners hear what it did (the event relay wakes on it)
before any request is answered.

Committers: on PostgreSQL, tasks of the event loop (asyncpg waits without a
thread). On SQLite (a `BlockingBatchStore`), one thread of its own that takes the
next batch as soon as the last is committed: the event loop is never in the
commit's path, so a busy loop does not hold back the next fsync (with the commit
as a task, each batch waited behind the loop's other work twice, for a third of
its time under load).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable

from laurels.errors import LaurelsError, Unavailable
from laurels.progress.batch import Request
from laurels.progress.drivers import BatchStore, BlockingBatchStore
from laurels.progress.event_plan import EventRequest
from laurels.progress.plan import Applied, UpdateRequest
from laurels.wire.times import now_micros

log = logging.getLogger(__name__)
# A request's answer: whether it changed anything, and how many events it applied.
Answer = tuple[bool, int]
Pending = tuple[Request, "asyncio.Future[Answer]"]
CommitListener = Callable[[Applied], None]
# What a committer's thread hands back: the batch and its results, or the failure.
Outcome = Applied | BaseException
_STOP = None


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
        # SQLite: the committer's thread, fed through a thread-safe queue.
        self._blocking = store if isinstance(store, BlockingBatchStore) else None
        self._handoff: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False  # closing, or the thread has returned: no more requests
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_commit(self, listener: CommitListener) -> None:
        """Call `listener` (in the event loop, must not block) after every commit."""
        self._listeners.append(listener)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._blocking is not None:
            self._thread = threading.Thread(
                target=self._run_thread, name="laurels-writer", daemon=True
            )
            self._thread.start()
            return
        self._tasks = [
            asyncio.create_task(self._run(), name=f"laurels-writer-{n}")
            for n in range(self._committers)
        ]

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        if self._thread is not None:
            self._stopped = True  # requests from now on are refused, not stranded
            self._handoff.put(_STOP)  # after everything submitted before
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            await asyncio.sleep(0)  # the last answers, handed to the loop, are delivered
        else:
            await self._queue.join()
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
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

    def _running(self) -> bool:
        if self._thread is not None:
            return not self._stopped
        return bool(self._tasks) and not all(task.done() for task in self._tasks)

    async def _submit(self, request: Request) -> Answer:
        if not self._running():
            raise Unavailable("the service is shutting down")
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        if self._thread is not None:
            self._handoff.put((request, future))
        else:
            self._queue.put_nowait((request, future))
        # Queued, the request is committed whether or not its caller still waits (a
        # cancelled caller cancels only this future, which the answer then skips).
        return await future

    # --- committer tasks (PostgreSQL) -------------------------------------------------

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
        try:
            results = await self._store.apply([r for r, _ in batch], now_us=self._clock())
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d failed (%s); retrying one by one", len(batch), exc)
                for pending in batch:
                    await self._commit([pending])
                return
            self._deliver(batch, exc)
            return
        self._deliver(batch, results)

    # --- the committer thread (SQLite) ------------------------------------------------

    def _run_thread(self) -> None:
        try:
            self._take_batches()
        finally:
            self._stopped = True

    def _take_batches(self) -> None:
        while True:
            first = self._handoff.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    pending = self._handoff.get_nowait()
                except queue.Empty:
                    break
                if pending is _STOP:
                    stop = True
                    break
                batch.append(pending)
            self._commit_blocking(batch)
            if stop:
                return

    def _commit_blocking(self, batch: list[Pending]) -> None:
        assert self._blocking is not None
        assert self._loop is not None
        try:
            outcome: Outcome = self._blocking.apply_blocking(
                [r for r, _ in batch], now_us=self._clock()
            )
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d failed (%s); retrying one by one", len(batch), exc)
                for pending in batch:
                    self._commit_blocking([pending])
                return
            outcome = exc
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for answers
            self._loop.call_soon_threadsafe(self._deliver, batch, outcome)

    # --- answers (in the event loop) --------------------------------------------------

    def _deliver(self, batch: list[Pending], outcome: Outcome) -> None:
        """After a commit: the listeners, then each request's answer; or the failure
        of a lone request."""
        if isinstance(outcome, BaseException):
            _fail(batch[0][1], outcome)
            return
        for listener in self._listeners:
            try:
                listener(outcome)
            except Exception:
                log.exception("a commit listener failed")
        accepted = outcome.accepted or [0] * len(batch)
        for (_, future), changed, count in zip(batch, outcome.changed, accepted, strict=True):
            if not future.done():
                future.set_result((changed, count))


def _fail(future: asyncio.Future[Answer], exc: BaseException) -> None:
    if future.done():
        return
    if not isinstance(exc, LaurelsError):
        log.error("update failed", exc_info=exc)
        exc = Unavailable("the update could not be stored; try again")
    future.set_exception(exc)
