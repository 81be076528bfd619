"""Create or upgrade the database schema. Every command and `serve` call `upgrade`
before they touch the database; it is cheap when the schema is current."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData

from laurels.db import Database, metadata

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant: serializes concurrent upgrades of one PostgreSQL database.
PG_LOCK_KEY = 0x1A0E15


def all_metadata() -> MetaData:
    """The MetaData with every feature's tables registered."""
    from laurels.auth import tables as _auth  # noqa: F401
    from laurels.progress import tables as _progress  # noqa: F401
    from laurels.titles import tables as _titles  # noqa: F401

    return metadata


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    if MigrationContext.configure(connection).get_current_revision() == _head():
        return
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (no-op when it is there)."""
    async with db.write() as conn:
        await conn.run_sync(_upgrade)


async def is_current(db: Database) -> bool:
    async with db.read() as conn:
        current = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    return bool(current == _head())
