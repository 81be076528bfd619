"""Ids past 2^31: with the outbox, activity and webhook ids started just below 2^31,
unlocks through the real update API still write and read outbox events (RTA
notifications, `since` replays), feed items (continuation tokens) and webhook
deliveries and attempts. On PostgreSQL the sequences are moved; on SQLite a row at
the starting id makes the next rowid follow it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels import outbox
from laurels.activity.tables import activity
from laurels.db import Database
from laurels.outbox.tables import PROGRESS_CHANGED
from laurels.outbox.tables import outbox as outbox_table
from laurels.webhooks.service import list_deliveries
from laurels.webhooks.tables import webhook_attempts, webhook_deliveries
from tests.helpers import SCID, TITLE_ID, XUID, Api, eventually
from tests.helpers.rta import notify_uri, rta
from tests.helpers.webhooks import Receiver, add

BELOW = 2**31 - 2  # the next ids are 2^31 - 2, 2^31 - 1, 2^31, ...
UNLOCKED = ["1", "2", "3", "4", "5"]
PLACEHOLDER = {"sandbox": "DEV.0", "xuid": "1", "scid": SCID, "title_id": TITLE_ID}


async def _jump_sqlite(conn: AsyncConnection) -> None:
    """Rows just below BELOW, of nobody the test reads."""
    await conn.execute(
        insert(outbox_table).values(
            id=BELOW - 1,
            event_type=PROGRESS_CHANGED,
            achievement_id="0",
            payload="{}",
            created_at=0,
            published_at=0,
            **PLACEHOLDER,
        )
    )
    await conn.execute(
        insert(activity).values(
            id=BELOW - 1, achievement_id="0", time_unlocked=0, created_at=0, **PLACEHOLDER
        )
    )
    await conn.execute(
        insert(webhook_deliveries).values(
            id=BELOW - 1,
            endpoint_id="none",
            event_id=BELOW - 1,
            idempotency_key="none",
            payload="{}",
            status="delivered",
            attempts=1,
            next_attempt_at=0,
            created_at=0,
        )
    )
    await conn.execute(
        insert(webhook_attempts).values(
            id=BELOW - 1, delivery_id=BELOW - 1, attempt=1, started_at=0, duration_ms=0
        )
    )


async def _jump(db: Database) -> None:
    async with db.write() as conn:
        if db.is_sqlite:
            await _jump_sqlite(conn)
            return
        for table in ("outbox", "activity", "webhook_deliveries", "webhook_attempts"):
            sequence = await conn.scalar(text(f"SELECT pg_get_serial_sequence('{table}', 'id')"))
            await conn.execute(text(f"ALTER SEQUENCE {sequence} RESTART WITH {BELOW}"))


async def _walk_feed(api: Api, page: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"maxItems": page}
        if token is not None:
            params["continuationToken"] = token
        response = await api.client.get(
            f"/users/xuid({XUID})/activity", params=params, headers=api.auth()
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["activityItems"]
        token = body["pagingInfo"]["continuationToken"]
        if token is None:
            return items


async def test_unlocks_past_32_bit_ids_are_written_and_read(api: Api, db: Database) -> None:
    await _jump(db)
    receiver = Receiver()
    async with receiver.serving() as url, rta(api.base_url, api.token) as client:
        await add(db, url)
        start = (await client.subscribe(notify_uri()))[4]["lastEventId"]
        for achievement_id in UNLOCKED:
            assert (await api.update([(achievement_id, 50)])).status_code == 200
            assert (await api.update([(achievement_id, 100)])).status_code == 200
        notified = [(await client.event())[2] for _ in UNLOCKED]
        await eventually(
            lambda: _received(receiver, len(UNLOCKED)), 15.0, what="five webhook requests"
        )

    assert [n["achievementId"] for n in notified] == UNLOCKED
    keys = [outbox.parse_key(n["eventId"]) for n in notified]
    assert min(key[1] for key in keys) >= BELOW
    assert max(key[1] for key in keys) > 2**31  # the outbox went past 32 bits
    # A device back with `since` of an event past 2^31 gets what followed, once.
    i = next(i for i, key in enumerate(keys) if key[1] > 2**31)
    assert i < len(UNLOCKED) - 1
    async with rta(api.base_url, api.token) as client:
        await client.subscribe(notify_uri(), since=notified[i]["eventId"])
        replayed = [(await client.event())[2]["eventId"] for _ in notified[i + 1 :]]
    assert replayed == [n["eventId"] for n in notified[i + 1 :]]
    async with db.read() as conn:
        read, _ = await outbox.read_after(conn, outbox.parse_key(start), limit=100)
    events = [e for e in read if e.xuid == XUID]  # not SQLite's placeholder
    assert len(events) == 3 * len(UNLOCKED)  # two progress events and an unlock each
    assert [e.wire_id for e in events if e.is_unlock] == [n["eventId"] for n in notified]

    items = await _walk_feed(api, page=2)  # three pages, tokens carry the big ids
    assert [item["achievementId"] for item in items] == UNLOCKED[::-1]
    assert max(int(item["id"]) for item in items) >= 2**31

    async with db.read() as conn:
        deliveries = await list_deliveries(conn, limit=len(UNLOCKED))
    assert max(d.id for d in deliveries) >= 2**31
    assert {d.event_id for d in deliveries} == {key[1] for key in keys}
    assert all(d.status == "delivered" and len(d.log) == 1 for d in deliveries)


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.requests) >= count
