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

from sqlalchemy import ARRAY, Insert, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite

from laurels import activity, outbox
from laurels.progress.tables import achievement_stats, progress, title_players, title_stats

PROGRESS_KEY = ("sandbox", "xuid", "scid", "achievement_id")

# The names a plan's steps use (see plan.Step).
PROGRESS_UPSERT = "progress_upsert"
PLAYER_INSERT = "player_insert"
PLAYER_COUNT = "title_stats"
UNLOCK_COUNT = "achievement_stats"
FEED_INSERT = "activity_insert"
OUTBOX_INSERT = "outbox_insert"

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
    source = select(
        *(
            func.unnest(bindparam(param, type_=ARRAY(table.c[column].type)))
            for column, param in columns.items()
        )
    )
    return postgresql.insert(table).from_select(list(columns), source)


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


@cache
def statements(dialect: str) -> dict[str, Insert]:
    """Every statement a plan names, for one dialect, one parameter set per row."""
    return {
        PROGRESS_UPSERT: keep_max(_row_values(progress, _PROGRESS_VALUES, dialect)),
        PLAYER_INSERT: insert_new(_row_values(title_players, _PLAYER_VALUES, dialect)),
        PLAYER_COUNT: player_count(dialect),
        UNLOCK_COUNT: unlock_count(dialect),
        FEED_INSERT: activity.insert_statement(),
        OUTBOX_INSERT: outbox.insert_statement(),
    }


@cache
def bulk_statements() -> dict[str, Insert]:
    """PostgreSQL: the statements that return rows, taking one array per column so
    that a whole round of a batch is one statement."""
    return {
        PROGRESS_UPSERT: keep_max(_unnest_values(progress, _PROGRESS_VALUES)),
        PLAYER_INSERT: insert_new(_unnest_values(title_players, _PLAYER_VALUES)),
    }
