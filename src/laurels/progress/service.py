"""Progress's face: what other features use of players' progress.

The update path itself is split by what each part holds: `plan.py` (the pure update
plan), `statements.py` (the SQL, with the max-register `keep_max`), `drivers.py`
(running a plan in one transaction on SQLite or PostgreSQL), `writer.py` (group
commit), `updates.py` (validating an update), `reads.py` (the achievement list),
`views.py` (the Achievement renderer). Other features import this module only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, func, select

from laurels import activity
from laurels.progress import statements
from laurels.progress.plan import Applied, ItemUpdate, UpdateRequest
from laurels.progress.policy import refuse_retail
from laurels.progress.tables import (
    achievement_stats,
    applied_events,
    player_stats,
    progress,
    title_players,
    title_stats,
)
from laurels.progress.views import Progress, stat_requirements
from laurels.sqlasync import AsyncConnection

if TYPE_CHECKING:
    from laurels.progress.reads import ListQuery as ListQuery

__all__ = [
    "Applied",
    "ItemUpdate",
    "Progress",
    "ProgressCounts",
    "Stats",
    "UpdateRequest",
    "count_progress",
    "list_query",
    "prune_applied_events",
    "read_player_stats",
    "read_progress",
    "read_stats",
    "read_titles_played",
    "refuse_retail",
    "reset_player",
    "stat_requirements",
]


def list_query(title_ids: Sequence[int], *, order_by: str = "Unordered") -> ListQuery:
    """A query of the achievement list (`Runtime.reader.list`) for other features:
    every achievement of `title_ids` in `order_by` (Unordered, Title, UnlockTime or
    EndingSoon; ValueError for another), one page of the largest size."""
    from laurels.progress.reads import ORDERS, ListQuery  # reads imports this module

    if order_by not in ORDERS.values():
        raise ValueError(f"order {order_by!r} is not one of {sorted(ORDERS.values())}")
    return ListQuery(title_ids=tuple(title_ids), order_by=order_by)


async def read_progress(
    conn: AsyncConnection, *, sandbox: str, xuid: str, scids: Sequence[str]
) -> dict[tuple[str, str], Progress]:
    """(scid, achievement id) → the player's progress."""
    rows = await conn.execute(
        select(
            progress.c.scid, progress.c.achievement_id, progress.c.percent, progress.c.time_unlocked
        ).where(
            progress.c.sandbox == sandbox, progress.c.xuid == xuid, progress.c.scid.in_(list(scids))
        )
    )
    return {(r.scid, r.achievement_id): Progress(r.percent, r.time_unlocked) for r in rows}


