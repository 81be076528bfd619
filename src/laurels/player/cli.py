"""`laurels player link`: print a link that opens a player's page once."""

from __future__ import annotations

import click

from laurels.auth.service import ensure_signing_key
from laurels.commands import db_option, run
from laurels.db import Database
from laurels.player.links import MAX_MINUTES, link_url, mint_link


@click.command("link")
@click.option("--xuid", required=True)
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True)
@click.option(
    "--minutes",
    type=click.IntRange(1, MAX_MINUTES),
    default=10,
    show_default=True,
    help="how long the link may be used",
)
@click.option(
    "--base-url",
    envvar="LAURELS_PUBLIC_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="the service's address as the player's browser reaches it (LAURELS_PUBLIC_URL)",
)
@db_option
def link(
    xuid: str, title_id: int, sandbox: str, minutes: int, base_url: str, db_url: str | None
) -> None:
    """Print, alone on stdout, a single-use link to the player's page, signed by the
    service and valid for --minutes; it opens a session of 12 hours."""

    async def work(db: Database) -> str:
        key = await ensure_signing_key(db)
        token = mint_link(key, xuid=xuid, title_id=title_id, sandbox=sandbox, minutes=minutes)
        return link_url(base_url, token)

    click.echo(run(work, db_url))
