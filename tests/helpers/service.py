"""Titles, tokens, update bodies, the `Api` client and a running service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from laurels.app import create_app
from laurels.auth.service import ensure_signing_key, mint_token
from laurels.db import Database
from laurels.settings import Settings
from laurels.titles import service as titles
from laurels.wire.times import now_micros
from tests.helpers.waiting import eventually, eventually_sync

SCID = "6a2e0100-0000-0000-0000-00005f1d2c3b"
TITLE_ID = 1234
XUID = "2533274790395904"
OTHER_XUID = "2533274790395905"
OTHER_TITLE_ID = 4321
OTHER_SCID = "7b3f0200-0000-0000-0000-00006a2e3d4c"
UNKNOWN_SCID = "00000000-1111-2222-3333-444444444444"  # no title has it


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
    """A title of `count` achievements (ids "1".."count"), then `extra`. An event-based
    one has one event, `Progress` (measurement `count`), one sum stat of it, `Count`,
    and achievement n requires Count >= n."""
    config: dict[str, Any] = {
        "title": {"id": title_id, "name": "Test Game", "scid": scid, "kind": kind},
        "achievements": [achievement(n) for n in range(1, count + 1)] + (extra or []),
    }
    if kind == "event-based":
        config["events"] = [{"name": "Progress", "measurements": ["count"]}]
        config["stats"] = [
            {"name": "Count", "event": "Progress", "measurement": "count", "aggregate": "sum"}
        ]
        for n, entry in enumerate(config["achievements"], start=1):
            entry.setdefault("requirements", [{"stat": "Count", "target": n}])
    return config


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


def free_socket(port: int = 0) -> socket.socket:
    """A TCP socket bound on 127.0.0.1 to `port` (a free one for 0): a restarted
    service can take its port again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """`app` served by uvicorn on `sock` (bound) in this event loop; closes `sock`."""
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started or task.done(), 20, what="the service to start")
    if task.done():
        task.result()  # raises what stopped it
        raise RuntimeError("the service stopped as it started")
    try:
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        sock.close()


@contextlib.asynccontextmanager
async def running_service(settings: Settings, port: int = 0) -> AsyncIterator[str]:
    """The app served by uvicorn on 127.0.0.1 (on `port`, a free one for 0) in this
    event loop; yields its URL."""
    sock = free_socket(port)
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


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    return False


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
    served = ServeProcess(process, "", log)
    try:
        url = eventually_sync(
            lambda: (
                re.search(r"http://127\.0\.0\.1:\d+", served.output()) or process.poll() is not None
            ),
            30,
            what="the URL laurels serve prints",
        )
        assert process.poll() is None, f"laurels serve exited: {served.output()}"
        assert isinstance(url, re.Match), served.output()
        served.url = url.group(0)
        eventually_sync(
            lambda: _answers(served.url) or process.poll() is not None, 30, what="/healthz"
        )
        assert process.poll() is None, f"laurels serve exited: {served.output()}"
    except BaseException:
        served.kill()
        raise
    return served
