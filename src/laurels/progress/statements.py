"""The SQL of the update path, as SQLAlchemy Core statements for one dialect.

The heart is `keep_max`: the max-register upsert. It updates a progress row only when
the new percentage is higher and returns the row only when it changed, so the
database decides every update in one statement; the statement that moves an
achievement to 100 is the unlock, and whatever the concurrency or number of
processes exactly one statement can do that. The rest count players and unlocks
(rarity without a scan), and write the feed and the outbox through their features'
faces. Building a statement does no I/O; each is built once per dialect.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    CompoundSelect,
    Insert,
    Table,
    and_,
    bindparam,
    func,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from laurels import activity, outbox
from laurels.db import unnest_insert
from laurels.progress.tables import (
    achievement_stats,
    applied_events,
    player_stats,
    progress,
    title_players,
    title_stats,
)

PROGRESS_KEY = ("sandbox", "xuid", "scid", "achievement_id")

# The names a plan's steps use (see plan.Step).
PROGRESS_UPSERT = "progress_upsert"
PLAYER_INSERT = "player_insert"
PLAYER_COUNT = "title_stats"
UNLOCK_COUNT = "achievement_stats"
FEED_INSERT = "activity_insert"
OUTBOX_INSERT = "outbox_insert"
# The event plan's (spec/events.md).
PLAYER_CLAIM = "player_claim"
APPLIED_INSERT = "applied_events_insert"
PLAYER_READ = "player_read"
STATS_WRITE = "player_stats_write"
# What a PLAYER_READ row holds (its first column).
STAT, UNLOCKED = 0, 1

# column → the bound parameter that fills it
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
_APPLIED_VALUES = {
    "sandbox": "sandbox",
    "xuid": "xuid",
    "scid": "scid",
    "event_id": "event_id",
    "created_at": "now",
}
_STATS_VALUES = {
    "sandbox": "sandbox",
    "xuid": "xuid",
    "scid": "scid",
    "stat": "stat",
    "value": "value",
    "updated_at": "now",
}


def _insert_for(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def keep_max(insert: Any) -> Insert:
    """The max-register on a progress INSERT: update only when the new percentage is
    higher, and return (sandbox, xuid, scid, achievement_id, percent, time_unlocked)
    only when the row changed (see plan.StoredProgress)."""
    upsert: Insert = insert.on_conflict_do_update(
        index_elements=list(PROGRESS_KEY),
        set_={
            "percent": insert.excluded.percent,
            "time_unlocked": insert.excluded.time_unlocked,
            "updated_at": insert.excluded.updated_at,
        },
        where=insert.excluded.percent > progress.c.percent,
    ).returning(
        *(progress.c[name] for name in PROGRESS_KEY), progress.c.percent, progress.c.time_unlocked
    )
    return upsert


def insert_new(insert: Any) -> Insert:
    """A title_players INSERT that returns (sandbox, xuid, scid) of new players only
    (see plan.NewPlayer)."""
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
    return unnest_insert(table, columns)


def _add_to(dialect: str, table: Table, column: str) -> Insert:
    """Add `amount` to a counter row, creating it when missing."""
    keys = [c.name for c in table.primary_key.columns]
    insert = _insert_for(dialect)(table).values(
        {**{k: bindparam(k) for k in keys}, column: bindparam("amount")}
    )
    statement: Insert = insert.on_conflict_do_update(
        index_elements=keys,
        set_={column: table.c[column] + insert.excluded[column]},
    )
    return statement


@cache
def player_count(dialect: str) -> Insert:
    """Add `amount` to a title's player count (sandbox, scid)."""
    return _add_to(dialect, title_stats, "player_count")


@cache
def unlock_count(dialect: str) -> Insert:
    """Add `amount` to an achievement's unlock count (sandbox, scid, achievement_id)."""
    return _add_to(dialect, achievement_stats, "unlock_count")


def first_apply(insert: Any) -> Insert:
    """An applied_events INSERT that returns (sandbox, xuid, scid, event_id) of the
    ids not applied before: the unique key decides, not a read before the write."""
    statement: Insert = insert.on_conflict_do_nothing().returning(
        applied_events.c.sandbox,
        applied_events.c.xuid,
        applied_events.c.scid,
        applied_events.c.event_id,
    )
    return statement


def _set_stat(insert: Any) -> Insert:
    """Store a stat's new value (the plan computed it under the player's lock)."""
    statement: Insert = insert.on_conflict_do_update(
        index_elements=["sandbox", "xuid", "scid", "stat"],
        set_={"value": insert.excluded.value, "updated_at": insert.excluded.updated_at},
    )
    return statement


