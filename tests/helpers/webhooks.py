"""A webhook receiver on 127.0.0.1 and unlocks written the way the service writes them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from laurels.db import Database
from laurels.progress.drivers import batch_store
from laurels.progress.service import ItemUpdate, UpdateRequest
from laurels.progress.writer import GroupCommitWriter
from laurels.titles.catalog import Catalog
from laurels.webhooks.dispatcher import WebhookDispatcher
from laurels.webhooks.policy import RetryPolicy
from laurels.webhooks.service import add_endpoint
from laurels.webhooks.views import NewEndpoint
from laurels.wire.times import now_micros
from tests.helpers import SCID, TITLE_ID, free_socket, serve_app

RETRY = RetryPolicy(base_seconds=10, max_seconds=3600, give_up_seconds=86400)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each request with the next of `statuses`, then 200; with `hold`, a
    request waits until the event is set."""

    statuses: list[int] = field(default_factory=list)
    hold: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(Received(dict(request.headers), body, time.time()))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        return Response(status_code=status)

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Yields the URL to register."""
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        sock = free_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        async with serve_app(app, sock):
            yield url


async def add(
    db: Database,
    url: str,
    *,
    sandbox: str = "DEV.1",
    title_id: int = TITLE_ID,
    **extra: object,
) -> NewEndpoint:
    return await db.run_write(
        lambda conn: add_endpoint(
            conn,
            title_id=title_id,
            sandbox=sandbox,
            url=url,
            now_us=now_micros(),
            **extra,  # type: ignore[arg-type]
        )
    )


@contextlib.asynccontextmanager
async def writer(db: Database) -> AsyncIterator[GroupCommitWriter]:
    """The service's group-commit writer: unlocks written by it are real ones."""
    committer = GroupCommitWriter(batch_store(db))
    await committer.start()
    try:
        yield committer
    finally:
        await committer.close()


async def unlock(
    committer: GroupCommitWriter,
    xuid: str,
    achievement_id: str = "1",
    *,
    sandbox: str = "DEV.1",
    at_us: int | None = None,
) -> None:
    item = ItemUpdate(achievement_id, 100, at_us or now_micros())
    await committer.submit(UpdateRequest(sandbox, xuid, SCID, TITLE_ID, 1, (item,)))


@contextlib.asynccontextmanager
async def catalog_of(db: Database) -> AsyncIterator[Catalog]:
    catalog = Catalog(db, refresh_seconds=60)
    await catalog.start()
    try:
        yield catalog
    finally:
        await catalog.close()


@contextlib.asynccontextmanager
async def dispatcher(
    db: Database, catalog: Catalog, *, start: bool = False, **options: object
) -> AsyncIterator[WebhookDispatcher]:
    options.setdefault("retry", RETRY)
    options.setdefault("timeout_seconds", 2.0)
    options.setdefault("poll_seconds", 60.0)
    running = WebhookDispatcher(db, catalog, **options)  # type: ignore[arg-type]
    if start:
        await running.start()
    try:
        yield running
    finally:
        await running.close()


class Clock:
    """Microseconds that move only when told to."""

    def __init__(self) -> None:
        self.now = now_micros()

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)
