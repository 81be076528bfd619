"""Alembic environment. Laurels runs migrations itself (`laurels.schema.upgrade`),
passing a live connection; `alembic` on the command line works too, given a URL."""

from alembic import context
from sqlalchemy import Connection, create_engine

from laurels.migrations import all_metadata

target_metadata = all_metadata()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as fresh:
        _run(fresh)
