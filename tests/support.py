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
import tempfile
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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """`app` served by uvicorn on `sock` (bound) in this event loop; closes `sock`."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("the service did not start")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        sock.close()


@contextlib.asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[str]:
    """The app served by uvicorn on 127.0.0.1 in this event loop; yields its URL."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with serve_app(create_app(settings), sock):
        yield url


@dataclass
class ServeProcess:
    """A `laurels serve` child process group; its output goes to a log file."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

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


def _wait_for_url(process: subprocess.Popen[bytes], log: Path, deadline: float) -> str:
    while time.monotonic() < deadline:
        match = re.search(r"(http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    process.wait(10)
    raise RuntimeError(f"laurels serve did not start: {log.read_text(errors='replace')}")


def start_serve(
    database_url: str,
    *,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> ServeProcess:
    """`laurels serve --port 0` as a child process group; returns once it answers."""
    env = {**os.environ, "LAURELS_DATABASE_URL": database_url, **(extra_env or {})}
    log = Path(tempfile.mkstemp(prefix="laurels-serve-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "laurels", "serve", "--port", "0", "--workers", str(workers)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    served = ServeProcess(process, _wait_for_url(process, log, deadline), log)
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                return served
        if process.poll() is not None:
            raise RuntimeError(f"laurels serve exited: {served.output()}")
        time.sleep(0.05)
    served.kill()
    raise TimeoutError("laurels serve did not answer /healthz")


def laurels(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command, with only this test's database in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAURELS_")}
    env["LAURELS_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "laurels", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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


# --- images ------------------------------------------------------------------------


def png_bytes(seed: int = 0, *, size: int | None = None) -> bytes:
    """A valid 1x1 PNG whose pixel depends on `seed` (so different seeds give different
    files); with `size`, padded to exactly that many bytes with a private chunk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pixel = bytes([0, seed % 256, (seed // 256) % 256, (seed // 65536) % 256])
    body = header + chunk(b"IDAT", zlib.compress(pixel))
    end = chunk(b"IEND", b"")
    png = b"\x89PNG\r\n\x1a\n" + body + end
    if size is not None:
        padding = size - len(png) - 12
        if padding < 0:
            raise ValueError(f"a PNG cannot be smaller than {len(png) + 12} bytes here")
        png = b"\x89PNG\r\n\x1a\n" + body + chunk(b"prVt", b"\0" * padding) + end
    return png
