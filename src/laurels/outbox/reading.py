"""Reading the outbox in commit order (see `tables.outbox`), and pruning it.

An entry's key is (txid, id). On PostgreSQL a reader takes only rows of
transactions older than every transaction still running (the snapshot's xmin), so
a row that commits late can never land behind a key already read. SQLite has one
writer at a time and txid 0: ids are commit order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnClause,
    Integer,
    Select,
    and_,
    bindparam,
    delete,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
)

from laurels.outbox.tables import PROGRESS_CHANGED, UNLOCKED, outbox
from laurels.sqlasync import AsyncConnection

Key = tuple[int, int]
START: Key = (0, 0)
_COLUMNS = (
    outbox.c.txid,
    outbox.c.id,
    outbox.c.event_type,
    outbox.c.sandbox,
    outbox.c.xuid,
    outbox.c.scid,
    outbox.c.title_id,
    outbox.c.achievement_id,
    outbox.c.payload,
    outbox.c.created_at,
)
# The oldest transaction still running when the statement's snapshot was taken.
_PG_XMIN_COLUMN: ColumnClause[Any] = literal_column(
    "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
)


def _progression(moved: dict[str, Any]) -> dict[str, Any]:
    """An events request's row as items, like an update's: each moved achievement
    with the required stats' values (the renderer takes its own requirements from
    `current`), percent 100 and its time once unlocked, 0 and null before."""
    current, unlocked = moved["current"], moved["unlocked"]
    return {
        "configVersion": moved["configVersion"],
        "progression": [
            {
                "id": achievement_id,
                "percent": 0 if (when := unlocked.get(achievement_id)) is None else 100,
                "timeUnlocked": when,
                "current": current,
            }
            for achievement_id in moved["moved"]
        ],
    }


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One row of the outbox: `kind` is PROGRESS_CHANGED or UNLOCKED."""

    txid: int
    id: int
    kind: str
    sandbox: str
    xuid: str
    scid: str
    title_id: int
    achievement_id: str
    # The payload as stored (JSON): decoded only for entries that are rendered (the
    # relay reads every entry, and most have no device of their player to go to).
    payload_text: str
    created_at: int

    @property
    def payload(self) -> dict[str, Any]:
        found: dict[str, Any] = orjson.loads(self.payload_text)
        if "moved" in found:  # an events request's row (`writing.requirements_moved`)
            return _progression(found)
        return found

    @property
    def key(self) -> Key:
        return self.txid, self.id

    @property
    def wire_id(self) -> str:
        """The entry's id on the wire (the RTA `eventId`): "<txid>.<id>"."""
        return format_key(self.key)

    @property
    def is_unlock(self) -> bool:
        return self.kind == UNLOCKED


