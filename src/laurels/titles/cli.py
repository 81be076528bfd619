"""`laurels config`: import, export and publish a title's achievements
(spec/config.md). Each command exits with status 1 and a one-line reason (one line
per problem of a refused configuration) when it fails, and changes nothing then."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from laurels.commands import db_option, run
from laurels.db import Database
from laurels.titles import service as titles
from laurels.wire.times import now_micros


@click.group()
def config() -> None:
    """Import, export and publish a title's achievements."""


async def import_file(db: Database, path: Path) -> tuple[int, str]:
    """Create or update the draft of the title in the file at `path`, in one
    transaction; returns its title id and SCID. Raises InvalidConfig naming every
    problem (nothing changed then)."""
    parsed = titles.read_config_file(path)

    async def work(conn: Any) -> tuple[int, str]:
        return await titles.import_config(
            conn, config=parsed, base_dir=path.parent, now_us=now_micros()
        )

    return await db.run_write(work)


async def publish(db: Database, title_id: int, sandbox: str) -> titles.PublishResult:
    """Freeze the title's draft as its next version in `sandbox` (unchanged when the
    draft is the published version). Raises LaurelsError when there is no draft."""
    return await db.run_write(
        lambda conn: titles.publish(conn, title_id=title_id, sandbox=sandbox, now_us=now_micros())
    )


@config.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@db_option
def config_import(file: Path, db_url: str | None) -> None:
    """Create or update a title's draft from FILE (YAML or JSON); all or nothing."""
    title_id, scid = run(lambda db: import_file(db, file), db_url)
    click.echo(f"imported title {title_id} (SCID {scid}) as a draft")


@config.command("export")
@click.option("--title-id", type=int, required=True)
@db_option
def config_export(title_id: int, db_url: str | None) -> None:
    """Print the title's draft as YAML."""

    async def work(db: Database) -> str:
        async with db.read() as conn:
            return await titles.export_config(conn, title_id=title_id)

    click.echo(run(work, db_url), nl=False)


@config.command("publish")
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True, help="RETAIL or DEV.<name>")
@db_option
def config_publish(title_id: int, sandbox: str, db_url: str | None) -> None:
    """Freeze the draft as the next immutable version in SANDBOX."""
    result = run(lambda db: publish(db, title_id, sandbox), db_url)
    state = "unchanged, still" if result.unchanged else "published as"
    click.echo(f"title {title_id} in {sandbox}: {state} version {result.version}")