async def read_player_stats(
    conn: AsyncConnection, *, sandbox: str, xuid: str, scids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """scid → the player's set stats (name → value) of event-based titles."""
    rows = await conn.execute(
        select(player_stats.c.scid, player_stats.c.stat, player_stats.c.value).where(
            player_stats.c.sandbox == sandbox,
            player_stats.c.xuid == xuid,
            player_stats.c.scid.in_(list(scids)),
        )
    )
    found: dict[str, dict[str, int]] = {}
    for row in rows:
        found.setdefault(row.scid, {})[row.stat] = row.value
    return found


async def prune_applied_events(conn: AsyncConnection, *, before_us: int) -> int:
    """Forget event ids applied before `before_us` (older than the window in which a
    redelivery is still honoured); returns how many."""
    result = await conn.execute(
        delete(applied_events).where(applied_events.c.created_at < before_us)
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class Stats:
    players: dict[str, int]
    unlocks: dict[tuple[str, str], int]

    def of(self, scid: str, achievement_id: str) -> tuple[int, int]:
        return self.unlocks.get((scid, achievement_id), 0), self.players.get(scid, 0)


async def read_stats(conn: AsyncConnection, *, sandbox: str, scids: Sequence[str]) -> Stats:
    """Rarity counters of the titles in a sandbox: two indexed reads, no scan."""
    players = await conn.execute(
        select(title_stats.c.scid, title_stats.c.player_count).where(
            title_stats.c.sandbox == sandbox, title_stats.c.scid.in_(list(scids))
        )
    )
    unlocks = await conn.execute(
        select(
            achievement_stats.c.scid,
            achievement_stats.c.achievement_id,
            achievement_stats.c.unlock_count,
        ).where(achievement_stats.c.sandbox == sandbox, achievement_stats.c.scid.in_(list(scids)))
    )
    return Stats(
        players={r.scid: r.player_count for r in players},
        unlocks={(r.scid, r.achievement_id): r.unlock_count for r in unlocks},
    )


async def reset_player(conn: AsyncConnection, *, sandbox: str, xuid: str, scid: str) -> int:
    """Erase one player's data for a title in a sandbox (progress, stats, applied
    event ids, feed) and take it out of the rarity counters; returns how many
    progress rows were erased. The caller refuses RETAIL."""
    where = and_(progress.c.sandbox == sandbox, progress.c.xuid == xuid, progress.c.scid == scid)
    unlocked = list(
        (
            await conn.execute(
                select(progress.c.achievement_id)
                .where(where, progress.c.percent >= 100)
                .order_by(progress.c.achievement_id)
            )
        ).scalars()
    )
    erased = (await conn.execute(delete(progress).where(where))).rowcount
    for table in (player_stats, applied_events):
        await conn.execute(
            delete(table).where(
                table.c.sandbox == sandbox, table.c.xuid == xuid, table.c.scid == scid
            )
        )
    player = (
        await conn.execute(
            delete(title_players).where(
                title_players.c.sandbox == sandbox,
                title_players.c.xuid == xuid,
                title_players.c.scid == scid,
            )
        )
    ).rowcount
    if player:
        await conn.execute(
            statements.player_count(conn.dialect.name),
            {"sandbox": sandbox, "scid": scid, "amount": -1},
        )
    unlock_count = statements.unlock_count(conn.dialect.name)
    for achievement_id in unlocked:
        await conn.execute(
            unlock_count,
            {"sandbox": sandbox, "scid": scid, "achievement_id": achievement_id, "amount": -1},
        )
    await conn.execute(activity.forget_player(sandbox=sandbox, xuid=xuid, scid=scid))
    return int(erased)


@dataclass(frozen=True)
class ProgressCounts:
    """A sandbox's stored progress rows (one per player and achievement): how many,
    how many changed since a time, and of each how many are unlocked."""

    updates: int
    recent_updates: int
    unlocks: int
    recent_unlocks: int


async def count_progress(conn: AsyncConnection, *, sandbox: str, since_us: int) -> ProgressCounts:
    """One scan of the sandbox's progress rows. A row's `updated_at` is its last
    change; an unlocked row never changes again, so it is also its unlock's time."""
    recent = progress.c.updated_at >= since_us
    unlocked = progress.c.percent >= 100
    row = (
        await conn.execute(
            select(
                func.count().label("updates"),
                func.count().filter(recent).label("recent_updates"),
                func.count().filter(unlocked).label("unlocks"),
                func.count().filter(recent & unlocked).label("recent_unlocks"),
            ).where(progress.c.sandbox == sandbox)
        )
    ).one()
    return ProgressCounts(
        int(row.updates), int(row.recent_updates), int(row.unlocks), int(row.recent_unlocks)
    )


async def read_titles_played(
    conn: AsyncConnection, *, sandbox: str, xuid: str, scid: str | None
) -> dict[str, int]:
    """scid → when the player first touched the title in the sandbox (only `scid`'s
    when given)."""
    query = select(title_players.c.scid, title_players.c.first_seen).where(
        title_players.c.sandbox == sandbox, title_players.c.xuid == xuid
    )
    if scid is not None:
        query = query.where(title_players.c.scid == scid)
    return {row.scid: row.first_seen for row in await conn.execute(query)}
