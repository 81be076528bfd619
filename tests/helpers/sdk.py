"""What the SDK's tests share. The service database the integration tests deliver
to: a migrated SQLite file with title 1234 published to DEV.1 (the SDK's behaviour
does not depend on the service's database; both databases are covered by the
service's own tests); clients on it, `laurels sync --once`, game processes killed
after their answer. For the tests against a mock transport: the clients of both
kinds (the `make` fixture of tests/sdk/conftest.py builds them), a settable clock."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.progress.service import read_progress
from laurels.sdk import AchievementsClient, OfflineQueue, SyncAchievementsClient
from laurels.settings import Settings
from tests.helpers import SCID, TITLE_ID, XUID, token_for

SANDBOX = "DEV.1"


@dataclass
class ServiceDb:
    """A migrated SQLite service database with title 1234 (achievements 1..5)."""

    path: Path
    db: Database

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def settings(self) -> Settings:
        return Settings(database_url=self.url, catalog_refresh_seconds=0.2)

    async def token(self, xuid: str = XUID) -> str:
        return await token_for(self.db, xuid=xuid)

    async def percent(self, achievement_id: str, xuid: str = XUID) -> int | None:
        async with self.db.read() as conn:
            rows = await read_progress(conn, sandbox=SANDBOX, xuid=xuid, scids=[SCID])
        row = rows.get((SCID, achievement_id))
        return None if row is None else row.percent

    async def unlocks(self, achievement_id: str, xuid: str = XUID) -> int:
        query = (
            select(func.count())
            .select_from(activity)
            .where(activity.c.xuid == xuid, activity.c.achievement_id == achievement_id)
        )
        async with self.db.read() as conn:
            return int((await conn.execute(query)).scalar_one())


def save_credentials(queue: OfflineQueue, service_url: str, tokens: dict[str, str]) -> None:
    """Store each player's delivery credential the way the client does. A player
    token stands in for it: the update route accepts one."""
    for player, token in tokens.items():
        queue.save_credential(
            service=service_url,
            sandbox=SANDBOX,
            title_id=TITLE_ID,
            xuid=player,
            credential=token,
            expires_at="",
        )


async def read_stats(url: str, token: str, xuid: str = XUID) -> dict[str, int]:
    """The player's stats of title 1234 through `GET /users/xuid({xuid})/stats`."""
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{url}/users/xuid({xuid})/stats",
            params={"titleId": TITLE_ID},
            headers={"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"},
        )
    assert response.status_code == 200, response.text
    return {item["name"]: item["value"] for item in response.json()["stats"]}


def url_of(sock: socket.socket) -> str:
    """The URL of a service on the bound socket `sock` (see `free_socket`)."""
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def client_for(url: str, token: str, queue: Path, **arguments: Any) -> AchievementsClient:
    """A client of title 1234 in DEV.1 on `url`, its queue at `queue`."""
    return AchievementsClient(
        url,
        title_id=TITLE_ID,
        scid=SCID,
        sandbox=SANDBOX,
        token=token,
        queue_path=queue,
        **arguments,
    )


async def sync_once(queue: Path, deadline: float) -> str:
    """`laurels sync --once` on `queue` in a child process (the service may serve in
    this loop meanwhile); its output."""
    sync = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "laurels",
        "sync",
        "--once",
        "--queue",
        str(queue),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(sync.communicate(), deadline - time.monotonic())
    assert sync.returncode == 0, err.decode()
    return out.decode()


# --- game processes killed after their answer ----------------------------------------


def game_xuid(n: int) -> str:
    """The XUID of the n-th player of the game processes."""
    return str(2_533_274_800_000_000 + n)


def game_script(arguments: str, call: str) -> str:
    """A game process for `first_line_then_kill`, run with `url queue token xuid
    *arguments`: a SyncAchievementsClient of title 1234 on `url`, its queue at
    `queue`, prints the status of the result of `call` (an expression of those
    names), then waits to be killed."""
    return f"""
import sys, time
from laurels.sdk import SyncAchievementsClient
url, queue, token, xuid, {arguments} = sys.argv[1:]
client = SyncAchievementsClient(url, title_id={TITLE_ID}, scid={SCID!r}, sandbox={SANDBOX!r},
                                token=token, queue_path=queue, exit_timeout=0.0)
print({call}.result(20).status, flush=True)
time.sleep(60)  # the parent kills this process as soon as it has read the line
"""


# --- clients on a mock transport ------------------------------------------------------

BASE = "http://laurels.test"
TOKEN = "player-token"
T0 = 1_714_587_727.0  # 2024-05-01T18:22:07Z

Client = AchievementsClient | SyncAchievementsClient
MakeClient = Callable[..., Client]
KINDS = pytest.mark.parametrize("kind", ["async", "sync"])


def client_options(queue_path: Path, /, **arguments: Any) -> dict[str, Any]:
    """The keyword arguments of a client of title 1234 in DEV.1 with TOKEN, then
    `arguments`."""
    return {
        "title_id": TITLE_ID,
        "scid": SCID,
        "sandbox": SANDBOX,
        "token": TOKEN,
        "queue_path": queue_path,
        **arguments,
    }


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def flush(client: Client, timeout: float = 5.0) -> int:
    if isinstance(client, SyncAchievementsClient):
        return await asyncio.to_thread(client.flush, timeout)
    return await client.flush(timeout)
