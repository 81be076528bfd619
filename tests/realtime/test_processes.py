"""Events cross service processes (LISTEN/NOTIFY on PostgreSQL, polling on SQLite),
and a process killed between an unlock's commit and its relay loses nothing: every
device gets the notification once, live from another process or replayed after a
reconnect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from sqlalchemy import func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.outbox.tables import UNLOCKED, outbox
from tests.helpers import (
    SCID,
    XUID,
    ServeProcess,
    publish_config,
    start_serve,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.rta import RtaClient, notify_uri, rta

pytestmark = pytest.mark.slow


@contextmanager
def serving(database_url: str, **env: str) -> Iterator[ServeProcess]:
    process = start_serve(database_url, extra_env=env)
    try:
        yield process
    finally:
        process.stop()


async def _unlock(url: str, token: str, achievement_id: str) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{url}/users/xuid({XUID})/achievements/{SCID}/update",
            json=update_body([(achievement_id, 100)]),
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code


@asynccontextmanager
async def _device(url: str, token: str, since: str | None = None) -> AsyncIterator[RtaClient]:
    async with rta(url, token) as client:
        answer = await client.subscribe(notify_uri(), since=since)
        assert answer[2] == 0
        yield client


async def _ids(client: RtaClient, count: int) -> list[str]:
    return [(await client.event())[2]["achievementId"] for _ in range(count)]


async def test_an_unlock_through_one_process_reaches_a_socket_on_another_within_a_second(
    db: Database, database_url: str
) -> None:
    await publish_config(db, title_config(5))
    token = await token_for(db)
    with serving(database_url) as a, serving(database_url) as b:
        async with _device(a.url, token) as device:
            for achievement_id in ("1", "2", "3"):
                started = time.monotonic()
                assert await _unlock(b.url, token, achievement_id) == 200
                event = await device.event(timeout=5)
                assert time.monotonic() - started < 1.0
                assert event[2]["achievementId"] == achievement_id
            assert await _unlock(b.url, token, "3") == 304
            assert await _unlock(a.url, token, "4") == 200
            assert await _ids(device, 1) == ["4"]  # nothing came twice before it


async def test_a_process_killed_after_commit_and_before_relay_loses_no_notification(
    db: Database, database_url: str
) -> None:
    await publish_config(db, title_config(5))
    token = await token_for(db)
    with serving(database_url) as steady:
        doomed = start_serve(
            database_url, extra_env={"LAURELS_FAULT_EXIT_AFTER_UNLOCK_COMMIT": "1"}
        )
        try:
            async with _device(steady.url, token) as elsewhere:
                async with rta(doomed.url, token) as on_doomed:
                    since = (await on_doomed.subscribe(notify_uri()))[4]["lastEventId"]
                    with pytest.raises(httpx.HTTPError):
                        await _unlock(doomed.url, token, "1")  # committed, then exit
                    assert doomed.process.wait(10) == 70
                # The device on the other process got it live, once.
                assert await _ids(elsewhere, 1) == ["1"]
                assert await _stored(db) == (1, 1)  # one unlock event, one feed item
                with serving(database_url) as restarted:
                    # The device of the dead process reconnects with what it had seen.
                    async with _device(restarted.url, token, since=since) as back:
                        assert await _ids(back, 1) == ["1"]
                        last = await _unlock_next(back, restarted.url, token, "2")
                    async with _device(restarted.url, token, since=last) as again:
                        assert await _unlock(restarted.url, token, "3") == 200
                        assert await _ids(again, 1) == ["3"]  # "1" and "2" are not repeated
                assert await _ids(elsewhere, 2) == ["2", "3"]
        finally:
            doomed.kill()


async def _unlock_next(device: RtaClient, url: str, token: str, achievement_id: str) -> str:
    """Unlock and return the event id, after checking it is the device's next event."""
    assert await _unlock(url, token, achievement_id) == 200
    event = (await device.event())[2]
    assert event["achievementId"] == achievement_id
    return str(event["eventId"])


async def _stored(db: Database) -> tuple[int, int]:
    """(unlock events in the outbox, activity items)."""
    async with db.read() as conn:
        unlocks = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.event_type == UNLOCKED)
        )
        items = await conn.scalar(select(func.count()).select_from(activity))
    return int(unlocks or 0), int(items or 0)


async def test_a_socket_on_a_stopping_process_is_closed_with_going_away(
    db: Database, database_url: str
) -> None:
    await publish_config(db, title_config(1))
    token = await token_for(db)
    process = start_serve(database_url)
    try:
        async with rta(process.url, token) as device:
            await device.subscribe(notify_uri())
            process.stop()
            async with asyncio.timeout(15):
                await device.ws.wait_closed()
            assert device.ws.close_code in (1001, 1012)
    finally:
        process.kill()
