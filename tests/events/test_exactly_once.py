"""One event id is applied once, whatever the concurrency or number of service
processes: 50 concurrent requests carrying it through two `laurels serve` processes
on one database → accepted once, 49 duplicates, the stat counted once, one unlock."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.outbox.tables import UNLOCKED, outbox
from laurels.progress.drivers import batch_store
from laurels.progress.event_plan import EventRequest
from laurels.progress.plan import Step
from laurels.progress.rules import Event
from laurels.progress.statements import PLAYER_READ
from laurels.progress.tables import player_stats
from laurels.titles import PublishedTitle
from laurels.wire.times import now_micros
from tests.helpers import XUID, publish_config, start_serve, token_for
from tests.helpers.events import WEAPONS_TITLE
from tests.helpers.webhooks import catalog_of

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


class PausingStore:
    """The service's batch store for the database, whose first transaction stops
    right after it read the player's stats, until `release` is set: a second
    transaction then runs while the first is open."""

    def __init__(self, db: Database) -> None:
        self.store = batch_store(db)
        self.paused = threading.Event()
        self.release = threading.Event()
        self._first = True
        run = self.store._run  # type: ignore[attr-defined]
        if db.is_sqlite:

            def run_sqlite(conn: Any, step: Step) -> Any:
                rows = run(conn, step)
                self._pause_sync(step)
                return rows

            self.store._run = run_sqlite  # type: ignore[attr-defined]
        else:

            async def run_pg(raw: Any, step: Step) -> Any:
                rows = await run(raw, step)
                if self._pausing(step):
                    self.paused.set()
                    await asyncio.to_thread(self.release.wait, 10)
                return rows

            self.store._run = run_pg  # type: ignore[attr-defined]

    def _pausing(self, step: Step) -> bool:
        if step.statement == PLAYER_READ and self._first:
            self._first = False
            return True
        return False

    def _pause_sync(self, step: Step) -> None:
        if self._pausing(step):
            self.paused.set()
            self.release.wait(10)


def _request(title: PublishedTitle, events: list[Event]) -> EventRequest:
    return EventRequest("DEV.1", XUID, title.scid, title, tuple(events))


async def test_a_player_s_requests_are_applied_one_at_a_time(db: Database) -> None:
    """Achievement 2 needs two stats, and two transactions each bring one. The second
    must wait for the first (PostgreSQL: the player's row lock; SQLite: one writer),
    or each would read the other's stat as unset and neither would unlock."""
    await publish_config(db, WEAPONS_TITLE)
    async with catalog_of(db) as catalog:
        title = await catalog.by_title("DEV.1", WEAPONS_TITLE["title"]["id"])
    assert title is not None
    sword = {"weapon": "Sword", "difficulty": "Hard"}
    damage = _request(title, [Event("d", "EnemyDefeated", 1, {}, {"damage": 80})])
    kills = _request(title, [Event(f"k{n}", "EnemyDefeated", 2, sword, {}) for n in range(2)])
    first, second = PausingStore(db), PausingStore(db)
    second._first = False
    try:
        # The player exists already: a new one's row insert would make the second
        # wait for the first whatever the locks.
        lap = _request(title, [Event("lap", "LapFinished", 0, {}, {"ms": 90000})])
        second._first = False
        await second.store.apply([lap], now_us=now_micros())
        one = asyncio.create_task(first.store.apply([damage], now_us=now_micros()))
        await asyncio.to_thread(first.paused.wait, 10)
        two = asyncio.create_task(second.store.apply([kills], now_us=now_micros()))
        done, _ = await asyncio.wait([two], timeout=0.5)
        assert not done, "the second transaction ran while the first held the player"
        first.release.set()
        applied = [await one, await two]
    finally:
        first.release.set()
        await first.store.close()
        await second.store.close()
    assert [a.unlocks for a in applied] == [0, 1]
