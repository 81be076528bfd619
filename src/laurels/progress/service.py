"""Player progress in the store: the max-register upsert, the unlock transaction,
reads for the list, rarity counters and resets.

The database decides every update in one statement: an upsert whose update only
happens when the new percentage is higher, returning the row only when it changed.
The statement that moves an achievement to 100 is the unlock: in the same
transaction it stamps `timeUnlocked`, writes one activity row and one outbox row,
and counts the unlock. Whatever the concurrency or number of processes, exactly one
statement can move a row to 100.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, and_, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.progress.tables import (
    achievement_stats,
    activity,
    outbox,
    progress,
    title_players,
    title_stats,
)
from laurels.progress.views import Progress
from laurels.timefmt import format_time, from_micros

PROGRESS_KEY = ("sandbox", "xuid", "scid", "achievement_id")


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    achievement_id: str
    percent: int  # already clamped to 1..100
    unlock_time: int  # microseconds: recorded as timeUnlocked if this unlocks


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """One POST .../update: applied as a whole; changed if any item changed."""

    sandbox: str
    xuid: str
    scid: str
    title_id: int
    version: int
    items: tuple[ItemUpdate, ...]


@dataclass(frozen=True, slots=True)
class Unlock:
    request: UpdateRequest
    achievement_id: str
    time_unlocked: int


def _insert_for(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@cache
def _progress_upsert(dialect: str) -> Insert:
    insert = _insert_for(dialect)(progress).values(
        sandbox=bindparam("sandbox"),
        xuid=bindparam("xuid"),
        scid=bindparam("scid"),
        achievement_id=bindparam("achievement_id"),
        percent=bindparam("percent"),
        time_unlocked=bindparam("time_unlocked"),
        updated_at=bindparam("now"),
    )
    upsert: Insert = insert.on_conflict_do_update(
        index_elements=list(PROGRESS_KEY),
        set_={
            "percent": insert.excluded.percent,
            "time_unlocked": insert.excluded.time_unlocked,
            "updated_at": insert.excluded.updated_at,
        },
        where=insert.excluded.percent > progress.c.percent,
    ).returning(progress.c.percent, progress.c.time_unlocked)
    return upsert


@cache
def _player_insert(dialect: str) -> Insert:
    insert = _insert_for(dialect)(title_players).values(
        sandbox=bindparam("sandbox"),
        xuid=bindparam("xuid"),
        scid=bindparam("scid"),
        first_seen=bindparam("now"),
    )
    statement: Insert = insert.on_conflict_do_nothing().returning(title_players.c.xuid)
    return statement


@cache
def _counter_upsert(dialect: str, table_name: str) -> Insert:
    table = title_stats if table_name == "title_stats" else achievement_stats
    column = "player_count" if table is title_stats else "unlock_count"
    keys = [c.name for c in table.primary_key.columns]
    insert = _insert_for(dialect)(table).values(
        {**{k: bindparam(k) for k in keys}, column: bindparam("amount")}
    )
    statement: Insert = insert.on_conflict_do_update(
        index_elements=keys,
        set_={column: table.c[column] + insert.excluded[column]},
    )
    return statement


def _sort_key(op: tuple[UpdateRequest, ItemUpdate]) -> tuple[str, str, str, str]:
    request, item = op
    return request.sandbox, request.xuid, request.scid, item.achievement_id


async def apply_updates(
    conn: AsyncConnection, requests: Sequence[UpdateRequest], *, now_us: int
) -> list[bool]:
    """Apply every request in one transaction; returns, per request, whether
    anything changed. Rows are touched in key order, so concurrent transactions
    never deadlock; the order of updates to one key is the order of arrival."""
    dialect = conn.dialect.name
    index = {id(request): i for i, request in enumerate(requests)}
    ops = sorted(((r, item) for r in requests for item in r.items), key=_sort_key)
    changed = [False] * len(requests)
    touched: dict[tuple[str, str, str], UpdateRequest] = {}
    unlocks: list[Unlock] = []
    upsert = _progress_upsert(dialect)
    for request, item in ops:
        row = (
            await conn.execute(
                upsert,
                {
                    "sandbox": request.sandbox,
                    "xuid": request.xuid,
                    "scid": request.scid,
                    "achievement_id": item.achievement_id,
                    "percent": item.percent,
                    "time_unlocked": item.unlock_time if item.percent >= 100 else None,
                    "now": now_us,
                },
            )
        ).first()
        if row is None:
            continue
        changed[index[id(request)]] = True
        touched[(request.sandbox, request.xuid, request.scid)] = request
        if row.percent >= 100:
            unlocks.append(Unlock(request, item.achievement_id, row.time_unlocked))
    await _count_new_players(conn, sorted(touched), now_us)
    await _record_unlocks(conn, unlocks, now_us)
    return changed


async def _count_new_players(
    conn: AsyncConnection, players: list[tuple[str, str, str]], now_us: int
) -> None:
    new: Counter[tuple[str, str]] = Counter()
    statement = _player_insert(conn.dialect.name)
    for sandbox, xuid, scid in players:
        inserted = (
            await conn.execute(
                statement, {"sandbox": sandbox, "xuid": xuid, "scid": scid, "now": now_us}
            )
        ).first()
        if inserted is not None:
            new[(sandbox, scid)] += 1
    await _bump(
        conn,
        "title_stats",
        [{"sandbox": s, "scid": c, "amount": n} for (s, c), n in sorted(new.items())],
    )


async def _bump(conn: AsyncConnection, table_name: str, rows: list[dict[str, Any]]) -> None:
    statement = _counter_upsert(conn.dialect.name, table_name)
    for row in rows:
        await conn.execute(statement, row)


async def _record_unlocks(conn: AsyncConnection, unlocks: list[Unlock], now_us: int) -> None:
    if not unlocks:
        return
    counts = Counter((u.request.sandbox, u.request.scid, u.achievement_id) for u in unlocks)
    await _bump(
        conn,
        "achievement_stats",
        [
            {"sandbox": s, "scid": c, "achievement_id": a, "amount": n}
            for (s, c, a), n in sorted(counts.items())
        ],
    )
    await conn.execute(activity.insert(), [_activity_row(u, now_us) for u in unlocks])
    await conn.execute(outbox.insert(), [_outbox_row(u, now_us) for u in unlocks])


def _identity(unlock: Unlock) -> dict[str, Any]:
    request = unlock.request
    return {
        "sandbox": request.sandbox,
        "xuid": request.xuid,
        "scid": request.scid,
        "title_id": request.title_id,
        "achievement_id": unlock.achievement_id,
    }


def _activity_row(unlock: Unlock, now_us: int) -> dict[str, Any]:
    return {**_identity(unlock), "time_unlocked": unlock.time_unlocked, "created_at": now_us}


def _outbox_row(unlock: Unlock, now_us: int) -> dict[str, Any]:
    payload = {
        "sandbox": unlock.request.sandbox,
        "xuid": unlock.request.xuid,
        "titleId": unlock.request.title_id,
        "serviceConfigId": unlock.request.scid,
        "achievementId": unlock.achievement_id,
        "configVersion": unlock.request.version,
        "unlockTime": format_time(from_micros(unlock.time_unlocked)),
    }
    return {
        **_identity(unlock),
        "event_type": "achievement.unlocked",
        "payload": json.dumps(payload, separators=(",", ":")),
        "created_at": now_us,
        "published_at": None,
    }


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
    """Erase one player's data for a title in a sandbox and take it out of the
    rarity counters; returns how many progress rows were erased. The caller
    refuses RETAIL."""
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
        await _bump(conn, "title_stats", [{"sandbox": sandbox, "scid": scid, "amount": -1}])
    await _bump(
        conn,
        "achievement_stats",
        [{"sandbox": sandbox, "scid": scid, "achievement_id": a, "amount": -1} for a in unlocked],
    )
    await conn.execute(
        delete(activity).where(
            activity.c.sandbox == sandbox, activity.c.xuid == xuid, activity.c.scid == scid
        )
    )
    return int(erased)
