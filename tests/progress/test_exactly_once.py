"""Exactly one request wins an unlock, whatever the concurrency or number of
service processes: 50 concurrent unlocks through two `laurels serve` processes on
one database → one 200, 49 × 304, one activity row, one unlock event and one
progress event in the outbox."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import ColumnElement, Table, func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.outbox.tables import PROGRESS_CHANGED, UNLOCKED, outbox
from laurels.progress.tables import progress
from tests.helpers import (
    SCID,
    publish_config,
    start_serve,
    title_config,
    token_for,
    update_body,
)

ROUNDS = 20
CONCURRENT = 50


async def _count(db: Database, table: Table, xuid: str, *where: ColumnElement[bool]) -> int:
    async with db.read() as conn:
        query = select(func.count()).select_from(table).where(table.c.xuid == xuid, *where)
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.slow
async def test_fifty_concurrent_unlocks_through_two_processes(
    db: Database, database_url: str
) -> None:
    await publish_config(db, title_config(3))
    server_token = await token_for(db, server=True)
    processes = (start_serve(database_url), start_serve(database_url))
    try:
        urls = [p.url for p in processes]
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            for round_number in range(ROUNDS):
                xuid = str(1_000_000 + round_number)
                statuses = await _unlock_race(client, urls, server_token, xuid)
                assert sorted(statuses) == [200] + [304] * (CONCURRENT - 1), round_number
                assert await _count(db, activity, xuid) == 1
                assert await _count(db, outbox, xuid, outbox.c.event_type == UNLOCKED) == 1
                assert await _count(db, outbox, xuid, outbox.c.event_type == PROGRESS_CHANGED) == 1
                assert await _count(db, progress, xuid) == 1
    finally:
        for process in processes:
            process.stop()


async def _unlock_race(
    client: httpx.AsyncClient, urls: list[str], token: str, xuid: str
) -> list[int]:
    body = update_body([("2", 100)], xuid=xuid)
    headers = {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}
    path = f"/users/xuid({xuid})/achievements/{SCID}/update"
    start = asyncio.Event()

    async def one(n: int) -> int:
        await start.wait()
        response = await client.post(urls[n % 2] + path, json=body, headers=headers)
        return response.status_code

    tasks = [asyncio.create_task(one(n)) for n in range(CONCURRENT)]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks))