def format_key(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


MAX_KEY_PART = 2**63 - 1  # both parts are BIGINT columns


def parse_key(text: str) -> Key:
    """The key of an entry's wire id ("<txid>.<id>", each part a 64-bit column
    value); raises ValueError otherwise."""
    txid, dot, row = text.partition(".")
    if not dot or not _is_digits(txid) or not _is_digits(row) or len(text) > 41:
        raise ValueError(f"{text[:50]!r} is not an event id")
    key = int(txid), int(row)
    if max(key) > MAX_KEY_PART:
        raise ValueError(f"{text[:50]!r} is not an event id")
    return key


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def entry(row: Sequence[Any]) -> OutboxEntry:
    """The entry of a row of `_COLUMNS` (a SQLAlchemy row or a driver's)."""
    txid, id_, kind, sandbox, xuid, scid, title_id, achievement, payload, created_at = row
    return OutboxEntry(
        txid, id_, kind, sandbox, xuid, scid, title_id, achievement, payload, created_at
    )


async def _xmin(conn: AsyncConnection) -> int | None:
    if conn.dialect.name != "postgresql":
        return None
    return int((await conn.execute(select(_PG_XMIN_COLUMN))).scalar_one())


def _big(value: int) -> Any:
    """A bound 64-bit integer (a plain literal would be bound as a 32-bit one)."""
    return literal(value, BigInteger)


def _key(key: Key) -> Any:
    return tuple_(_big(key[0]), _big(key[1]))


_order = tuple_(outbox.c.txid, outbox.c.id)


def _settled(query: Any, xmin: int | None) -> Any:
    return query if xmin is None else query.where(outbox.c.txid < _big(xmin))


async def head(conn: AsyncConnection) -> Key:
    """The key of the newest settled entry (START when there is none)."""
    xmin = await _xmin(conn)
    newest = [outbox.c.id.desc()]
    if xmin is not None:  # PostgreSQL; on SQLite txid is always 0 and ids are the order
        newest.insert(0, outbox.c.txid.desc())
    query = select(outbox.c.txid, outbox.c.id).order_by(*newest)
    row = (await conn.execute(_settled(query, xmin).limit(1))).first()
    return START if row is None else (int(row[0]), int(row[1]))


@cache
def after_query(dialect: str) -> Select[Any]:
    """Settled entries after a key, oldest first, at most `limit`: bound `txid`,
    `id` and `limit`; read the rows with `settled` (see the module's docstring).

    On SQLite txid is always 0 and ids are commit order: the query follows the
    primary key (a row-value comparison there would scan the whole outbox), and each
    row is an entry's `_COLUMNS`. On PostgreSQL each row is the snapshot's xmin and
    then the entry's columns, the xmin and the entries of one snapshot in one round
    trip; with no entry to read, one row of the xmin and NULLs."""
    limit = bindparam("limit", type_=Integer)
    if dialect == "sqlite":
        where = outbox.c.id > bindparam("id", type_=BigInteger)
        return select(*_COLUMNS).where(where).order_by(outbox.c.id).limit(limit)
    snapshot = select(_PG_XMIN_COLUMN.label("xmin")).cte("snapshot")
    after = tuple_(bindparam("txid", type_=BigInteger), bindparam("id", type_=BigInteger))
    entries = (
        select(*_COLUMNS)
        .where(and_(_order > after, outbox.c.txid < snapshot.c.xmin))
        .order_by(outbox.c.txid, outbox.c.id)
        .limit(limit)
        .lateral("entries")
    )
    return select(snapshot.c.xmin, *entries.c).select_from(snapshot.outerjoin(entries, true()))


def after_params(after: Key, limit: int) -> dict[str, int]:
    """The parameters of `after_query`."""
    return {"txid": after[0], "id": after[1], "limit": limit}


def settled(rows: Sequence[Sequence[Any]], dialect: str) -> tuple[list[OutboxEntry], int]:
    """The entries of `after_query`'s rows, and the xmin they were read at (0 on
    SQLite, where every committed row is settled)."""
    if dialect == "sqlite":
        return [entry(row) for row in rows], 0
    return [entry(row[1:]) for row in rows if row[1] is not None], int(rows[0][0])


async def read_after(
    conn: AsyncConnection, after: Key, *, limit: int
) -> tuple[list[OutboxEntry], int]:
    """Settled entries after `after`, oldest first, and the xmin they were read at
    (0 on SQLite, where every committed row is settled). The relay reads through
    `OutboxTail`, the same query on a driver connection."""
    dialect = conn.dialect.name
    rows = (await conn.execute(after_query(dialect), after_params(after, limit))).all()
    return settled(rows, dialect)


async def read_player(
    conn: AsyncConnection,
    *,
    sandbox: str,
    xuid: str,
    kind: str,
    scid: str | None = None,
    title_id: int | None = None,
    after: Key,
    upto: Key,
    since_us: int,
    limit: int,
) -> list[OutboxEntry]:
    """One player's entries of one kind in (after, upto], no older than `since_us`,
    oldest first: what a reconnecting device missed."""
    where = [
        outbox.c.sandbox == sandbox,
        outbox.c.xuid == xuid,
        outbox.c.event_type == kind,
        outbox.c.created_at >= since_us,
        _order > _key(after),
        _order <= _key(upto),
    ]
    if scid is not None:
        where.append(outbox.c.scid == scid)
    if title_id is not None:
        where.append(outbox.c.title_id == title_id)
    query = select(*_COLUMNS).where(*where).order_by(outbox.c.txid, outbox.c.id).limit(limit)
    return [entry(row) for row in (await conn.execute(query)).all()]


async def prune(
    conn: AsyncConnection, *, progress_before_us: int, unlocks_before_us: int, limit: int
) -> int:
    """Delete up to `limit` expired entries, oldest first; an unlock not yet handed
    to the webhooks stays. Returns how many went."""
    expired = or_(
        (outbox.c.event_type == PROGRESS_CHANGED) & (outbox.c.created_at < progress_before_us),
        (outbox.c.created_at < unlocks_before_us) & outbox.c.published_at.is_not(None),
    )
    oldest = select(outbox.c.id).where(expired).order_by(outbox.c.id).limit(limit)
    result = await conn.execute(delete(outbox).where(outbox.c.id.in_(oldest.scalar_subquery())))
    return int(result.rowcount)
