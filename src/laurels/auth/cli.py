"""`laurels token` and `laurels credentials`: sign tokens, list and revoke the
delivery credentials handed to devices. A command that fails exits with status 1
and a one-line reason (a usage error with status 2), having changed nothing."""

from __future__ import annotations

import click

from laurels.auth.service import ensure_signing_key, mint_token
from laurels.commands import db_option, run, when
from laurels.db import Database
from laurels.wire.identifiers import parse_xuid
from laurels.wire.times import now_micros


def token_player(xuid: str | None, server: bool) -> str | None:
    """The player `laurels token` signs for: the --xuid, or None with --server, whose
    credential covers every player of the title (a --xuid given with it is only
    checked). Raises ValueError for a bad XUID or when neither option is given."""
    if xuid is None and not server:
        raise ValueError("give --xuid X for a player token, or --server for a game server")
    if xuid is not None:
        parse_xuid(xuid)
    return None if server else xuid


@click.command()
@click.option("--xuid", default=None, help="the player (with --server: any player)")
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True)
@click.option("--server", is_flag=True, help="a game-server credential for the title")
@click.option("--ttl", type=int, default=24 * 3600, show_default=True, help="seconds")
@db_option
def token(
    xuid: str | None, title_id: int, sandbox: str, server: bool, ttl: int, db_url: str | None
) -> None:
    """Print a signed token, alone on stdout: a player token with --xuid, or with
    --server a game-server credential that may write any player of the title."""

    async def work(db: Database) -> str:
        player = token_player(xuid, server)
        key = await ensure_signing_key(db)
        return mint_token(
            key, xuid=player, title_id=title_id, sandbox=sandbox, server=server, ttl_seconds=ttl
        )

    click.echo(run(work, db_url))


@click.group()
def credentials() -> None:
    """List and revoke the delivery credentials handed to devices."""


@credentials.command("list")
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True)
@click.option("--xuid", default=None, help="only this player's credentials")
@db_option
def credentials_list(title_id: int, sandbox: str, xuid: str | None, db_url: str | None) -> None:
    """Print one line per credential: id, xuid, created, expires, status."""
    from laurels.auth.credentials import StoredCredential, list_credentials

    async def work(db: Database) -> list[StoredCredential]:
        async with db.read() as conn:
            return await list_credentials(conn, title_id=title_id, sandbox=sandbox, xuid=xuid)

    found = run(work, db_url)
    if not found:
        click.echo(f"no delivery credentials for title {title_id} in {sandbox}")
        return
    now_us = now_micros()
    click.echo(f"{'ID':<32}  {'XUID':<20}  {'CREATED':<28}  {'EXPIRES':<28}  STATUS")
    for c in found:
        click.echo(
            f"{c.id:<32}  {c.xuid:<20}  {when(c.created_at_us):<28}  "
            f"{when(c.expires_at_us):<28}  {c.state(now_us)}"
        )


@credentials.command("revoke")
@click.option("--id", "credential_id", default=None, help="one credential")
@click.option("--xuid", default=None, help="all of a player's (with --title-id, --sandbox)")
@click.option("--title-id", type=int, default=None)
@click.option("--sandbox", default=None)
@db_option
def credentials_revoke(
    credential_id: str | None,
    xuid: str | None,
    title_id: int | None,
    sandbox: str | None,
    db_url: str | None,
) -> None:
    """Revoke one credential (--id) or all of a player's active credentials of a title
    (--xuid --title-id --sandbox). Every service refuses them within a few seconds."""
    by_player = (xuid, title_id, sandbox)
    if credential_id is not None:
        if any(v is not None for v in by_player):
            raise click.UsageError("give either --id or --xuid/--title-id/--sandbox, not both")
        _revoke_one(credential_id, db_url)
        return
    if xuid is None or title_id is None or sandbox is None:
        raise click.UsageError("give --id, or all of --xuid, --title-id and --sandbox")
    _revoke_players(xuid, title_id, sandbox, db_url)


def _revoke_one(credential_id: str, db_url: str | None) -> None:
    from laurels.auth.credentials import revoke_credential

    revoked = run(
        lambda db: db.run_write(
            lambda conn: revoke_credential(conn, credential_id=credential_id, now_us=now_micros())
        ),
        db_url,
    )
    state = "revoked" if revoked else "was already revoked:"
    click.echo(f"{state} delivery credential {credential_id}")


def _revoke_players(xuid: str, title_id: int, sandbox: str, db_url: str | None) -> None:
    from laurels.auth.credentials import revoke_player_credentials

    count = run(
        lambda db: db.run_write(
            lambda conn: revoke_player_credentials(
                conn, xuid=xuid, title_id=title_id, sandbox=sandbox, now_us=now_micros()
            )
        ),
        db_url,
    )
    whose = f"of player {xuid} for title {title_id} in {sandbox}"
    click.echo(f"revoked {count} delivery credential(s) {whose}")
