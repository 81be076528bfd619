"""The `laurels` command line (spec/config.md). Every command opens the database
named by --db or LAURELS_DATABASE_URL, creating or upgrading its schema first.
Exit status 0 on success; otherwise non-zero with a one-line reason on stderr."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from laurels.auth.service import ensure_signing_key, mint_token
from laurels.db import Database
from laurels.errors import InvalidConfig, LaurelsError
from laurels.progress.policy import refuse_retail
from laurels.progress.service import reset_player
from laurels.schema import upgrade
from laurels.settings import Settings
from laurels.timefmt import format_time, from_micros, now_micros
from laurels.titles import service as titles
from laurels.webhooks.views import Delivery, Endpoint

T = TypeVar("T")
DEMO = Path(__file__).parent / "demo" / "demo.yaml"
DEMO_XUID = "2533274790395904"
DEMO_SANDBOX = "DEV.1"

db_option = click.option(
    "--db",
    "db_url",
    envvar="LAURELS_DATABASE_URL",
    default=None,
    help="sqlite:///path.db or postgresql://user@host/db",
)


def fail(message: str) -> None:
    click.echo(f"laurels: {message}", err=True)
    sys.exit(1)


def run(work: Callable[[Database], Coroutine[Any, Any, T]], db_url: str | None) -> T:
    """Open the database, upgrade its schema, run `work`; errors become one line."""

    async def main() -> T:
        settings = Settings.from_env(database_url=db_url)
        db = Database(settings.database_url, pool_size=2)
        try:
            await upgrade(db)
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except InvalidConfig as exc:
        if len(exc.problems) > 1:
            click.echo(f"laurels: {len(exc.problems)} problems, nothing changed:", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(1)
        fail(exc.problems[0])
    except (LaurelsError, ValueError) as exc:
        fail(str(exc))
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"cannot use the database {_safe(db_url)}: {reason}")
    raise AssertionError("unreachable")


def _safe(url: str | None) -> str:
    """The URL without its password, for messages."""
    if url is None:
        return "(default)"
    return make_url(url).render_as_string(hide_password=True)


@click.group()
@click.version_option(package_name="laurels")
def main() -> None:
    """Laurels: self-hostable achievements for games."""


@main.group()
def config() -> None:
    """Import, export and publish a title's achievements."""


async def import_file(db: Database, path: Path) -> tuple[int, str]:
    parsed = titles.read_config_file(path)

    async def work(conn: Any) -> tuple[int, str]:
        return await titles.import_config(
            conn, config=parsed, base_dir=path.parent, now_us=now_micros()
        )

    return await db.run_write(work)


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


async def publish(db: Database, title_id: int, sandbox: str) -> titles.PublishResult:
    return await db.run_write(
        lambda conn: titles.publish(conn, title_id=title_id, sandbox=sandbox, now_us=now_micros())
    )


@config.command("publish")
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True, help="RETAIL or DEV.<name>")
@db_option
def config_publish(title_id: int, sandbox: str, db_url: str | None) -> None:
    """Freeze the draft as the next immutable version in SANDBOX."""
    result = run(lambda db: publish(db, title_id, sandbox), db_url)
    state = "unchanged, still" if result.unchanged else "published as"
    click.echo(f"title {title_id} in {sandbox}: {state} version {result.version}")


def token_player(xuid: str | None, server: bool) -> str | None:
    """The player `laurels token` signs for: the --xuid, or None with --server, whose
    credential covers every player of the title (a --xuid given with it is only
    checked). Raises ValueError for a bad XUID or when neither option is given."""
    if xuid is None and not server:
        raise ValueError("give --xuid X for a player token, or --server for a game server")
    if xuid is not None:
        from laurels.progress.identifiers import parse_xuid

        parse_xuid(xuid)
    return None if server else xuid


@main.command()
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


@main.group()
def player() -> None:
    """Manage test players."""


@player.command("reset")
@click.option("--xuid", required=True)
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True)
@db_option
def player_reset(xuid: str, title_id: int, sandbox: str, db_url: str | None) -> None:
    """Erase a player's data for a title in a DEV.* sandbox (refused in RETAIL)."""
    from laurels.progress.identifiers import parse_xuid

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


async def seed_demo(db: Database) -> str:
    """Import and publish the demo title; returns a player token for it."""
    title_id, _ = await import_file(db, DEMO)
    await publish(db, title_id, DEMO_SANDBOX)
    key = await ensure_signing_key(db)
    return mint_token(key, xuid=DEMO_XUID, title_id=title_id, sandbox=DEMO_SANDBOX)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.set_inheritable(True)
    return sock


