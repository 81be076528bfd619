"""The sync agent behind `laurels sync`: delivers offline queues when no game runs.

It speaks for no title, so it delivers with the delivery credentials stored in each
queue file. A game that was never online leaves its player's session token there
instead: the agent exchanges it for a delivery credential while it is valid (the
token is then erased, as it is once expired), and delivers with that. Updates with
neither are kept and shown as blocked by `--status`. It can run beside a game's
worker on the same file: both take entries with expiring leases, so neither blocks,
loses or duplicates the other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from laurels.sdk._delivery import Deliverer
from laurels.sdk._queue import OfflineQueue, QueueStatus

log = logging.getLogger("laurels.sdk")
POLL_SECONDS = 5.0
ERROR_PAUSE = 0.1  # the first pause after a failed queue call; doubles while they go on


@dataclass(frozen=True)
class PassReport:
    path: Path
    settled: int
    status: QueueStatus


async def deliver_once(
    queues: Sequence[OfflineQueue],
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 10.0,
) -> list[PassReport]:
    """Deliver what can be delivered now from every queue (backoffs waived,
    Retry-After honoured); one report per queue."""
    reports = []
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as http:
        for queue in queues:
            deliverer = Deliverer(queue, http)
            settled, total = -1, 0
            while settled != 0:
                settled = await deliverer.run_once(force=True)
                total += settled
            reports.append(PassReport(queue.path, total, queue.status()))
    return reports


async def run_forever(
    queues: Sequence[OfflineQueue],
    transport: httpx.AsyncBaseTransport | None = None,
    stop: asyncio.Event | None = None,
    on_pass: Callable[[list[PassReport]], None] | None = None,
) -> None:
    """Deliver each queue as its entries come due, until `stop` is set (SIGTERM and
    SIGINT set it when run from the command line). No error stops it: a queue call
    that fails (a locked, full or vanished disk) is logged, and that queue is tried
    again after a brief pause that doubles while failures go on (`error_pause`);
    the other queues go on meanwhile. `on_pass` gets the reports of each round's
    passes that worked."""
    stop = stop or asyncio.Event()
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as http:
        deliverers = [Deliverer(queue, http) for queue in queues]
        failures = 0
        while not stop.is_set():
            passes = [await _pass(deliverer) for deliverer in deliverers]
            reports = [report for report in passes if report is not None]
            if on_pass is not None:
                on_pass(reports)
            wait = _until_due(queues)
            failed = wait is None or len(reports) < len(passes)
            failures = failures + 1 if failed else 0
            pause = min(POLL_SECONDS if wait is None else wait, error_pause(failures))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)


def error_pause(failures: int) -> float:
    """Seconds to wait after `failures` failed rounds in a row (none: no limit
    beyond POLL_SECONDS): ERROR_PAUSE at first, doubling up to POLL_SECONDS."""
    if failures <= 0:
        return POLL_SECONDS
    return min(POLL_SECONDS, ERROR_PAUSE * 2.0 ** min(failures - 1, 16))


async def _pass(deliverer: Deliverer) -> PassReport | None:
    """One delivery pass over one queue; None, logged, when a queue call failed
    (its entries stay queued: leases expire, and the next round tries again)."""
    queue = deliverer.queue
    try:
        settled = await deliverer.run_once()
        return PassReport(queue.path, settled, await asyncio.to_thread(queue.status))
    except Exception:
        log.exception("delivery of the offline queue %s failed; trying again shortly", queue.path)
        return None


def _until_due(queues: Sequence[OfflineQueue]) -> float | None:
    """Seconds until the earliest entry of any queue is due (at most POLL_SECONDS,
    at least a moment); None, logged, when a queue cannot be read."""
    wait = POLL_SECONDS
    for queue in queues:
        try:
            due = queue.next_due()
        except Exception:
            log.exception("cannot read the offline queue %s; trying again shortly", queue.path)
            return None
        if due is not None:
            wait = min(wait, max(0.05, due - queue.clock()))
    return wait


def run_agent(paths: Sequence[Path], *, once: bool) -> list[PassReport]:
    """The command line's entry: one pass with `once`, else until a signal."""
    queues = [OfflineQueue(path) for path in paths]

    async def main() -> list[PassReport]:
        if once:
            return await deliver_once(queues)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_forever(queues, stop=stop)
        return [PassReport(q.path, 0, q.status()) for q in queues]

    try:
        return asyncio.run(main())
    finally:
        for queue in queues:
            queue.close()
