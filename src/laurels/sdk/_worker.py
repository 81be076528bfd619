"""The background worker: a daemon thread running an asyncio loop that carries a
client's network calls and delivers its offline queue.

- It starts on first use, not at import or construction.
- After `os.fork()` the child starts a worker of its own on first use (the parent's
  thread does not exist there), so parent and child both keep delivering.
- At interpreter exit it tries to deliver what is queued, within `exit_timeout`
  seconds; what it cannot deliver stays on disk for the next run or `laurels sync`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from laurels.sdk._delivery import Deliverer
from laurels.sdk._exceptions import ClientClosed

log = logging.getLogger("laurels.sdk")
T = TypeVar("T")
IDLE_POLL_SECONDS = 5.0
FLUSH_PAUSE_SECONDS = 0.2
FORCED_PASS_SECONDS = 1.0

_workers: weakref.WeakSet[Worker] = weakref.WeakSet()


class Worker:
    def __init__(
        self,
        build: Callable[[], Deliverer],
        *,
        service: str,
        exit_timeout: float = 2.0,
        name: str = "laurels-worker",
    ) -> None:
        self._build = build
        self._service = service
        self.exit_timeout = exit_timeout
        self._name = name
        self._closed = False
        self._forget()
        _workers.add(self)

    def _forget(self) -> None:
        """No thread yet (a new worker, or the child of a fork)."""
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deliverer: Deliverer | None = None
        self._wake: asyncio.Event | None = None
        self._next_forced = 0.0  # monotonic time a good answer may next force a pass

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise ClientClosed("the client is closed")
            if self._loop is None:
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._main, args=(ready,), name=self._name, daemon=True
                )
                self._thread.start()
                ready.wait()
            assert self._loop is not None
            return self._loop

    def _main(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._deliverer = self._build()
        self._wake = asyncio.Event()
        background = loop.create_task(self._deliver_forever())
        ready.set()
        try:
            loop.run_forever()
        finally:
            # No caller may wait forever on a call the loop will never finish:
            # cancel what is left (its Future gets ClientClosed, see `submit`).
            background.cancel()
            for _ in range(3):
                left = [task for task in asyncio.all_tasks(loop) if not task.done()]
                if not left:
                    break
                for task in left:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(self._deliverer.http.aclose())
            loop.close()

    async def _deliver_forever(self) -> None:
        """Deliver passes until the loop stops. No error ends it: a failed pass
        is logged and the next one comes after a pause."""
        assert self._wake is not None
        while True:
            try:
                wait = await self._pass()
            except Exception:  # keep the worker alive; entries stay queued
                log.exception("delivery of the offline queue failed")
                wait = IDLE_POLL_SECONDS
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()

    async def _pass(self) -> float:
        """One delivery pass; returns how long to wait for the next. After a good
        answer of the service (here or to a direct update) the pass is forced past
        backoffs (not past a Retry-After), at most once per FORCED_PASS_SECONDS,
        so an entry the service keeps refusing is not resent at the game's rate."""
        deliverer = self._deliverer
        assert deliverer is not None
        force = deliverer.good_answer_seen and time.monotonic() >= self._next_forced
        if force:
            deliverer.good_answer_seen = False
            self._next_forced = time.monotonic() + FORCED_PASS_SECONDS
        await deliverer.run_once(force=force)
        due = await asyncio.to_thread(deliverer.queue.next_due)
        wait = IDLE_POLL_SECONDS if due is None else max(0.01, due - deliverer.queue.clock())
        if deliverer.good_answer_seen:
            wait = min(wait, self._next_forced - time.monotonic())
        return min(wait, IDLE_POLL_SECONDS)

    @property
    def deliverer(self) -> Deliverer | None:
        return self._deliverer

    def submit(
        self, work: Callable[[Deliverer], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T]:
        """Run `work(deliverer)` on the worker's loop; returns at once."""
        loop = self._ensure()

        async def run() -> T:
            assert self._deliverer is not None
            try:
                return await work(self._deliverer)
            except asyncio.CancelledError:
                if self._closed:  # cancelled by close(), not by the caller
                    raise ClientClosed("the client closed before this call completed") from None
                raise

        return asyncio.run_coroutine_threadsafe(run(), loop)

    def wake(self) -> None:
        """Deliver now rather than at the next due time."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def flush(self, deliverer: Deliverer, timeout: float) -> int:
        """(On the loop.) Deliver this service's queued entries, backoffs waived,
        until every entry still queued is one nothing on this device can send (no
        delivery credential, no valid session token: `status().blocked`), or
        `timeout` passes; returns how many entries are still queued, those
        included. Entries held by a network error or a Retry-After are waited for
        until the timeout."""
        deadline = time.monotonic() + max(0.0, timeout)
        queue = deliverer.queue
        while True:
            done = await deliverer.run_pass(force=True)
            pending = await asyncio.to_thread(queue.pending_count, self._service)
            stranded = sum(1 for entry in done.stranded if entry.service == self._service)
            if pending <= stranded or time.monotonic() >= deadline:
                return pending
            if done.settled == 0:
                await asyncio.sleep(min(FLUSH_PAUSE_SECONDS, deadline - time.monotonic()))

    def close(self, timeout: float) -> int | None:
        """Deliver what can be within `timeout`, then stop. Returns how many entries
        stay queued (None if the worker never started)."""
        with self._lock:
            if self._closed:
                return None
            loop, thread = self._loop, self._thread
            self._closed = True
        if loop is None or thread is None:
            return None
        remaining: int | None = None
        deadline = time.monotonic() + max(0.0, timeout)
        if thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self.flush(self._deliverer, timeout), loop)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                remaining = future.result(max(0.0, deadline - time.monotonic()) + 0.5)
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(loop.stop)
            # bounded even if the loop is stuck: the thread is a daemon
            thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
        return remaining


def _after_fork_in_child() -> None:
    for worker in list(_workers):
        worker._forget()


def _at_exit() -> None:
    for worker in list(_workers):
        with contextlib.suppress(Exception):
            worker.close(worker.exit_timeout)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
