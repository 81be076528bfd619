"""Rows the update transaction writes to the outbox, how the webhooks take the
unlocks once each, and what a NOTIFY payload tells a reader."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import insert, select

from laurels import outbox
from laurels.db import Database
from laurels.outbox.reading import entry
from laurels.outbox.tables import outbox as outbox_table
from laurels.outbox.wakeup import txid_of

PLAYER = outbox.Player("DEV.1", "2533274800000001", "0000-scid", 1234, 3)
NOW = 1_800_000_000_000_000
UNLOCK_TIME = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("progression", "achievement_id", "items"),
    [
        (
            [outbox.AchievementProgress("1", 40, None)],
            "1",
            [{"id": "1", "percent": 40, "timeUnlocked": None}],
        ),
        (
            [
                outbox.AchievementProgress("2", 100, UNLOCK_TIME),
                outbox.AchievementProgress("7", 5, None),
            ],
            "2",
            [
                {"id": "2", "percent": 100, "timeUnlocked": UNLOCK_TIME},
                {"id": "7", "percent": 5, "timeUnlocked": None},
            ],
        ),
    ],
)
def test_a_progress_row_lists_what_the_update_moved(
    progression: list[outbox.AchievementProgress], achievement_id: str, items: list[Any]
) -> None:
    row = outbox.progress_changed(PLAYER, progression, now_us=NOW)
    assert json.loads(row.pop("payload")) == {"configVersion": 3, "progression": items}
    assert row == {
        "sandbox": "DEV.1",
        "xuid": "2533274800000001",
        "scid": "0000-scid",
        "title_id": 1234,
        "achievement_id": achievement_id,
        "event_type": outbox.PROGRESS_CHANGED,
        "created_at": NOW,
        "published_at": NOW,  # only the relay reads it: nothing waits for the webhooks
    }


def test_an_events_row_holds_the_shared_values_once_and_reads_as_items() -> None:
    """An events request that moved three achievements on one stat: the row holds
    the stat's value once; read back, each achievement is an item with it, like an
    update's, unlocked ones at 100 with their time."""
    row = outbox.requirements_moved(
        PLAYER, ["3", "1", "2"], {"Kills": 30}, {"1": UNLOCK_TIME}, now_us=NOW
    )
    text = row.pop("payload")
    assert json.loads(text) == {
        "configVersion": 3,
        "moved": ["3", "1", "2"],
        "current": {"Kills": 30},
        "unlocked": {"1": UNLOCK_TIME},
    }
    assert (row["event_type"], row["achievement_id"], row["published_at"]) == (
        outbox.PROGRESS_CHANGED,
        "3",
        NOW,
    )
    read = entry((7, 1, row["event_type"], "DEV.1", "x", "s", 1234, "3", text, NOW))
    assert read.payload == {
        "configVersion": 3,
        "progression": [
            {"id": "3", "percent": 0, "timeUnlocked": None, "current": {"Kills": 30}},
            {"id": "1", "percent": 100, "timeUnlocked": UNLOCK_TIME, "current": {"Kills": 30}},
            {"id": "2", "percent": 0, "timeUnlocked": None, "current": {"Kills": 30}},
        ],
    }


def test_a_row_written_before_the_compact_form_reads_as_it_was() -> None:
    """Event rows were written item by item before; the outbox may still hold some."""
    items = [{"id": "1", "percent": 0, "timeUnlocked": None, "current": {"Kills": 3}}]
    text = json.dumps({"configVersion": 2, "progression": items})
    read = entry((7, 1, outbox.PROGRESS_CHANGED, "DEV.1", "x", "s", 1234, "1", text, NOW))
    assert read.payload == {"configVersion": 2, "progression": items}


def test_an_unlock_row_waits_for_the_webhooks() -> None:
    row = outbox.unlocked(PLAYER, achievement_id="2", time_unlocked=UNLOCK_TIME, now_us=NOW)
    assert json.loads(row.pop("payload")) == {
        "sandbox": "DEV.1",
        "xuid": "2533274800000001",
        "titleId": 1234,
        "serviceConfigId": "0000-scid",
        "achievementId": "2",
        "configVersion": 3,
        "unlockTime": "2026-01-01T00:00:00.0000000Z",
    }
    assert (row["event_type"], row["achievement_id"], row["published_at"]) == (
        outbox.UNLOCKED,
        "2",
        None,
    )


@pytest.mark.parametrize(
    ("payload", "txid"),
    [("42", 42), (str(2**63 - 1), 2**63 - 1), ("", None), ("x1", None), ("1.5", None)],
)
def test_a_notify_payload_names_a_transaction_or_nothing(payload: str, txid: int | None) -> None:
    assert txid_of(payload) == txid


async def test_unlocks_are_handed_over_once_oldest_first(db: Database) -> None:
    rows = [
        outbox.unlocked(PLAYER, achievement_id=str(n), time_unlocked=UNLOCK_TIME, now_us=NOW)
        for n in range(3)
    ]
    rows.append(
        outbox.progress_changed(PLAYER, [outbox.AchievementProgress("9", 1, None)], now_us=NOW)
    )
    async with db.write() as conn:
        await conn.execute(outbox.insert_statement(), rows)
        assert await outbox.has_waiting_unlocks(conn)
        first = await outbox.hand_over_unlocks(conn, now_us=NOW + 1, limit=2)
        second = await outbox.hand_over_unlocks(conn, now_us=NOW + 2, limit=10)
        third = await outbox.hand_over_unlocks(conn, now_us=NOW + 3, limit=10)
        assert not await outbox.has_waiting_unlocks(conn)
    ids = sorted(row.id for row in first) + [row.id for row in second]
    assert [len(first), len(second), len(third)] == [2, 1, 0]
    assert ids == sorted(ids)
    async with db.read() as conn:
        handed = await conn.execute(
            select(outbox_table.c.achievement_id, outbox_table.c.published_at).order_by(
                outbox_table.c.id
            )
        )
        assert handed.all() == [("0", NOW + 1), ("1", NOW + 1), ("2", NOW + 2), ("9", NOW)]


async def test_a_rolled_back_hand_over_leaves_the_unlock_waiting(db: Database) -> None:
    row = outbox.unlocked(PLAYER, achievement_id="1", time_unlocked=UNLOCK_TIME, now_us=NOW)
    async with db.write() as conn:
        await conn.execute(insert(outbox_table).values(row))
    taken: list[int] = []

    async def hand_over_then_fail() -> None:
        async with db.write() as conn:
            taken.extend(
                row.id for row in await outbox.hand_over_unlocks(conn, now_us=NOW, limit=9)
            )
            raise RuntimeError("the delivery insert failed")

    with pytest.raises(RuntimeError):
        await hand_over_then_fail()
    assert len(taken) == 1
    async with db.read() as conn:
        assert await outbox.has_waiting_unlocks(conn)