def demo_banner(url: str, token_text: str) -> str:
    scid = "6a2e0100-0000-0000-0000-00005f1d2c3b"
    body = (
        f'{{"action":"progressUpdate","serviceConfigId":"{scid}","titleId":1234,'
        f'"userId":"{DEMO_XUID}","achievements":[{{"id":"1","percentComplete":100}}]}}'
    )
    auth = "-H " + shlex.quote(f"Authorization: Bearer {token_text}")
    update = shlex.quote(f"{url}/users/xuid({DEMO_XUID})/achievements/{scid}/update")
    listing = shlex.quote(f"{url}/users/xuid({DEMO_XUID})/achievements?titleId=1234")
    json_headers = "-H 'Content-Type: application/json' -H 'x-xbl-contract-version: 2'"
    return "\n".join(
        [
            f"Demo title 1234 published to {DEMO_SANDBOX}; player {DEMO_XUID}.",
            f"Player token: {token_text}",
            "Unlock achievement 1:",
            f"  curl -i -X POST {update} {auth} {json_headers} -d {shlex.quote(body)}",
            "See the list:",
            f"  curl -s {listing} {auth}",
        ]
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True, help="0 picks a free port")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--demo", is_flag=True, help="seed a demo title and print a player token")
@db_option
def serve(host: str, port: int, workers: int, demo: bool, db_url: str | None) -> None:
    """Run the service."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from laurels.realtime.handshake import (
        BoundedHttpProtocol,
        BoundedWebSocketProtocol,
        ServeConfig,
    )
    from laurels.realtime.protocol import MAX_FRAME_BYTES

    settings = Settings.from_env(database_url=db_url)
    # Worker processes build their app from the environment.
    os.environ["LAURELS_DATABASE_URL"] = settings.database_url

    async def prepare(db: Database) -> str | None:
        await ensure_signing_key(db)
        return await seed_demo(db) if demo else None

    demo_token = run(prepare, settings.database_url)
    sock = bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    click.echo(
        f"Laurels {settings.database_url.split(':')[0]} service on {url} "
        f"({workers} worker{'s' if workers > 1 else ''}); docs at {url}/docs"
    )
    if demo_token:
        click.echo(demo_banner(url, demo_token))
    sys.stdout.flush()
    config = ServeConfig(
        "laurels.app:create_app",
        header_timeout_seconds=settings.header_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
        factory=True,
        workers=workers,
        loop="uvloop",
        # httptools and the sans-I/O websockets protocol, bounded (realtime.handshake).
        http=BoundedHttpProtocol,
        ws=BoundedWebSocketProtocol,
        ws_max_size=MAX_FRAME_BYTES,
        ws_ping_interval=settings.rta_ping_seconds,
        ws_ping_timeout=settings.rta_ping_seconds,
        # Compression would cost each socket its own zlib state (memory per device).
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


@main.group()
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

    def when(micros: int) -> str:
        return format_time(from_micros(micros))

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
    from laurels.auth.credentials import revoke_credential, revoke_player_credentials

    by_player = (xuid, title_id, sandbox)
    if credential_id is not None:
        if any(v is not None for v in by_player):
            raise click.UsageError("give either --id or --xuid/--title-id/--sandbox, not both")
        revoked = run(
            lambda db: db.run_write(
                lambda conn: revoke_credential(
                    conn, credential_id=credential_id, now_us=now_micros()
                )
            ),
            db_url,
        )
        state = "revoked" if revoked else "was already revoked:"
        click.echo(f"{state} delivery credential {credential_id}")
        return
    if xuid is None or title_id is None or sandbox is None:
        raise click.UsageError("give --id, or all of --xuid, --title-id and --sandbox")
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


@main.group()
def webhooks() -> None:
    """Send every unlock of a title to a studio's URL (signed, retried for a day)."""


@webhooks.command("add")
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True, help="RETAIL or DEV.<name>")
@click.option("--description", default="", help="a note for people (at most 200 characters)")
@click.argument("url")
@db_option
def webhooks_add(
    title_id: int, sandbox: str, description: str, url: str, db_url: str | None
) -> None:
    """Send the title's unlocks in SANDBOX to URL. Prints the endpoint's signing
    secret, this once. In RETAIL the URL must not point at a private address."""
    from laurels.webhooks.service import add_endpoint

    added = run(
        lambda db: db.run_write(
            lambda conn: add_endpoint(
                conn,
                title_id=title_id,
                sandbox=sandbox,
                url=url,
                description=description,
                now_us=now_micros(),
            )
        ),
        db_url,
    )
    click.echo(f"added webhook endpoint {added.endpoint.id} for title {title_id} in {sandbox}")
    click.echo(f"secret: {added.secret}")
    click.echo("Keep this secret now: it is not shown again. Receivers check the")
    click.echo("Laurels-Signature header of each request with it.")


