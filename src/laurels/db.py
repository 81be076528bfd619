"""The store: one MetaData for every feature's tables, and `Database`, which hands
out read and write transactions on SQLite or PostgreSQL.

SQLite is the embedded default: WAL, `synchronous=FULL` (a commit is on disk before
the service answers), a busy timeout, and `BEGIN IMMEDIATE` for every write so that two
writers queue for the lock instead of failing with "database is locked" halfway through.
PostgreSQL goes through asyncpg with a pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
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
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from laurels.errors import Unavailable
from laurels.sqlasync import AsyncConnection, AsyncEngine, create_async_engine

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


@dataclass(frozen=True)
class Compiled:
    """A statement as its driver takes it (sqlite3's `?`, asyncpg's `$n`): for
    hot statements run on a driver connection, compiled once."""

    sql: str
    # The bound parameters' names, in the order of the placeholders.
    names: tuple[str, ...]
    # PostgreSQL: the statement takes one array per parameter (all rows at once).
    arrays: bool = False
    # The values the statement itself binds (SQLite's `OFFSET 0` after a LIMIT).
    fixed: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        # The values in placeholder order, picked in C: this runs once per row.
        pick = operator.itemgetter(*self.names) if self.names else (lambda _: ())
        one = len(self.names) == 1
        object.__setattr__(self, "_pick", (lambda p: (pick(p),)) if one else pick)
        head, values, tail = _values_split(self.sql)
        rows = (lambda n: _rows_sql(head, values, tail, n)) if values else None
        object.__setattr__(self, "_rows_sql", rows)  # built once, not per batch

    def args(self, params: dict[str, Any]) -> tuple[Any, ...]:
        picked: tuple[Any, ...] = self._pick(params)  # type: ignore[attr-defined]
        return picked

    @property
    def max_rows(self) -> int:
        """How many rows one execution of `rows_sql` takes at most: a power of two
        (SQLite binds at most 32,766 parameters to one statement)."""
        fits = max(1, min(256, SQLITE_MAX_PARAMETERS // max(1, len(self.names))))
        return 1 << (fits.bit_length() - 1)

    def chunks(self, n: int) -> list[int]:
        """`n` rows as executions of `rows_sql` of power-of-two sizes, largest first
        (37: 32, 4, 1): a few sizes of each statement, so the connection's cache of
        prepared statements holds a few, not one per batch size seen."""
        sizes = [self.max_rows] * (n // self.max_rows)
        rest = n % self.max_rows
        while rest:
            size = 1 << (rest.bit_length() - 1)
            sizes.append(size)
            rest -= size
        return sizes

    @property
    def rows_sql(self) -> Callable[[int], str] | None:
        """SQLite: for an INSERT of one row of parameters (`VALUES (?, ...)`), the
        same statement for n rows (`VALUES (?, ...), (?, ...)`), so that a batch is
        one execution, not one per row; None for any other statement."""
        found: Callable[[int], str] | None = self._rows_sql  # type: ignore[attr-defined]
        return found


SQLITE_MAX_PARAMETERS = 32_766
_VALUES = re.compile(r" VALUES (\(\?(?:, \?)*\))")


@cache
def _values_split(sql: str) -> tuple[str, str, str]:
    """`sql` around its one `VALUES (?, ...)` group; ("", "", "") when it has none,
    or more than one."""
    found = _VALUES.findall(sql)
    if len(found) != 1:
        return "", "", ""
    head, _, tail = sql.partition(f" VALUES {found[0]}")
    return head, found[0], tail


@cache
def _rows_sql(head: str, values: str, tail: str, n: int) -> str:
    return f"{head} VALUES {', '.join([values] * n)}{tail}"


@cache
def _driver_dialect(dialect: str) -> Any:
    if dialect == "sqlite":
        return sqlite.dialect(paramstyle="qmark")
    return pg_asyncpg.dialect()  # type: ignore[no-untyped-call]


def driver_sql(statement: Any, dialect: str, *, arrays: bool = False) -> Compiled:
    """`statement` (SQLAlchemy Core) compiled for the driver of `dialect` ("sqlite"
    or "postgresql")."""
    done: Any = statement.compile(dialect=_driver_dialect(dialect))  # a SQLCompiler
    names = tuple(done.positiontup or ())
    binds = done.binds
    fixed = tuple((n, binds[n].value) for n in names if n in binds and binds[n].value is not None)
    return Compiled(done.string, names, arrays=arrays, fixed=fixed)


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


async def close_sqlite(executor: ThreadPoolExecutor, conn: sqlite3.Connection | None) -> None:
    """Close a sqlite3 connection in the one thread that uses it, then the thread."""
    if conn is not None:
        await asyncio.get_running_loop().run_in_executor(executor, conn.close)
    executor.shutdown(wait=True)


class WriteTurn:
    """Turns to write to SQLite within one process, first come first served: taken
    by the group-commit writer's thread (`held`) and by the event loop's write
    transactions (`async with`). Writers that take turns here never collide in
    SQLite's busy handler, which sleeps 1, 2, 5, 10 ms... between tries: under load
    the updates' writer lost a quarter of its time there to the webhooks' claims.
    Other processes on the same file still meet in the busy handler."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next = 0  # the next ticket to hand out
        self._serving = 0  # the ticket whose turn it is

    def take(self) -> None:
        """Wait for a turn (blocking: from a thread of its own)."""
        with self._changed:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._changed.wait()

    def give(self) -> None:
        """End the turn taken."""
        with self._changed:
            self._serving += 1
            self._changed.notify_all()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self.take()
        try:
            yield
        finally:
            self.give()

    def _take_if_free(self) -> bool:
        with self._changed:
            if self._next != self._serving:
                return False
            self._next += 1
            return True

    async def __aenter__(self) -> None:
        if self._take_if_free():
            return
        waiting = asyncio.get_running_loop().run_in_executor(None, self.take)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:  # the turn still comes: give it back then
            waiting.add_done_callback(lambda _: self.give())
            raise

    async def __aexit__(self, *_: object) -> None:
        self.give()


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
        # SQLite: the process's writers take turns here (see WriteTurn).
        self.write_turn = WriteTurn()

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
        if not self.is_sqlite:  # PostgreSQL locks rows: no turns to take
            async with self.write_engine.begin() as conn:
                yield conn
            return
        async with self.write_turn, self.write_engine.begin() as conn:
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


