"""The outbox in commit order: readers never skip a row that commits late, replay
takes one player's events in a window, and pruning keeps what webhooks still need."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from laurels import outbox
from laurels.db import Database, driver_sql
from laurels.outbox.reading import after_query
from laurels.outbox.tables import PROGRESS_CHANGED, UNLOCKED
from laurels.outbox.tables import outbox as outbox_table
from laurels.wire.times import now_micros
from tests.helpers import SCID, TITLE_ID, XUID, Api


def _row(achievement_id: str, *, event_type: str = UNLOCKED, created_at: int = 0) -> dict[str, Any]:
    created = created_at or now_micros()
    return {
        "event_type": event_type,
        "sandbox": "DEV.1",
        "xuid": XUID,
        "scid": SCID,
        "title_id": TITLE_ID,
        "achievement_id": achievement_id,
        "payload": json.dumps({"unlockTime": "2026-11-23T00:00:00Z"}),
        "created_at": created,
        "published_at": None if event_type == UNLOCKED else created,
    }


async def _read(db: Database, after: outbox.Key, count: int) -> list[outbox.OutboxEntry]:
    """The first `count` events after `after`, once settled. On PostgreSQL a write
    transaction still running anywhere in the cluster (another test's database, say)
    holds newer rows back for a moment."""
    async with asyncio.timeout(10):
        while True:
            async with db.read() as conn:
                events, _ = await outbox.read_after(conn, after, limit=100)
            if len(events) >= count:
                return events
            await asyncio.sleep(0.01)


async def test_events_of_accepted_updates_come_back_in_commit_order(api: Api) -> None:
    async with api.db.read() as conn:
        start = await outbox.head(conn)
    assert (await api.update([("1", 40)])).status_code == 200
    assert (await api.update([("1", 40)])).status_code == 304
    assert (await api.update([("1", 100), ("2", 5)])).status_code == 200
    events = await _read(api.db, start, 3)
    async with api.db.read() as conn:
        assert await outbox.head(conn) >= events[-1].key
    assert [e.kind for e in events] == [PROGRESS_CHANGED, PROGRESS_CHANGED, UNLOCKED]
    assert events[0].payload["progression"] == [{"id": "1", "percent": 40, "timeUnlocked": None}]
    moved = {item["id"]: item["percent"] for item in events[1].payload["progression"]}
    assert moved == {"1": 100, "2": 5}
    assert events[2].achievement_id == "1"
    assert [e.key for e in events] == sorted(e.key for e in events)
    assert outbox.parse_key(events[2].wire_id) == events[2].key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "a.b",
        "1.2.3",
        "-1.2",
        "1.-2",
        "9" * 40 + ".1",
        "9223372036854775808.1",  # 2^63: no BIGINT holds it
        "1.9223372036854775808",
        "１.2",  # a digit, but not an ASCII one
    ],
)
def test_a_bad_event_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an event id"):
        outbox.parse_key(text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("0.0", (0, 0)),
        ("2147483647.2147483648", (2**31 - 1, 2**31)),  # past 32 bits
        ("9223372036854775807.9223372036854775807", (2**63 - 1, 2**63 - 1)),
    ],
)
def test_event_ids_are_64_bit(text: str, key: outbox.Key) -> None:
    assert outbox.parse_key(text) == key
    assert outbox.format_key(key) == text


async def test_a_row_that_commits_late_is_not_skipped(db: Database) -> None:
    """PostgreSQL: the older transaction commits after the newer one; a reader
    that had followed ids would have passed the older row by."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: ids are commit order")
    async with db.read() as conn:
        start = await outbox.head(conn)
    async with db.engine.connect() as older, db.engine.connect() as newer:
        await older.begin()
        await older.execute(insert(outbox_table).values(_row("1")))
        await newer.begin()
        await newer.execute(insert(outbox_table).values(_row("2")))
        await newer.commit()
        async with db.read() as conn:
            held, xmin = await outbox.read_after(conn, start, limit=10)
        assert held == []  # "2" waits behind the running older transaction
        assert xmin > 0
        await older.commit()
    events = await _read(db, start, 2)
    assert [e.achievement_id for e in events] == ["1", "2"]


async def test_replay_takes_one_players_window_and_pruning_keeps_unsent_unlocks(
    db: Database,
) -> None:
    old = now_micros() - 3_600_000_000
    rows = [
        _row("1", created_at=old),
        _row("2", event_type=PROGRESS_CHANGED, created_at=old),
        _row("3"),
        {**_row("4"), "xuid": "99"},
        _row("5", event_type=PROGRESS_CHANGED),
    ]
    async with db.write() as conn:
        for row in rows:
            await conn.execute(insert(outbox_table).values(row))
    upto = (await _read(db, outbox.START, len(rows)))[-1].key
    async with db.read() as conn:
        unlocks = await outbox.read_player(
            conn,
            sandbox="DEV.1",
            xuid=XUID,
            kind=UNLOCKED,
            title_id=TITLE_ID,
            after=outbox.START,
            upto=upto,
            since_us=0,
            limit=10,
        )
        recent = await outbox.read_player(
            conn,
            sandbox="DEV.1",
            xuid=XUID,
            kind=UNLOCKED,
            after=outbox.START,
            upto=upto,
            since_us=old + 1,
            limit=10,
        )
    assert [e.achievement_id for e in unlocks] == ["1", "3"]
    assert [e.achievement_id for e in recent] == ["3"]
    cutoff = now_micros() - 60_000_000
    async with db.write() as conn:  # "1" waits for the webhooks: it stays
        gone = await outbox.prune(
            conn, progress_before_us=cutoff, unlocks_before_us=cutoff, limit=100
        )
    assert gone == 1  # the old progress event
    async with db.write() as conn:
        await conn.execute(
            update(outbox_table)
            .values(published_at=now_micros())
            .where(outbox_table.c.achievement_id == "1")
        )
        gone = await outbox.prune(
            conn, progress_before_us=cutoff, unlocks_before_us=cutoff, limit=100
        )
    assert gone == 1
    async with db.read() as conn:
        left = (await conn.execute(select(outbox_table.c.achievement_id))).scalars().all()
    assert sorted(left) == ["3", "4", "5"]


async def test_the_relay_s_tail_reads_what_read_after_reads(api: Api) -> None:
    """`OutboxTail` (the relay's read on a driver connection) and `read_after` are the
    same query: the same entries after the same key, in the same order."""
    async with api.db.read() as conn:
        start = await outbox.head(conn)
    for percent in (10, 20, 100):
        assert (await api.update([("1", percent), ("2", percent)])).status_code == 200
    expected = await _read(api.db, start, 4)
    tail = outbox.outbox_tail(api.db)
    try:
        found, xmin = await tail.read_after(start, limit=100)
        assert found[: len(expected)] == expected
        assert (xmin == 0) == api.db.is_sqlite
        later, _ = await tail.read_after(expected[1].key, limit=2)
        assert later == expected[2:4]
    finally:
        await tail.close()


def test_on_sqlite_the_read_after_a_key_follows_the_primary_key() -> None:
    """A row-value comparison `(txid, id) > (?, ?)` made SQLite scan the whole outbox
    (and sort it) on every read: up to 10 minutes of traffic under load."""
    query = driver_sql(after_query("sqlite"), "sqlite")
    conn = sqlite3.connect(":memory:")
    conn.execute(str(CreateTable(outbox_table).compile(dialect=sqlite.dialect())))
    plan = conn.execute(f"EXPLAIN QUERY PLAN {query.sql}", (0, 500, 0)).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "PRIMARY KEY" in details
    assert "SCAN" not in details
    assert "TEMP B-TREE" not in details
