"""The store: one MetaData for every feature's tables, and `Database`, which hands
out read and write transactions on SQLite or PostgreSQL.

SQLite is the embedded default: WAL, `synchronous=FULL` (a commit is on disk before
the service answers), a busy timeout, and `BEGIN IMMEDIATE` for every write so that two
writers queue for the lock instead of failing with "database is locked" halfway through.
PostgreSQL goes through asyncpg with a pool.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Insert,
    Integer,
    MetaData,
    Table,
    bindparam,
    event,
    func,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from laurels.errors import Unavailable

log = logging.getLogger(__name__)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Times are stored as integer microseconds since the Unix epoch (UTC) on both databases.
Micros = BigInteger

# Row ids that grow with traffic (outbox, activity, webhook deliveries and attempts)
# and the columns that refer to them: 64-bit on PostgreSQL, where a 32-bit serial
# runs out at 2^31 rows. SQLite's integers are 64-bit already, and an autoincrement
# key must stay `INTEGER PRIMARY KEY` there (the rowid alias).
RowId = BigInteger().with_variant(Integer(), "sqlite")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def unnest_insert(table: Table, columns: dict[str, str]) -> Insert:
    """PostgreSQL: an INSERT of many rows in one statement, taking one array per
    column (`columns`: column → the bound parameter holding its array); `unnest`
    zips the arrays into rows, in order."""
    source = select(
        *(
            func.unnest(bindparam(param, type_=ARRAY(table.c[column].type)))
            for column, param in columns.items()
        )
    )
    return postgresql.insert(table).from_select(list(columns), source)


T = TypeVar("T")


def async_url(url: str) -> str:
    """`sqlite:///x.db` → `sqlite+aiosqlite:///x.db`, `postgresql://` → `+asyncpg`."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    path = make_url(url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60)
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (pysqlite's own transaction handling defers it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Database:
    """Engines for one database URL. `read()` and `write()` yield a connection inside
    a transaction; `write()` commits on exit and rolls back on error."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        self.async_url = async_url(url)
        self.dialect = make_url(self.async_url).get_backend_name()
        if self.dialect == "sqlite":
            # Reads are short and local; each pooled connection is a thread and a page
            # cache, so a few are plenty (memory per worker matters more).
            readers = min(pool_size, 4)
            self.engine = _sqlite_engine(self.async_url, immediate=False, pool_size=readers)
            # One writer connection per process: writes queue here rather than in SQLite.
            self.write_engine = _sqlite_engine(self.async_url, immediate=True, pool_size=1)
        else:
            self.engine = create_async_engine(
                self.async_url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self.write_engine = self.engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
        except (OperationalError, OSError) as exc:
            raise Unavailable("the database is unavailable; try again") from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.write_engine.begin() as conn:
            yield conn

    async def run_write(
        self, work: Callable[[AsyncConnection], Awaitable[T]], *, attempts: int = 5
    ) -> T:
        """Run `work` in one write transaction, again from the start when the database
        reports a transient conflict (a PostgreSQL deadlock or serialization failure)."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.write() as conn:
                    return await work(conn)
            except DBAPIError as exc:
                if attempt < attempts and is_transient(exc):
                    log.warning("transient database conflict, retrying: %s", exc.orig)
                    await asyncio.sleep(0.005 * 2**attempt)
                    continue
                if isinstance(exc, OperationalError) or exc.connection_invalidated:
                    raise Unavailable("the database is unavailable; try again") from exc
                raise
            except OSError as exc:
                raise Unavailable("the database is unavailable; try again") from exc
        raise AssertionError("unreachable")

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def is_transient(exc: DBAPIError) -> bool:
    """A conflict that a retry of the whole transaction resolves."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in {"40001", "40P01"}:
        return True
    return "database is locked" in str(exc.orig)