class HeldConnections:
    """PostgreSQL connections kept by one component for its own statements (the
    group-commit writer, the relay's tail), on asyncpg directly: taking one costs no
    pool checkout, no liveness ping and no reset on return, which under load was a
    round trip more per batch and per outbox read than the statements themselves.

    A connection the server closed (a restart, a failover, an idle timeout) is known
    closed to asyncpg and is replaced when next taken; one that fails in use with
    anything but an error the server reported about a statement is closed, not kept.
    At most as many are open as were in use at once."""

    def __init__(self, db: Database) -> None:
        url = db.engine.url
        _, options = db.engine.dialect.create_connect_args(url)
        # SQLAlchemy's own options for its adapter, not asyncpg's.
        for key in ("prepared_statement_cache_size", "prepared_statement_name_func"):
            options.pop(key, None)
        self._options: dict[str, Any] = dict(options)
        self._idle: list[Any] = []
        self._closed = False

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """An open asyncpg connection, outside any transaction, kept again after use."""
        import asyncpg

        conn = await self._take()
        try:
            yield conn
        except asyncpg.PostgresError:  # the server answered: the connection is fine
            self._give(conn)
            raise
        except BaseException:
            conn.terminate()
            raise
        self._give(conn)

    async def _take(self) -> Any:
        import asyncpg

        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
        if self._closed:
            raise Unavailable("the service is shutting down")
        try:
            return await asyncpg.connect(**self._options)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable("the database is unavailable; try again") from exc

    def _give(self, conn: Any) -> None:
        if self._closed or conn.is_closed():
            conn.terminate()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=5)
            except Exception:  # already gone: nothing to say goodbye to
                conn.terminate()
