"""Writing the feed through activity's face: one item per unlock, ever, and a reset
erases one player's items of one title only, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from laurels import activity
from laurels.activity.tables import activity as activity_table
from laurels.db import Database

NOW = 1_800_000_000_000_000


def _row(xuid: str, scid: str, achievement_id: str) -> dict[str, object]:
    return activity.feed_row(
        sandbox="DEV.1",
        xuid=xuid,
        scid=scid,
        title_id=1234,
        achievement_id=achievement_id,
        time_unlocked=NOW - 1,
        now_us=NOW,
    )


async def _items(db: Database) -> list[tuple[str, str, str]]:
    query = select(
        activity_table.c.xuid, activity_table.c.scid, activity_table.c.achievement_id
    ).order_by(activity_table.c.id)
    async with db.read() as conn:
        return [tuple(row) for row in await conn.execute(query)]


async def test_a_second_item_for_one_unlock_is_refused(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(activity.insert_statement(), [_row("1", "a", "1")])

    async def again() -> None:
        async with db.write() as conn:
            await conn.execute(activity.insert_statement(), [_row("1", "a", "1")])

    with pytest.raises(IntegrityError):
        await again()
    assert await _items(db) == [("1", "a", "1")]


@pytest.mark.parametrize(
    ("xuid", "scid", "left"),
    [
        ("1", "a", [("1", "b", "1"), ("2", "a", "1")]),
        ("1", "b", [("1", "a", "1"), ("1", "a", "2"), ("2", "a", "1")]),
        ("3", "a", [("1", "a", "1"), ("1", "a", "2"), ("1", "b", "1"), ("2", "a", "1")]),
    ],
)
async def test_forgetting_a_player_erases_only_their_items_of_that_title(
    db: Database, xuid: str, scid: str, left: list[tuple[str, str, str]]
) -> None:
    rows = [_row("1", "a", "1"), _row("1", "a", "2"), _row("1", "b", "1"), _row("2", "a", "1")]
    async with db.write() as conn:
        await conn.execute(activity.insert_statement(), rows)
        await conn.execute(activity.forget_player(sandbox="DEV.1", xuid=xuid, scid=scid))
    assert await _items(db) == left
