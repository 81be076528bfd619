"""Fixtures of the SDK's integration tests."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from laurels.db import Database
from laurels.sdk import AchievementsClient, MockTransport, SyncAchievementsClient
from tests.helpers import publish_config, title_config
from tests.helpers.sdk import BASE, Client, MakeClient, ServiceDb, client_options


@pytest.fixture
async def service(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[ServiceDb]:
    """The module's `SERVICE_ACHIEVEMENTS` (default 5) achievements "1".."N", of a
    title of the module's `SERVICE_KIND` (default "title-managed"; "event-based":
    event `Progress`, sum stat `Count` of its `count`, achievement n at Count >= n)."""
    path = tmp_path / "svc.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}", pool_size=2)
    try:
        count = getattr(request.module, "SERVICE_ACHIEVEMENTS", 5)
        kind = getattr(request.module, "SERVICE_KIND", "title-managed")
        await publish_config(db, title_config(count, kind=kind))
        yield ServiceDb(path, db)
    finally:
        await db.dispose()


@pytest.fixture
def queue_path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
async def make(queue_path: Path) -> AsyncIterator[MakeClient]:
    """make(service, kind="async" | "sync", **arguments) -> a client on the mock
    `service` (a handler of `MockTransport`), closed at the end of the test."""
    made: list[Client] = []

    def build(
        service: Callable[[httpx.Request], httpx.Response], kind: str = "async", **arguments: Any
    ) -> Client:
        mock = {"transport": MockTransport(service), "exit_timeout": 0.0}
        options = client_options(queue_path, **{**mock, **arguments})
        cls = AchievementsClient if kind == "async" else SyncAchievementsClient
        client = cls(BASE, **options)
        made.append(client)
        return client

    yield build
    for client in made:
        if isinstance(client, AchievementsClient):
            await client.close(timeout=0)
        else:
            await asyncio.to_thread(client.close, 0)
