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
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from laurels.sdk._delivery import Deliverer
from laurels.sdk._queue import OfflineQueue, QueueStatus

POLL_SECONDS = 5.0


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
    SIGINT set it when run from the command line)."""
    stop = stop or asyncio.Event()
    async with httpx.AsyncClient(transport=transport, timeout=10.0) as http:
        deliverers = [Deliverer(queue, http) for queue in queues]
        while not stop.is_set():
            reports = []
            for deliverer in deliverers:
                settled = await deliverer.run_once()
                reports.append(PassReport(deliverer.queue.path, settled, deliverer.queue.status()))
            if on_pass is not None:
                on_pass(reports)
            await _sleep_until_due(queues, stop)


async def _sleep_until_due(queues: Sequence[OfflineQueue], stop: asyncio.Event) -> None:
    dues = [d for q in queues if (d := q.next_due()) is not None]
    now = queues[0].clock() if queues else 0.0
    wait = min([POLL_SECONDS, *[max(0.05, d - now) for d in dues]])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), wait)


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
