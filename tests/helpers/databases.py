"""Throw-away PostgreSQL databases for the tests (the SQLite ones are files in tmp)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg

from laurels.db import Database

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), 1):
        return True
    return False


def postgres_installed() -> bool:
    return shutil.which("pg_ctlcluster") is not None or Path("/usr/lib/postgresql").exists()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(template: str | None = None) -> str:
    name = f"laurels_test_{uuid.uuid4().hex[:12]}"
    suffix = f" TEMPLATE {template}" if template else ""
    asyncio.run(_pg_admin(f"CREATE DATABASE {name}{suffix}"))
    return name


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def pg_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@contextlib.contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    name = create_pg_database(template)
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)


@contextlib.asynccontextmanager
async def opened(url: str, *, pool_size: int) -> AsyncIterator[Database]:
    """The database at `url`, its connections closed on the way out."""
    database = Database(url, pool_size=pool_size)
    try:
        yield database
    finally:
        await database.dispose()


def sqlite_copy(template: Path, folder: Path) -> str:
    """A fresh, migrated SQLite database in `folder`, copied from `template`."""
    path = folder / "laurels.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"
