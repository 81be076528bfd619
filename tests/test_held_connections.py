"""`HeldConnections`, the PostgreSQL connections the writer and the relay keep for
themselves (no pool checkout or liveness ping): a connection the server closed is
replaced, an SQL error keeps it, a use cut short closes it; and a running service
keeps taking updates and relaying them after the server killed its connections."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from laurels.db import Database, HeldConnections
from laurels.settings import Settings
from tests.helpers import (
    SCID,
    XUID,
    eventually,
    pg_database,
    publish_config,
    running_service,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.databases import opened


@pytest.fixture
def pg(pg_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database only (the connections under test are asyncpg's);
    made outside the test's event loop, as conftest's `database_url` is."""
    with pg_database(pg_template) as url:
        yield url


@pytest.fixture
async def db(pg: str) -> AsyncIterator[Database]:
    async with opened(pg, pool_size=2) as database:
        yield database


@pytest.fixture
async def held(db: Database) -> AsyncIterator[HeldConnections]:
    connections = HeldConnections(db)
    yield connections
    await connections.close()


async def _kill_all_but_mine(db: Database) -> int:
    """Terminate every other backend of the database, as a restart would."""
    async with db.read() as conn:
        result = await conn.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(result.scalar_one())


async def _pid(held: HeldConnections) -> int:
    async with held.connection() as conn:
        return int(await conn.fetchval("SELECT pg_backend_pid()"))


async def test_a_connection_the_server_closed_is_replaced(
    db: Database, held: HeldConnections
) -> None:
    async with held.connection() as conn:
        first = int(await conn.fetchval("SELECT pg_backend_pid()"))
    assert await _pid(held) == first  # kept between uses
    assert await _kill_all_but_mine(db) >= 1
    await eventually(conn.is_closed, what="asyncpg to see its connection closed")
    assert await _pid(held) != first


async def test_an_sql_error_keeps_the_connection(held: HeldConnections) -> None:
    first = await _pid(held)
    with pytest.raises(asyncpg.DivisionByZeroError):
        async with held.connection() as conn:
            await conn.fetchval("SELECT 1 / 0")
    assert await _pid(held) == first


async def test_a_use_cut_short_closes_the_connection(held: HeldConnections) -> None:
    first = await _pid(held)
    querying = asyncio.Event()

    async def sleep() -> None:
        async with held.connection() as conn:
            querying.set()  # the task runs on into the query before this one resumes
            await conn.execute("SELECT pg_sleep(10)")

    task = asyncio.create_task(sleep())
    await querying.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _pid(held) != first


async def _relayed(client: httpx.AsyncClient) -> float:
    text = (await client.get("/metrics")).text
    found = re.findall(
        r'^laurels_events_relayed_total\{type="achievement.progress"\} (\S+)$', text, re.M
    )
    return float(found[0]) if found else 0.0


async def test_a_service_keeps_going_after_the_server_killed_its_connections(
    db: Database,
) -> None:
    await publish_config(db, title_config(3))
    token = await token_for(db)
    headers = {"x-xbl-contract-version": "2", "Authorization": f"Bearer {token}"}
    settings = Settings(database_url=db.url, catalog_refresh_seconds=0.2)
    path = f"/users/xuid({XUID})/achievements/{SCID}/update"
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(path, json=update_body([("1", 10)]), headers=headers)
        assert answer.status_code == 200
        assert await _kill_all_but_mine(db) >= 2  # the writer's and the relay's at least
        await asyncio.sleep(0.2)  # the service's event loop sees its connections close
        for percent in (20, 30):
            answer = await client.post(path, json=update_body([("1", percent)]), headers=headers)
            assert answer.status_code == 200, answer.text

        # The relay follows the outbox again: both updates reach it.
        async def relayed_all() -> bool:
            return await _relayed(client) >= 3

        await eventually(relayed_all, what="the relay to read the outbox again")
