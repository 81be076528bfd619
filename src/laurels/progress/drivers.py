"""Drivers that run an update plan (`plan.update_plan`) in one transaction.

The plan is written once; each database gets the cheapest way to run it:
- SQLite: the standard library's sqlite3 on one connection in a thread of its own.
  A whole batch is one hop to that thread, `BEGIN IMMEDIATE` ... `COMMIT` with
  `synchronous=FULL`, so a batch is one fsync and a 200 means on disk.
- PostgreSQL: the asyncpg connection under SQLAlchemy's pool, with its prepared
  statement cache, in an explicit transaction.
Statements are SQLAlchemy Core constructs compiled once per dialect.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.engine import make_url

from laurels.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    Compiled,
    Database,
    HeldConnections,
    WriteTurn,
    close_sqlite,
    driver_sql,
)
from laurels.errors import Unavailable
from laurels.progress.batch import Request, batch_plan
from laurels.progress.plan import Applied, Plan, Step
from laurels.progress.statements import (
    PG_PLAYER_CLAIM,
    PG_PLAYER_CLAIM_PARAMS,
    PLAYER_CLAIM,
    bulk_statements,
    statements,
)

log = logging.getLogger(__name__)
ATTEMPTS = 5
TRANSIENT_SQLSTATES = {"40001", "40P01"}


@cache
def compiled(dialect: str) -> dict[str, Compiled]:
    """Every statement of the plan as SQL for the driver; on PostgreSQL most take
    arrays, a whole round of a batch in one statement (`bulk_statements`)."""
    result = {name: driver_sql(plain, dialect) for name, plain in statements(dialect).items()}
    if dialect == "postgresql":
        for name, statement in bulk_statements().items():
            result[name] = driver_sql(statement, dialect, arrays=True)
        result[PLAYER_CLAIM] = Compiled(PG_PLAYER_CLAIM, PG_PLAYER_CLAIM_PARAMS, arrays=True)
    return result


class BatchStore(Protocol):
    async def apply(self, requests: Sequence[Request], *, now_us: int) -> Applied:
        """Apply in one transaction (see `Applied`)."""

    async def close(self) -> None: ...


@runtime_checkable
class BlockingBatchStore(BatchStore, Protocol):
    """A store whose transactions block a thread (SQLite): the group-commit writer
    runs them in a thread of its own, batch after batch, without the event loop."""

    def apply_blocking(self, requests: Sequence[Request], *, now_us: int) -> Applied: ...


class SqliteBatchStore:
    """One sqlite3 connection, used from one thread at a time: the group-commit
    writer's own (`apply_blocking`), or this store's (`apply`)."""

    def __init__(self, path: str, turn: WriteTurn) -> None:
        self._path = path
        self._turn = turn  # the process's turn to write (`Database.write_turn`)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="laurels-sqlite-writer")
        self._conn: sqlite3.Connection | None = None
        self._statements = compiled("sqlite")

    async def apply(self, requests: Sequence[Request], *, now_us: int) -> Applied:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._apply, requests, now_us)

    def _apply(self, requests: Sequence[Request], now_us: int) -> Applied:
        return self.apply_blocking(requests, now_us=now_us)

    def apply_blocking(self, requests: Sequence[Request], *, now_us: int) -> Applied:
        """`apply`, in the calling thread: it waits for the process's turn to write,
        for other processes' locks (the busy timeout) and for the disk."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self._turn.held():
                    return self._transaction(batch_plan(requests, now_us=now_us))
            except sqlite3.OperationalError as exc:
                if attempt == ATTEMPTS or "locked" not in str(exc):
                    raise Unavailable("the database is unavailable; try again") from exc
                log.warning("SQLite busy, retrying: %s", exc)
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            self._conn = conn
        return self._conn

    def _transaction(self, plan: Plan) -> Applied:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            rows: Any = None  # sending None starts the plan
            while True:
                try:
                    step = plan.send(rows)
                except StopIteration as done:
                    conn.execute("COMMIT")
                    result: Applied = done.value
                    return result
                rows = self._run(conn, step)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _run(self, conn: sqlite3.Connection, step: Step) -> list[tuple[Any, ...]]:
        statement = self._statements[step.statement]
        rows: list[tuple[Any, ...]] = []
        if not statement.rows_sql:  # not one INSERT ... VALUES: one execution per row
            for params in step.params:
                rows += conn.execute(statement.sql, statement.args(params)).fetchall()
            return rows
        start = 0
        for size in statement.chunks(len(step.params)):
            chunk = step.params[start : start + size]
            start += size
            args = [value for params in chunk for value in statement.args(params)]
            rows += conn.execute(statement.rows_sql(size), args).fetchall()
        return rows

    async def close(self) -> None:
        await close_sqlite(self._executor, self._conn)


class PostgresBatchStore:
    """Runs plans on asyncpg connections of its own, one per committer in use
    (`HeldConnections`: no pool checkout, liveness ping or reset per batch)."""

    def __init__(self, db: Database) -> None:
        self._connections = HeldConnections(db)
        self._statements = compiled("postgresql")

    async def apply(self, requests: Sequence[Request], *, now_us: int) -> Applied:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._transaction(batch_plan(requests, now_us=now_us))
            except Exception as exc:
                if attempt == ATTEMPTS or getattr(exc, "sqlstate", None) not in TRANSIENT_SQLSTATES:
                    raise
                log.warning("transient PostgreSQL conflict, retrying: %s", exc)
                await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    async def _transaction(self, plan: Plan) -> Applied:
        async with self._connections.connection() as raw, raw.transaction():
            rows: Any = None  # sending None starts the plan
            while True:
                try:
                    step = plan.send(rows)
                except StopIteration as done:
                    result: Applied = done.value
                    return result
                rows = await self._run(raw, step)

    async def _run(self, raw: Any, step: Step) -> list[Any]:
        statement = self._statements[step.statement]
        if statement.arrays:  # one array per parameter
            columns = [[params[name] for params in step.params] for name in statement.names]
            if step.returns:
                return list(await raw.fetch(statement.sql, *columns))
            await raw.execute(statement.sql, *columns)
            return []
        if step.returns:
            rows: list[Any] = []
            for params in step.params:
                rows += await raw.fetch(statement.sql, *statement.args(params))
            return rows
        await raw.executemany(statement.sql, [statement.args(p) for p in step.params])
        return []

    async def close(self) -> None:
        await self._connections.close()


def batch_store(db: Database) -> BatchStore:
    if db.is_sqlite:
        path = make_url(db.async_url).database
        return SqliteBatchStore(str(Path(path or "")), db.write_turn)
    return PostgresBatchStore(db)