def _of_players(table: Table, bulk: bool) -> ColumnElement[bool]:
    """The rows of the players named by (sandbox, xuid, scid): one parameter set per
    player, or on PostgreSQL one array per column."""
    if not bulk:
        return and_(
            table.c.sandbox == bindparam("sandbox"),
            table.c.xuid == bindparam("xuid"),
            table.c.scid == bindparam("scid"),
        )
    players = select(
        *(
            func.unnest(bindparam(name, type_=ARRAY(table.c[name].type)))
            for name in ("sandbox", "xuid", "scid")
        )
    )
    return tuple_(table.c.sandbox, table.c.xuid, table.c.scid).in_(players)


def player_read(bulk: bool) -> CompoundSelect[Any]:
    """The event plan's one read, by player: (STAT, sandbox, xuid, scid, stat, value)
    for each set stat and (UNLOCKED, sandbox, xuid, scid, achievement id, time
    unlocked) for each unlocked achievement."""
    stats = select(
        literal_column(str(STAT)),
        player_stats.c.sandbox,
        player_stats.c.xuid,
        player_stats.c.scid,
        player_stats.c.stat,
        player_stats.c.value,
    ).where(_of_players(player_stats, bulk))
    unlocked = select(
        literal_column(str(UNLOCKED)),
        progress.c.sandbox,
        progress.c.xuid,
        progress.c.scid,
        progress.c.achievement_id,
        progress.c.time_unlocked,
    ).where(_of_players(progress, bulk), progress.c.percent >= literal_column("100"))
    return union_all(stats, unlocked)


# PostgreSQL: insert the players, or lock them where they exist (until commit, in key
# order, so two transactions never deadlock), and return the new ones. An event
# request reads a player's stats and writes them back: one at a time per player and
# title. `xmax = 0` marks a row this statement inserted rather than updated. SQLite
# needs no lock (`BEGIN IMMEDIATE` admits one writer at a time): its claim is the
# plain player insert.
PG_PLAYER_CLAIM = """
WITH claimed AS (
    INSERT INTO title_players (sandbox, xuid, scid, first_seen)
    SELECT * FROM unnest($1::VARCHAR(64)[], $2::VARCHAR(20)[], $3::VARCHAR(36)[], $4::BIGINT[])
    ON CONFLICT (sandbox, xuid, scid) DO UPDATE SET first_seen = title_players.first_seen
    RETURNING sandbox, xuid, scid, xmax = 0 AS inserted
)
SELECT sandbox, xuid, scid FROM claimed WHERE inserted
"""
PG_PLAYER_CLAIM_PARAMS = ("sandbox", "xuid", "scid", "now")


@cache
def statements(dialect: str) -> dict[str, ClauseElement]:
    """Every statement a plan names, for one dialect, one parameter set per row."""
    return {
        PROGRESS_UPSERT: keep_max(_row_values(progress, _PROGRESS_VALUES, dialect)),
        PLAYER_INSERT: insert_new(_row_values(title_players, _PLAYER_VALUES, dialect)),
        PLAYER_COUNT: player_count(dialect),
        UNLOCK_COUNT: unlock_count(dialect),
        FEED_INSERT: activity.insert_statement(),
        OUTBOX_INSERT: outbox.insert_statement(),
        APPLIED_INSERT: first_apply(_row_values(applied_events, _APPLIED_VALUES, dialect)),
        PLAYER_CLAIM: insert_new(_row_values(title_players, _PLAYER_VALUES, dialect)),
        STATS_WRITE: _set_stat(_row_values(player_stats, _STATS_VALUES, dialect)),
        PLAYER_READ: player_read(bulk=False),
    }


@cache
def bulk_statements() -> dict[str, ClauseElement]:
    """PostgreSQL: statements that take one array per column, so that a whole round
    of a batch is one statement (PLAYER_CLAIM is written by hand: PG_PLAYER_CLAIM)."""
    return {
        PROGRESS_UPSERT: keep_max(_unnest_values(progress, _PROGRESS_VALUES)),
        PLAYER_INSERT: insert_new(_unnest_values(title_players, _PLAYER_VALUES)),
        APPLIED_INSERT: first_apply(_unnest_values(applied_events, _APPLIED_VALUES)),
        STATS_WRITE: _set_stat(_unnest_values(player_stats, _STATS_VALUES)),
        PLAYER_READ: player_read(bulk=True),
        FEED_INSERT: activity.bulk_insert_statement(),
        OUTBOX_INSERT: outbox.bulk_insert_statement(),
    }
