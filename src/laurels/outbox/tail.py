"""Following the outbox cheaply: the relay's read of every new entry, after every
commit, on a driver connection (`read_after`'s query compiled once for the driver,
no SQLAlchemy per read).

Under load the relay reads after each group commit, so its read is on the hot path:
through SQLAlchemy's async engine it cost about a sixth of a worker's time.
- SQLite: a sqlite3 connection of its own, used from one thread of its own.
- PostgreSQL: an asyncpg connection of its own (`HeldConnections`: no pool checkout
  and no liveness ping per read), the transaction horizon (xmin) and the rows read
  in one prepared statement.

Failure: a read that cannot reach the database raises (sqlite3.Error, asyncpg's or
OSError); the relay logs it and reads again on its next wake-up.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from sqlalchemy.engine import make_url

from laurels.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    Database,
    HeldConnections,
    close_sqlite,
    driver_sql,
)
from laurels.outbox.reading import Key, OutboxEntry, after_params, after_query, settled


class OutboxTail(Protocol):
    async def read_after(self, after: Key, *, limit: int) -> tuple[list[OutboxEntry], int]:
        """As `reading.read_after`: settled entries after `after`, oldest first, and
        the xmin they were read at (0 on SQLite)."""

    async def close(self) -> None: ...


class SqliteTail:
    def __init__(self, path: str) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="laurels-outbox-tail")
        self._conn: sqlite3.Connection | None = None
        self._query = driver_sql(after_query("sqlite"), "sqlite")

    async def read_after(self, after: Key, *, limit: int) -> tuple[list[OutboxEntry], int]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read, after, limit), 0

    def _read(self, after: Key, limit: int) -> list[OutboxEntry]:
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        args = self._query.args({**dict(self._query.fixed), **after_params(after, limit)})
        return settled(self._conn.execute(self._query.sql, args).fetchall(), "sqlite")[0]

    async def close(self) -> None:
        await close_sqlite(self._executor, self._conn)


class PostgresTail:
    def __init__(self, db: Database) -> None:
        self._connections = HeldConnections(db)
        self._query = driver_sql(after_query("postgresql"), "postgresql")

    async def read_after(self, after: Key, *, limit: int) -> tuple[list[OutboxEntry], int]:
        args = self._query.args({**dict(self._query.fixed), **after_params(after, limit)})
        async with self._connections.connection() as conn:
            rows = await conn.fetch(self._query.sql, *args)
        return settled(rows, "postgresql")

    async def close(self) -> None:
        await self._connections.close()


def outbox_tail(db: Database) -> OutboxTail:
    """The cheapest way to follow `db`'s outbox."""
    if db.is_sqlite:
        return SqliteTail(str(Path(make_url(db.async_url).database or "")))
    return PostgresTail(db)
