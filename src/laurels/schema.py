"""Create or upgrade the database schema. Every command and `serve` call `upgrade`
before they touch the database; it is cheap when the schema is current."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from laurels.db import Database
from laurels.errors import Unavailable

if TYPE_CHECKING:
    from alembic.config import Config

# The newest revision in migrations/versions (a test checks they agree). When the
# database is there already, the service starts without importing Alembic at all.
HEAD = "0007"

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant: serializes concurrent upgrades of one PostgreSQL database.
PG_LOCK_KEY = 0x1A0E15


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def script_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    if MigrationContext.configure(connection).get_current_revision() == HEAD:
        return
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision (cheap when it is there)."""
    if await is_current(db):
        return
    async with db.write() as conn:
        await conn.run_sync(_upgrade)


async def is_current(db: Database) -> bool:
    try:
        async with db.read() as conn:
            found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
    except (DBAPIError, Unavailable):  # no schema yet (or no database: upgrade says so)
        return False
    return [row[0] for row in found] == [HEAD]
