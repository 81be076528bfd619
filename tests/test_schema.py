"""The schema: migrations create every table, and the service's idea of the newest
revision (which lets it start without importing Alembic) is the migrations' own."""

from __future__ import annotations

from sqlalchemy import inspect

from laurels.db import Database
from laurels.migrations import all_metadata
from laurels.schema import HEAD, is_current, script_head, upgrade


def test_head_matches_the_migrations() -> None:
    assert script_head() == HEAD


async def test_upgrade_creates_every_table_and_is_idempotent(db: Database) -> None:
    assert await is_current(db)
    await upgrade(db)  # a second time changes nothing
    async with db.read() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert set(all_metadata().tables) <= tables


async def test_an_empty_database_is_upgraded(tmp_path: object) -> None:
    fresh = Database(f"sqlite:///{tmp_path}/empty.db", pool_size=1)
    try:
        assert not await is_current(fresh)
        await upgrade(fresh)
        assert await is_current(fresh)
    finally:
        await fresh.dispose()
