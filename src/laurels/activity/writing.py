"""Writing the feed: the statements the unlock transaction and a player's reset run
on the `activity` table, in the caller's transaction.

Building a row or a statement does no I/O; running the insert twice for one unlock
fails on the table's unique key, which is what keeps an unlock to one item.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Delete, Insert, bindparam, delete

from laurels.activity.tables import activity
from laurels.db import unnest_insert


def feed_row(
    *,
    sandbox: str,
    xuid: str,
    scid: str,
    title_id: int,
    achievement_id: str,
    time_unlocked: int,
    now_us: int,
) -> dict[str, Any]:
    """The parameters of `insert_statement()` for one unlock."""
    return {
        "sandbox": sandbox,
        "xuid": xuid,
        "scid": scid,
        "title_id": title_id,
        "achievement_id": achievement_id,
        "time_unlocked": time_unlocked,
        "created_at": now_us,
    }


_WRITTEN = tuple(c.name for c in activity.columns if c.name not in ("id", "txid"))


@cache
def insert_statement() -> Insert:
    """The INSERT that takes `feed_row`s (the database fills `id` and `txid`)."""
    return activity.insert().values({name: bindparam(name) for name in _WRITTEN})


@cache
def bulk_insert_statement() -> Insert:
    """PostgreSQL: the same rows in one statement, one array per column."""
    return unnest_insert(activity, {name: name for name in _WRITTEN})


def forget_player(*, sandbox: str, xuid: str, scid: str) -> Delete:
    """The DELETE that erases one player's feed for one title in a sandbox."""
    return delete(activity).where(
        activity.c.sandbox == sandbox, activity.c.xuid == xuid, activity.c.scid == scid
    )
