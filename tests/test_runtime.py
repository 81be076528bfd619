"""start_runtime and Runtime.close: what starts is closed, in the reverse order, also
when a later component fails to start (no task, thread or connection left behind)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from laurels.auth.credentials import RevocationList
from laurels.db import Database
from laurels.errors import ConfigurationError
from laurels.progress.writer import GroupCommitWriter
from laurels.ratelimit.service import MemoryRateLimiter
from laurels.realtime.hub import Hub
from laurels.realtime.relay import OutboxRelay
from laurels.runtime import start_runtime
from laurels.settings import Settings
from laurels.titles.catalog import Catalog
from laurels.webhooks.dispatcher import WebhookDispatcher

# Each component's closing method, named as the expected orders below name it.
CLOSERS: dict[str, tuple[type[Any], str]] = {
    "database": (Database, "dispose"),
    "catalog": (Catalog, "close"),
    "writer": (GroupCommitWriter, "close"),
    "hub": (Hub, "close"),
    "relay": (OutboxRelay, "close"),
    "webhooks": (WebhookDispatcher, "close"),
    "revocations": (RevocationList, "close"),
    "rate limiter": (MemoryRateLimiter, "close"),
}
# The reverse of the start order.
CLOSE_ORDER = [
    "rate limiter",
    "revocations",
    "webhooks",
    "relay",
    "hub",
    "writer",
    "catalog",
    "database",
]
STARTERS: dict[str, type[Any]] = {
    "catalog": Catalog,
    "writer": GroupCommitWriter,
    "relay": OutboxRelay,
    "webhooks": WebhookDispatcher,
    "revocations": RevocationList,
}


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The components closed during the test, in order (each close still runs)."""
    order: list[str] = []
    for name, (cls, method) in CLOSERS.items():
        monkeypatch.setattr(cls, method, _recording(order, name, getattr(cls, method)))
    return order


def _recording(
    order: list[str], name: str, close: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    async def recorded(self: Any, *args: Any, **kwargs: Any) -> None:
        order.append(name)
        await close(self, *args, **kwargs)

    return recorded


def _laurels_tasks() -> list[str]:
    return [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("laurels-")]


@pytest.fixture
def threads_before() -> set[threading.Thread]:
    return set(threading.enumerate())


def _threads_left(before: set[threading.Thread]) -> list[str]:
    """Threads started since `before` that do not end within 5 s (the event loop's
    own executor threads aside: they belong to the test's loop, not the runtime)."""
    started = [
        t for t in threading.enumerate() if t not in before and not t.name.startswith("asyncio_")
    ]
    for thread in started:
        thread.join(timeout=5)
    return [t.name for t in started if t.is_alive()]


async def _connections_left(database_url: str) -> int:
    """Other sessions open on the test's PostgreSQL database (0 on SQLite, whose
    connections are threads, counted by `_threads_left`)."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return 0
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return count
    finally:
        await conn.close()


async def _assert_nothing_left(settings: Settings, before: set[threading.Thread]) -> None:
    assert _laurels_tasks() == []
    assert _threads_left(before) == []
    assert await _connections_left(settings.database_url) == 0


async def test_close_stops_every_component_in_reverse_order(
    settings: Settings, closed: list[str], threads_before: set[threading.Thread]
) -> None:
    runtime = await start_runtime(settings)
    assert len(_laurels_tasks()) >= len(STARTERS)
    await runtime.close()
    assert closed == CLOSE_ORDER
    await _assert_nothing_left(settings, threads_before)


def _garbled_trusted_keys(settings: Settings, tmp_path: Path) -> Settings:
    path = tmp_path / "trusted.pem"
    path.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    return replace(settings, trusted_keys_file=path)


def _redis_url_without_scheme(settings: Settings, _: Path) -> Settings:
    return replace(settings, redis_url="127.0.0.1:6379")


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (_garbled_trusted_keys, "LAURELS_TRUSTED_KEYS_FILE"),
        (_redis_url_without_scheme, "LAURELS_REDIS_URL"),
    ],
    ids=["trusted keys file", "redis url"],
)
async def test_a_configuration_failing_after_the_start_closes_what_started(
    settings: Settings,
    tmp_path: Path,
    closed: list[str],
    threads_before: set[threading.Thread],
    broken: Callable[[Settings, Path], Settings],
    reason: str,
) -> None:
    broken_settings = broken(settings, tmp_path)
    with pytest.raises(ConfigurationError, match=reason):
        await start_runtime(broken_settings)
    # Every component but the rate limiter (never built) had started: all are closed.
    assert closed == CLOSE_ORDER[1:]
    await _assert_nothing_left(settings, threads_before)


class InjectedFailure(Exception):
    pass


@pytest.mark.parametrize("failing", list(STARTERS))
async def test_a_component_failing_half_way_through_its_start_is_closed_with_the_others(
    settings: Settings,
    closed: list[str],
    threads_before: set[threading.Thread],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    cls = STARTERS[failing]
    start = cls.start

    async def start_then_fail(self: Any) -> None:
        await start(self)  # its tasks are running when the failure comes
        raise InjectedFailure(failing)

    monkeypatch.setattr(cls, "start", start_then_fail)
    with pytest.raises(InjectedFailure):
        await start_runtime(settings)
    assert closed == CLOSE_ORDER[CLOSE_ORDER.index(failing) :]
    await _assert_nothing_left(settings, threads_before)
