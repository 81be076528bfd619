"""One event id is applied once, whatever the concurrency or number of service
processes: 50 concurrent requests carrying it through two `laurels serve` processes
on one database → accepted once, 49 duplicates, the stat counted once, one unlock."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.outbox.tables import UNLOCKED, outbox
from laurels.progress.tables import player_stats
from tests.helpers import publish_config, start_serve, token_for
from tests.helpers.events import WEAPONS_TITLE

ROUNDS = 5
CONCURRENT = 50


@pytest.mark.slow
async def test_fifty_concurrent_requests_with_one_event_id_through_two_processes(
    db: Database, database_url: str
) -> None:
    await publish_config(db, WEAPONS_TITLE)
    server_token = await token_for(db, server=True)
    processes = (start_serve(database_url), start_serve(database_url))
    try:
        urls = [p.url for p in processes]
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            for round_number in range(ROUNDS):
                xuid = str(2_000_000 + round_number)
                answers = await _race(client, urls, server_token, xuid)
                assert sorted(answers) == [(0, 1)] * (CONCURRENT - 1) + [(1, 0)], round_number
                async with db.read() as conn:
                    value = await conn.scalar(
                        select(player_stats.c.value).where(
                            player_stats.c.xuid == xuid, player_stats.c.stat == "Kills"
                        )
                    )
                    unlocks = await conn.scalar(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.xuid == xuid, outbox.c.event_type == UNLOCKED)
                    )
                    feed = await conn.scalar(
                        select(func.count()).select_from(activity).where(activity.c.xuid == xuid)
                    )
                assert (value, unlocks, feed) == (30, 1, 1), round_number
    finally:
        for process in processes:
            process.stop()


async def _race(
    client: httpx.AsyncClient, urls: list[str], token: str, xuid: str
) -> list[tuple[int, int]]:
    body = {
        "titleId": WEAPONS_TITLE["title"]["id"],
        "events": [
            {"id": str(uuid.uuid4()), "name": "EnemyDefeated", "measurements": {"count": 30}}
        ],
    }
    headers = {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}
    start = asyncio.Event()

    async def one(n: int) -> tuple[int, int]:
        await start.wait()
        response = await client.post(
            urls[n % 2] + f"/users/xuid({xuid})/events", json=body, headers=headers
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        return answer["accepted"], answer["duplicates"]

    tasks = [asyncio.create_task(one(n)) for n in range(CONCURRENT)]
    await asyncio.sleep(0)
    start.set()
    return list(await asyncio.gather(*tasks))


@pytest.mark.slow
async def test_requirements_met_by_concurrent_requests_still_unlock(
    db: Database, database_url: str
) -> None:
    """Achievement 2 needs two stats; two requests through two processes each bring
    one. Without the player's lock each could read the other's stat as unset, and
    neither would unlock."""
    await publish_config(db, WEAPONS_TITLE)
    server_token = await token_for(db, server=True)
    headers = {"Authorization": f"Bearer {server_token}", "x-xbl-contract-version": "2"}
    sword = {"weapon": "Sword", "difficulty": "Hard"}
    halves = [
        [{"name": "EnemyDefeated", "measurements": {"damage": 80}}],
        [{"name": "EnemyDefeated", "dimensions": sword}] * 2,
    ]
    processes = (start_serve(database_url), start_serve(database_url))
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for round_number in range(10):
                xuid = str(3_000_000 + round_number)

                async def send(n: int, xuid: str = xuid) -> None:
                    events = [{"id": str(uuid.uuid4()), **e} for e in halves[n]]
                    response = await client.post(
                        processes[n].url + f"/users/xuid({xuid})/events",
                        json={"titleId": WEAPONS_TITLE["title"]["id"], "events": events},
                        headers=headers,
                    )
                    assert response.status_code == 200, response.text

                await asyncio.gather(send(0), send(1))
                async with db.read() as conn:
                    unlocked = await conn.scalar(
                        select(func.count())
                        .select_from(outbox)
                        .where(outbox.c.xuid == xuid, outbox.c.event_type == UNLOCKED)
                    )
                assert unlocked == 1, round_number
    finally:
        for process in processes:
            process.stop()
