"""`laurels player`: manage test players. A command that fails exits with status 1
and a one-line reason, having changed nothing."""

from __future__ import annotations

import click

from laurels.commands import db_option, run
from laurels.db import Database
from laurels.progress.policy import refuse_retail
from laurels.progress.service import reset_player
from laurels.titles import service as titles
from laurels.wire.identifiers import parse_xuid


@click.group()
def player() -> None:
    """Manage test players."""


@player.command("reset")
@click.option("--xuid", required=True)
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True)
@db_option
def player_reset(xuid: str, title_id: int, sandbox: str, db_url: str | None) -> None:
    """Erase a player's data for a title in a DEV.* sandbox (refused in RETAIL)."""

    async def work(db: Database) -> int:
        refuse_retail(sandbox)
        async with db.read() as conn:
            document = await titles.load_draft(conn, title_id=title_id)
        scid = document["title"]["scid"]
        return await db.run_write(
            lambda conn: reset_player(conn, sandbox=sandbox, xuid=parse_xuid(xuid), scid=scid)
        )

    erased = run(work, db_url)
    click.echo(
        f"reset player {xuid} of title {title_id} in {sandbox} ({erased} achievement(s) erased)"
    )
