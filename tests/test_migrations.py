"""The migrations against the tables the code declares, on both databases: the
newest schema is the declared one (types included), 0004 goes down and up again,
and it keeps one active webhook endpoint per URL of a title and sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.exc import IntegrityError

from laurels.db import Database
from laurels.migrations import all_metadata
from laurels.schema import HEAD, alembic_config
from laurels.webhooks.tables import webhook_deliveries, webhook_endpoints
from tests.helpers import pg_database, postgres_available
from tests.helpers.databases import opened

DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(params=DATABASES)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with pg_database() as url:
        yield url


@pytest.fixture
async def empty(empty_url: str) -> AsyncIterator[Database]:
    async with opened(empty_url, pool_size=1) as db:
        yield db


async def migrate(db: Database, revision: str, *, down: bool = False) -> None:
    def run(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)

    async with db.write() as conn:
        await conn.run_sync(run)


# Made by the migrations on PostgreSQL only, on purpose (see 0003).
POSTGRESQL_ONLY = {"ix_outbox_order"}


def _declared(item: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    return not (kind == "index" and reflected and other is None and name in POSTGRESQL_ONLY)


def _differences(conn: Connection) -> list[Any]:
    opts = {"compare_type": True, "include_object": _declared}
    context = MigrationContext.configure(conn, opts=opts)
    return list(compare_metadata(context, all_metadata()))


async def differences(db: Database) -> list[Any]:
    async with db.read() as conn:
        return await conn.run_sync(_differences)


async def test_the_newest_schema_is_the_declared_one(empty: Database) -> None:
    await migrate(empty, "head")
    assert await differences(empty) == []


@pytest.mark.parametrize("down_to", ["0003", "0004", "0005", "0006"])
async def test_recent_revisions_go_down_and_up_again(empty: Database, down_to: str) -> None:
    await migrate(empty, "head")
    await migrate(empty, down_to, down=True)
    await migrate(empty, "head")
    async with empty.read() as conn:
        assert await conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
    assert await differences(empty) == []


def _endpoint(endpoint_id: str, url: str, created_at: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": endpoint_id,
        "title_id": 1234,
        "sandbox": "RETAIL",
        "url": url,
        "secret": "whsec_x",
        "created_at": created_at,
        "disabled_at": None,
        **extra,
    }


def _delivery(endpoint_id: str, event_id: int) -> dict[str, Any]:
    return {
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "idempotency_key": f"key-{event_id}",
        "payload": "{}",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": 0,
        "created_at": 0,
    }


async def test_0004_keeps_the_oldest_of_each_active_url(empty: Database) -> None:
    await migrate(empty, "0003")
    endpoints = [
        _endpoint("first", "HTTPS://Hooks.Example.COM:443/h", 1),
        _endpoint("again", "https://hooks.example.com/h", 2),
        _endpoint("removed", "https://hooks.example.com/h", 0, disabled_at=5),
        _endpoint("other", "https://hooks.example.com/other#x", 3),
        _endpoint("dev", "https://hooks.example.com/h", 4, sandbox="DEV.1"),
    ]
    async with empty.write() as conn:
        await conn.execute(insert(webhook_endpoints), endpoints)
        await conn.execute(
            insert(webhook_deliveries), [_delivery("again", 1), _delivery("first", 1)]
        )
    await migrate(empty, "head")
    async with empty.read() as conn:
        rows = await conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.url, webhook_endpoints.c.disabled_at)
        )
        after = {row.id: (row.url, row.disabled_at is None) for row in rows}
        statuses = dict(
            (
                await conn.execute(
                    select(webhook_deliveries.c.endpoint_id, webhook_deliveries.c.last_error)
                )
            ).all()
        )
    assert after == {
        "first": ("https://hooks.example.com/h", True),
        "again": ("https://hooks.example.com/h", False),
        "removed": ("https://hooks.example.com/h", False),
        "other": ("https://hooks.example.com/other", True),
        "dev": ("https://hooks.example.com/h", True),
    }
    assert statuses == {
        "first": None,
        "again": "the endpoint was removed: a duplicate of endpoint first",
    }
    with pytest.raises(IntegrityError):
        async with empty.write() as conn:
            await conn.execute(
                insert(webhook_endpoints), _endpoint("third", "https://hooks.example.com/h", 9)
            )
