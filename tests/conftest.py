"""Every test that needs a database gets a fresh one, on SQLite and on PostgreSQL.

Set LAURELS_TEST_DATABASES=sqlite (or postgresql) to run on one only. PostgreSQL is
the server at 127.0.0.1:5432; tests skip only where PostgreSQL is not installed at
all, and fail (with the command to start it) where it is installed but down.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from laurels.db import Database
from laurels.schema import upgrade
from laurels.settings import Settings
from tests.helpers import (
    Api,
    achievement,
    create_pg_database,
    drop_pg_database,
    pg_database,
    pg_url,
    postgres_available,
    postgres_installed,
    publish_config,
    running_service,
    title_config,
    token_for,
)
from tests.helpers.databases import opened

DATABASES = [
    d for d in os.environ.get("LAURELS_TEST_DATABASES", "sqlite,postgresql").split(",") if d
]
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


async def _migrate(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not postgres_available():
        if not postgres_installed():
            pytest.skip("PostgreSQL is not installed on this machine")
        pytest.fail(f"PostgreSQL is installed but not running on 127.0.0.1:5432: {PG_START}")
    name = create_pg_database()
    try:
        asyncio.run(_migrate(pg_url(name)))
        yield name
    finally:
        drop_pg_database(name)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    if request.param == "sqlite":
        path = tmp_path / "laurels.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with pg_database(request.getfixturevalue("pg_template")) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with opened(database_url, pool_size=4) as database:
        yield database


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, catalog_refresh_seconds=0.2)


STANDARD_EXTRA = [
    achievement(
        "secret",
        secret=True,
        name="Hidden Grove",
        description="You found the grove behind the waterfall.",
    ),
    achievement("server", serverOnly=True),
]


@pytest.fixture
async def api(db: Database, settings: Settings) -> AsyncIterator[Api]:
    """A running service with title 1234 (achievements 1..5, `secret`, `server`)
    published to DEV.1, and a client holding a token for player XUID."""
    await publish_config(db, title_config(5, extra=STANDARD_EXTRA))
    token = await token_for(db)
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        yield Api(client, db, token, url)
