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

from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, Insert, Table, and_, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels import activity, outbox
from laurels.progress.tables import (
    achievement_stats,
    progress,
    title_players,
    title_stats,
)
from laurels.progress.views import Progress

PROGRESS_KEY = ("sandbox", "xuid", "scid", "achievement_id")
_RETURNED = (
    *(progress.c[name] for name in PROGRESS_KEY),
    progress.c.percent,
    progress.c.time_unlocked,
)


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


_PROGRESS_VALUES = {
    "sandbox": "sandbox",
    "xuid": "xuid",
    "scid": "scid",
    "achievement_id": "achievement_id",
    "percent": "percent",
    "time_unlocked": "time_unlocked",
    "updated_at": "now",
}
_PLAYER_VALUES = {"sandbox": "sandbox", "xuid": "xuid", "scid": "scid", "first_seen": "now"}


def _keep_max(insert: Any) -> Insert:
    """The max-register: update only when the new percentage is higher, and
    return the row only when it changed."""
    upsert: Insert = insert.on_conflict_do_update(
        index_elements=list(PROGRESS_KEY),
        set_={
            "percent": insert.excluded.percent,
            "time_unlocked": insert.excluded.time_unlocked,
            "updated_at": insert.excluded.updated_at,
        },
        where=insert.excluded.percent > progress.c.percent,
    ).returning(*_RETURNED)
    return upsert


def _insert_new(insert: Any) -> Insert:
    statement: Insert = insert.on_conflict_do_nothing().returning(
        title_players.c.sandbox, title_players.c.xuid, title_players.c.scid
    )
    return statement


def _row_values(table: Table, columns: dict[str, str], dialect: str) -> Any:
    return _insert_for(dialect)(table).values(
        {column: bindparam(param) for column, param in columns.items()}
    )


def _unnest_values(table: Table, columns: dict[str, str]) -> Any:
    """PostgreSQL: one array per column; `unnest` zips them into rows."""
    source = select(
        *(
            func.unnest(bindparam(param, type_=ARRAY(table.c[column].type)))
            for column, param in columns.items()
        )
    )
    return postgresql.insert(table).from_select(list(columns), source)


@cache
def _progress_upsert(dialect: str) -> Insert:
    return _keep_max(_row_values(progress, _PROGRESS_VALUES, dialect))


@cache
def _player_insert(dialect: str) -> Insert:
    return _insert_new(_row_values(title_players, _PLAYER_VALUES, dialect))


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


@dataclass(frozen=True, slots=True)
class Step:
    """One statement of a plan, by name (see `statements()`), with one parameter
    set per row. The driver sends back the rows it returned, if any."""

    statement: str
    params: list[dict[str, Any]]
    returns: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    """What a committed plan did: per request, whether anything changed, and how
    many achievements it unlocked."""

    changed: list[bool]
    unlocks: int


Plan = Generator[Step, list[tuple[Any, ...]], Applied]
Op = tuple[UpdateRequest, ItemUpdate]


def _rounds(ops: list[Op]) -> list[list[Op]]:
    """Round n holds the n-th update of each key, so a round touches a key once
    and one key's updates keep their order of arrival."""
    rounds: list[list[Op]] = []
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for op in ops:
        key = _sort_key(op)
        if seen[key] == len(rounds):
            rounds.append([])
        rounds[seen[key]].append(op)
        seen[key] += 1
    return rounds


def _progress_params(request: UpdateRequest, item: ItemUpdate, now_us: int) -> dict[str, Any]:
    return {
        "sandbox": request.sandbox,
        "xuid": request.xuid,
        "scid": request.scid,
        "achievement_id": item.achievement_id,
        "percent": item.percent,
        "time_unlocked": item.unlock_time if item.percent >= 100 else None,
        "now": now_us,
    }