@webhooks.command("list")
@click.option("--title-id", type=int, default=None)
@click.option("--sandbox", default=None)
@db_option
def webhooks_list(title_id: int | None, sandbox: str | None, db_url: str | None) -> None:
    """Print one line per endpoint: id, title, sandbox, status, created, URL."""
    from laurels.webhooks.service import list_endpoints

    async def work(db: Database) -> list[Endpoint]:
        async with db.read() as conn:
            return await list_endpoints(conn, title_id=title_id, sandbox=sandbox)

    found = run(work, db_url)
    if not found:
        click.echo("no webhook endpoints")
        return
    click.echo(f"{'ID':<32}  {'TITLE':<10}  {'SANDBOX':<16}  {'STATUS':<7}  {'CREATED':<28}  URL")
    for e in found:
        status = "active" if e.active else "removed"
        note = f"  ({e.description})" if e.description else ""
        click.echo(
            f"{e.id:<32}  {e.title_id:<10}  {e.sandbox:<16}  {status:<7}  "
            f"{_when(e.created_at_us):<28}  {e.url}{note}"
        )


@webhooks.command("remove")
@click.argument("endpoint_id")
@db_option
def webhooks_remove(endpoint_id: str, db_url: str | None) -> None:
    """Stop sending to an endpoint; its pending deliveries are marked failed."""
    from laurels.webhooks.service import remove_endpoint

    removal = run(
        lambda db: db.run_write(
            lambda conn: remove_endpoint(conn, endpoint_id=endpoint_id, now_us=now_micros())
        ),
        db_url,
    )
    if removal.already_removed:
        click.echo(f"webhook endpoint {endpoint_id} was already removed")
        return
    click.echo(
        f"removed webhook endpoint {endpoint_id} "
        f"({removal.cancelled} pending deliver{'y' if removal.cancelled == 1 else 'ies'} "
        "cancelled)"
    )


@webhooks.command("deliveries")
@click.option("--endpoint", "endpoint_id", default=None, help="only this endpoint's")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@db_option
def webhooks_deliveries(
    endpoint_id: str | None, status: str | None, limit: int, db_url: str | None
) -> None:
    """Print the newest deliveries, each with its attempts: when, how long, and the
    status code or the error."""
    from laurels.webhooks.service import list_deliveries

    async def work(db: Database) -> list[Delivery]:
        async with db.read() as conn:
            return await list_deliveries(conn, endpoint_id=endpoint_id, status=status, limit=limit)

    found = run(work, db_url)
    if not found:
        click.echo("no webhook deliveries")
    for delivery in found:
        click.echo("\n".join(_delivery_lines(delivery)))


def _when(micros: int | None) -> str:
    return format_time(from_micros(micros))


def _delivery_lines(d: Delivery) -> list[str]:
    data = json.loads(d.payload).get("data", {})
    lines = [
        f"delivery {d.id}  {d.status}  endpoint {d.endpoint_id}  "
        f"{d.attempts} attempt{'' if d.attempts == 1 else 's'}  created {_when(d.created_at_us)}",
        f"  unlock of achievement {data.get('achievementId')} by {data.get('xuid')} "
        f"(title {data.get('titleId')}, {data.get('sandbox')}), key {d.idempotency_key}",
    ]
    if d.log:
        lines.append(f"  {'#':>3}  {'TIME':<28}  {'DURATION':>9}  RESULT")
    for a in d.log:
        result = f"HTTP {a.status_code}" if a.status_code is not None else f"error: {a.error}"
        lines.append(
            f"  {a.attempt:>3}  {_when(a.started_at_us):<28}  {a.duration_ms:>6} ms  {result}"
        )
    if d.status == "pending":
        lines.append(f"  next attempt {_when(d.next_attempt_at_us)}")
    elif d.status == "delivered":
        lines.append(f"  delivered {_when(d.delivered_at_us)}")
    else:
        lines.append(f"  gave up: {d.last_error}")
    return lines


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sync(args: tuple[str, ...]) -> None:
    """Deliver queued offline updates, even when no game runs (laurels sync --help)."""
    from laurels.sdk._cli import main as agent

    sys.exit(agent(list(args)))
