"""`laurels serve`: run the service on a socket, with `--demo` a demo title seeded
first. It exits with status 1 and a one-line reason when the database cannot be used
or the address cannot be listened on."""

from __future__ import annotations

import os
import secrets
import shlex
import socket
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

import click

from laurels.auth.service import SigningKey, ensure_signing_key, mint_token
from laurels.commands import db_option, fail, run
from laurels.db import Database
from laurels.errors import NotFound
from laurels.player import link_url, mint_link
from laurels.portal import accounts
from laurels.settings import Settings
from laurels.sqlasync import AsyncConnection
from laurels.titles.cli import import_file, publish
from laurels.wire.times import now_micros

DEMO = Path(__file__).parent / "demo" / "demo.yaml"
# The event-based demo title (spec/events.md).
ARENA = Path(__file__).parent / "demo" / "arena.yaml"
DEMO_XUID = "2533274790395904"
DEMO_SANDBOX = "DEV.1"


DEMO_ADMIN = "admin@demo.laurels.test"


@dataclass(frozen=True)
class DemoTokens:
    """The demo player's tokens: for the title-managed title 1234, and for the
    event-based title 5678 (a token is for one title); and the portal's demo admin's
    password (a new one each run)."""

    quest: str
    arena: str
    admin_password: str = ""
    key: SigningKey | None = None

    def player_link(self, url: str) -> str:
        """The demo player's page, title 1234 (`laurels player link` prints others)."""
        assert self.key is not None
        token = mint_link(self.key, xuid=DEMO_XUID, title_id=1234, sandbox=DEMO_SANDBOX)
        return link_url(url, token)


async def seed_admin(db: Database) -> str:
    """The demo admin of the portal, with a fresh random password (returned)."""
    password = secrets.token_urlsafe(12)

    async def work(conn: AsyncConnection) -> None:
        now = now_micros()
        try:
            await accounts.get_user(conn, email=DEMO_ADMIN)
        except NotFound:
            await accounts.add_user(
                conn, email=DEMO_ADMIN, password=password, role="admin", now_us=now
            )
            return
        await accounts.set_password(conn, email=DEMO_ADMIN, password=password, now_us=now)

    await db.run_write(work)
    return password


async def seed_demo(db: Database) -> DemoTokens:
    """Import and publish the demo titles; returns the demo player's tokens."""
    key = await ensure_signing_key(db)
    tokens = []
    for path in (DEMO, ARENA):
        title_id, _ = await import_file(db, path)
        await publish(db, title_id, DEMO_SANDBOX)
        tokens.append(mint_token(key, xuid=DEMO_XUID, title_id=title_id, sandbox=DEMO_SANDBOX))
    quest, arena = tokens
    return DemoTokens(quest, arena, admin_password=await seed_admin(db), key=key)


def share_commits(workers: int, environ: MutableMapping[str, str]) -> None:
    """Several worker processes: one PostgreSQL committer each unless the operator
    set `LAURELS_WRITER_COMMITTERS` (their batches overlap already; larger ones cost
    fewer statements per update)."""
    if workers > 1:
        environ.setdefault("LAURELS_WRITER_COMMITTERS", "1")


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port, inherited by worker processes;
    exits with a one-line reason when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    sock.set_inheritable(True)
    return sock


def demo_banner(url: str, tokens: DemoTokens) -> str:
    """What `laurels serve --demo` prints: the demo player, its tokens, and the curl
    commands that unlock an achievement, list them, and send an event."""
    token_text = tokens.quest
    scid = "6a2e0100-0000-0000-0000-00005f1d2c3b"
    body = (
        f'{{"action":"progressUpdate","serviceConfigId":"{scid}","titleId":1234,'
        f'"userId":"{DEMO_XUID}","achievements":[{{"id":"1","percentComplete":100}}]}}'
    )
    auth = "-H " + shlex.quote(f"Authorization: Bearer {token_text}")
    update = shlex.quote(f"{url}/users/xuid({DEMO_XUID})/achievements/{scid}/update")
    listing = shlex.quote(f"{url}/users/xuid({DEMO_XUID})/achievements?titleId=1234")
    json_headers = "-H 'Content-Type: application/json' -H 'x-xbl-contract-version: 2'"
    arena_auth = "-H " + shlex.quote(f"Authorization: Bearer {tokens.arena}")
    events = shlex.quote(f"{url}/users/xuid({DEMO_XUID})/events")
    event = (
        '{"titleId":5678,"events":[{"id":"demo-1","name":"EnemyDefeated",'
        '"dimensions":{"weapon":"Bow"},"measurements":{"count":1}}]}'
    )
    stats = shlex.quote(f"{url}/users/xuid({DEMO_XUID})/stats?titleId=5678")
    return "\n".join(
        [
            f"Demo titles published to {DEMO_SANDBOX}; player {DEMO_XUID}:",
            "  1234 Laurels Demo Quest (title-managed), 5678 Laurels Demo Arena (event-based).",
            f"Player token: {token_text}",
            "Unlock achievement 1:",
            f"  curl -i -X POST {update} {auth} {json_headers} -d {shlex.quote(body)}",
            "See the list:",
            f"  curl -s {listing} {auth}",
            f"Player token for the event-based title 5678: {tokens.arena}",
            "Send an event (it unlocks First Blood; change the id to send another):",
            f"  curl -s -X POST {events} {arena_auth} {json_headers} -d {shlex.quote(event)}",
            "See the player's stats:",
            f"  curl -s {stats} {arena_auth}",
            f"Partner portal: {url}/portal/ (sign in as {DEMO_ADMIN},"
            f" password {tokens.admin_password})",
            f"Player page (works once, for 10 minutes): {tokens.player_link(url)}",
        ]
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True, help="0 picks a free port")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--demo", is_flag=True, help="seed a demo title and print a player token")
@db_option
def serve(host: str, port: int, workers: int, demo: bool, db_url: str | None) -> None:
    """Run the service."""
    settings = Settings.from_env(database_url=db_url)
    # Worker processes build their app from the environment.
    os.environ["LAURELS_DATABASE_URL"] = settings.database_url
    share_commits(workers, os.environ)

    async def prepare(db: Database) -> DemoTokens | None:
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
    _listen(settings, sock, workers)


def _listen(settings: Settings, sock: socket.socket, workers: int) -> None:
    """Serve on `sock` until a signal stops the server (uvicorn's graceful shutdown)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from laurels.realtime.handshake import (
        BoundedHttpProtocol,
        BoundedWebSocketProtocol,
        ServeConfig,
    )
    from laurels.realtime.protocol import MAX_FRAME_BYTES

    config = ServeConfig(
        "laurels.app:create_app",
        header_timeout_seconds=settings.header_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
        max_requests_in_flight=settings.max_requests_in_flight,
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
        # Access lines are below the log level anyway: without a handler uvicorn does
        # not even format them (a few percent of the update path under load).
        access_log=False,
        # No `server: uvicorn` on every answer: nothing a client needs.
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