def update_plan(requests: Sequence[UpdateRequest], *, now_us: int) -> Plan:
    """The statements that apply `requests` in one transaction, as a generator
    that yields each statement and receives the rows it returned (no I/O here: a
    driver per database runs it). Every request that changed something gets one
    progress event in the outbox, and every unlock one unlock event.

    Rows are touched in key order, so concurrent transactions never deadlock."""
    index = {id(request): i for i, request in enumerate(requests)}
    changed = [False] * len(requests)
    touched: set[tuple[str, str, str]] = set()
    unlocks: list[Unlock] = []
    moved: dict[int, list[tuple[str, int, int | None]]] = {}
    ops = sorted(((r, item) for r in requests for item in r.items), key=_sort_key)
    for round_ops in _rounds(ops):
        rows = yield Step(
            "progress_upsert", [_progress_params(r, item, now_us) for r, item in round_ops], True
        )
        stored = {tuple(row[:4]): row for row in rows}
        for request, item in round_ops:
            row = stored.get(_sort_key((request, item)))
            if row is None:
                continue
            changed[index[id(request)]] = True
            moved.setdefault(index[id(request)], []).append((item.achievement_id, row[4], row[5]))
            touched.add((request.sandbox, request.xuid, request.scid))
            if row[4] >= 100:
                unlocks.append(Unlock(request, item.achievement_id, row[5]))
    yield from _player_steps(sorted(touched), now_us)
    yield from _unlock_steps(unlocks, now_us)
    events = [_progress_event(requests[i], items, now_us) for i, items in sorted(moved.items())]
    if events:
        yield Step("outbox_insert", events + [_unlock_event(u, now_us) for u in unlocks])
    return Applied(changed, len(unlocks))


def _player_steps(players: list[tuple[str, str, str]], now_us: int) -> Generator[Step, Any, None]:
    if not players:
        return
    rows = yield Step(
        "player_insert",
        [
            {"sandbox": sandbox, "xuid": xuid, "scid": scid, "now": now_us}
            for sandbox, xuid, scid in players
        ],
        True,
    )
    new = Counter((row[0], row[2]) for row in rows)
    if new:
        yield Step(
            "title_stats",
            [
                {"sandbox": sandbox, "scid": scid, "amount": count}
                for (sandbox, scid), count in sorted(new.items())
            ],
        )


def _unlock_steps(unlocks: list[Unlock], now_us: int) -> Generator[Step, Any, None]:
    if not unlocks:
        return
    counts = Counter((u.request.sandbox, u.request.scid, u.achievement_id) for u in unlocks)
    yield Step(
        "achievement_stats",
        [
            {"sandbox": sandbox, "scid": scid, "achievement_id": achievement_id, "amount": count}
            for (sandbox, scid, achievement_id), count in sorted(counts.items())
        ],
    )
    yield Step("activity_insert", [_activity_row(u, now_us) for u in unlocks])


@cache
def statements(dialect: str) -> dict[str, Insert]:
    """The plan's statements for one dialect."""
    return {
        "progress_upsert": _progress_upsert(dialect),
        "player_insert": _player_insert(dialect),
        "title_stats": _counter_upsert(dialect, "title_stats"),
        "achievement_stats": _counter_upsert(dialect, "achievement_stats"),
        "activity_insert": activity.insert_statement(),
        "outbox_insert": outbox.insert_statement(),
    }


@cache
def bulk_statements() -> dict[str, Insert]:
    """PostgreSQL: the statements that return rows, taking one array per column so
    that a whole round of a batch is one statement."""
    return {
        "progress_upsert": _keep_max(_unnest_values(progress, _PROGRESS_VALUES)),
        "player_insert": _insert_new(_unnest_values(title_players, _PLAYER_VALUES)),
    }


async def _bump(conn: AsyncConnection, table_name: str, rows: list[dict[str, Any]]) -> None:
    statement = _counter_upsert(conn.dialect.name, table_name)
    for row in rows:
        await conn.execute(statement, row)


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
    return activity.feed_row(**_identity(unlock), time_unlocked=unlock.time_unlocked, now_us=now_us)


def _player(request: UpdateRequest) -> outbox.Player:
    return outbox.Player(
        request.sandbox, request.xuid, request.scid, request.title_id, request.version
    )


def _progress_event(
    request: UpdateRequest, items: list[tuple[str, int, int | None]], now_us: int
) -> dict[str, Any]:
    progression = [outbox.AchievementProgress(*item) for item in items]
    return outbox.progress_changed(_player(request), progression, now_us=now_us)


def _unlock_event(unlock: Unlock, now_us: int) -> dict[str, Any]:
    return outbox.unlocked(
        _player(unlock.request),
        achievement_id=unlock.achievement_id,
        time_unlocked=unlock.time_unlocked,
        now_us=now_us,
    )


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
    await conn.execute(activity.forget_player(sandbox=sandbox, xuid=xuid, scid=scid))
    return int(erased)


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
