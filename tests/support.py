"""Helpers shared by the tests: databases, titles, tokens, a running service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn

from laurels.app import create_app
from laurels.auth.service import ensure_signing_key, mint_token
from laurels.db import Database
from laurels.settings import Settings
from laurels.timefmt import now_micros
from laurels.titles import service as titles

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SCID = "6a2e0100-0000-0000-0000-00005f1d2c3b"
TITLE_ID = 1234
XUID = "2533274790395904"
OTHER_XUID = "2533274790395905"


def achievement(n: int | str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(n),
        "name": f"Achievement {n}",
        "lockedDescription": f"Do thing {n}.",
        "description": f"You did thing {n}.",
        "gamerscore": 10,
        **extra,
    }


def title_config(
    count: int = 5,
    *,
    title_id: int = TITLE_ID,
    scid: str = SCID,
    kind: str = "title-managed",
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "title": {"id": title_id, "name": "Test Game", "scid": scid, "kind": kind},
        "achievements": [achievement(n) for n in range(1, count + 1)] + (extra or []),
    }


async def publish_config(
    db: Database, config: dict[str, Any], sandbox: str = "DEV.1", base_dir: Path = Path(".")
) -> None:
    parsed = titles.parse_config(config)

    async def work(conn: Any) -> None:
        await titles.import_config(conn, config=parsed, base_dir=base_dir, now_us=now_micros())
        await titles.publish(conn, title_id=parsed.title.id, sandbox=sandbox, now_us=now_micros())

    await db.run_write(work)


async def token_for(
    db: Database,
    *,
    xuid: str | None = XUID,
    title_id: int = TITLE_ID,
    sandbox: str = "DEV.1",
    server: bool = False,
    ttl: int = 3600,
) -> str:
    key = await ensure_signing_key(db)
    return mint_token(
        key,
        xuid=None if server else xuid,
        title_id=title_id,
        sandbox=sandbox,
        server=server,
        ttl_seconds=ttl,
    )


def update_body(
    items: list[tuple[str, Any]] | list[dict[str, Any]],
    *,
    xuid: str = XUID,
    scid: str = SCID,
    title_id: int = TITLE_ID,
) -> dict[str, Any]:
    achievements = [
        i if isinstance(i, dict) else {"id": i[0], "percentComplete": i[1]} for i in items
    ]
    return {
        "action": "progressUpdate",
        "serviceConfigId": scid,
        "titleId": title_id,
        "userId": xuid,
        "achievements": achievements,
    }


@dataclass
class Api:
    """A client of a running service with the test's default player token."""

    client: httpx.AsyncClient
    db: Database
    token: str
    base_url: str
    headers: dict[str, str] = field(default_factory=lambda: {"x-xbl-contract-version": "2"})

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {**self.headers, "Authorization": f"Bearer {token or self.token}"}

    async def update(
        self,
        items: list[tuple[str, Any]] | list[dict[str, Any]],
        *,
        xuid: str = XUID,
        scid: str = SCID,
        token: str | None = None,
        body: Any = None,
    ) -> httpx.Response:
        payload = update_body(items, xuid=xuid, scid=scid) if body is None else body
        return await self.client.post(
            f"/users/xuid({xuid})/achievements/{scid}/update",
            json=payload,
            headers=self.auth(token),
        )

    async def achievements(
        self, xuid: str = XUID, token: str | None = None, **params: Any
    ) -> httpx.Response:
        params.setdefault("titleId", TITLE_ID)
        return await self.client.get(
            f"/users/xuid({xuid})/achievements", params=params, headers=self.auth(token)
        )

    async def stored(self, achievement_id: str, xuid: str = XUID) -> int | None:
        from laurels.progress.service import read_progress

        async with self.db.read() as conn:
            rows = await read_progress(conn, sandbox="DEV.1", xuid=xuid, scids=[SCID])
        row = rows.get((SCID, achievement_id))
        return None if row is None else row.percent


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[str]:
    """The app served by uvicorn on 127.0.0.1 in this event loop; yields its URL."""
    sock = free_socket()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("the service did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        sock.close()


@dataclass
class ServeProcess:
    process: subprocess.Popen[str]
    url: str
    output: list[str]

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_serve(
    database_url: str,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> ServeProcess:
    """`laurels serve --port 0` as a child process group; returns once it answers."""
    env = {**os.environ, "LAURELS_DATABASE_URL": database_url, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "laurels", "serve", "--port", "0", "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"laurels serve did not start: {line}{process.stdout.read()}")
    served = ServeProcess(process, match.group(1), [line])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                return served
        if process.poll() is not None:
            raise RuntimeError(f"laurels serve exited: {process.stdout.read()}")
        time.sleep(0.05)
    served.kill()
    raise TimeoutError("laurels serve did not answer /healthz")


# --- databases -------------------------------------------------------------------


def postgres_available() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5432), 1):
        return True
    return False


def postgres_installed() -> bool:
    return shutil.which("pg_ctlcluster") is not None or Path("/usr/lib/postgresql").exists()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(template: str | None = None) -> str:
    name = f"laurels_test_{uuid.uuid4().hex[:12]}"
    suffix = f" TEMPLATE {template}" if template else ""
    asyncio.run(_pg_admin(f"CREATE DATABASE {name}{suffix}"))
    return name


def drop_pg_database(name: str) -> None:
    asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def pg_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@contextlib.contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    name = create_pg_database(template)
    try:
        yield pg_url(name)
    finally:
        drop_pg_database(name)
