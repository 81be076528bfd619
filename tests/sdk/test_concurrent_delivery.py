"""Two processes drain one queue file at the same time — a game's worker (flush)
and `laurels sync --once` — and every update reaches the service exactly once,
without "database is locked".

The service (the real app, served by uvicorn in the test) holds every update
request until the queue file shows leases of both processes at once, so the two
really overlap; it records what each request carried and what it answered."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from laurels.activity.tables import activity
from laurels.app import create_app
from laurels.db import Database
from laurels.progress.service import read_progress
from laurels.progress.tables import achievement_stats
from laurels.sdk import OfflineQueue
from laurels.settings import Settings
from tests.helpers import (
    SCID,
    TITLE_ID,
    free_socket,
    serve_app,
    token_for,
)
from tests.helpers.queue import enqueue
from tests.helpers.sdk import ServiceDb, save_credentials

SANDBOX = "DEV.1"
PLAYERS = 75
PER_PLAYER = 20  # 1,500 updates: more than one process takes in its passes (2 × 512)
SERVICE_ACHIEVEMENTS = PER_PLAYER
GATE_SECONDS = 10.0
DEADLINE_SECONDS = 40.0
LEASE_OWNER = re.compile(r"(\d+)@")

GAME = f"""
import json, sys
from laurels.sdk import SyncAchievementsClient
url, queue, token = sys.argv[1:]
client = SyncAchievementsClient(url, title_id={TITLE_ID}, scid={SCID!r}, sandbox={SANDBOX!r},
                                token=token, queue_path=queue)
pending = client.flush(timeout=20)
client.close(timeout=1)
print(json.dumps({{"pending": pending}}), flush=True)
"""

Key = tuple[str, str]


def xuid(n: int) -> str:
    return str(2_533_274_900_000_000 + n)


def plan() -> dict[Key, int]:
    """(player, achievement) → percent; a quarter of them unlock."""
    return {
        (xuid(i), str(j)): 100 if (i + j) % 4 == 0 else 1 + (i * 7 + j * 13) % 99
        for i in range(PLAYERS)
        for j in range(1, PER_PLAYER + 1)
    }


@dataclass
class Recorder:
    """ASGI middleware in front of the service: holds update requests until two
    processes hold leases in the queue file at once (or GATE_SECONDS pass), and
    records (items, status) of every update it answered."""

    app: ASGIApp
    queue: Path
    pids: set[int]
    answered: list[tuple[list[tuple[str, str, int]], int]] = field(default_factory=list)
    overlapped: bool = False
    deadline: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/update"):
            await self.app(scope, receive, send)
            return
        await self._gate()
        body = bytearray()
        status = 0

        async def receiving() -> Message:
            message = await receive()
            body.extend(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receiving, sending)
        data = json.loads(body)
        items = [(data["userId"], a["id"], a["percentComplete"]) for a in data["achievements"]]
        self.answered.append((items, status))

    async def _gate(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + GATE_SECONDS
        while not self.overlapped and time.monotonic() < self.deadline:
            self.overlapped = self.pids <= self._lease_holders()
            if not self.overlapped:
                await asyncio.sleep(0.02)

    def _lease_holders(self) -> set[int]:
        with contextlib.closing(sqlite3.connect(f"file:{self.queue}?mode=ro", uri=True)) as conn:
            owners = conn.execute(
                "SELECT DISTINCT lease_owner FROM pending WHERE lease_owner IS NOT NULL"
            ).fetchall()
        return {int(m.group(1)) for (o,) in owners if (m := LEASE_OWNER.match(str(o)))}


async def seed(queue: Path, url: str, db: Database, expected: dict[Key, int]) -> dict[str, str]:
    """Queue every update offline, and store each player's delivery credential (a
    player token stands in for it: the update route accepts one). Returns the
    players' tokens."""
    store = OfflineQueue(queue)
    earned = time.time() - 60
    for (player, achievement_id), percent in expected.items():
        enqueue(store, url, achievement_id, percent, xuid=player, achieved_at=earned)
    tokens = {player: await token_for(db, xuid=player) for player in {x for x, _ in expected}}
    save_credentials(store, url, tokens)
    store.close()
    return tokens


async def run(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


@pytest.mark.slow
async def test_a_game_and_sync_drain_one_queue_together_delivering_each_update_once(
    service: ServiceDb, tmp_path: Path
) -> None:
    queue, expected = tmp_path / "queue.db", plan()
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    tokens = await seed(queue, url, service.db, expected)
    settings = Settings(database_url=service.url, catalog_refresh_seconds=0.2)
    pids: set[int] = set()
    recorder = Recorder(create_app(settings), queue, pids)

    async with serve_app(recorder, sock):
        game = await run(sys.executable, "-c", GAME, url, str(queue), tokens[xuid(0)])
        sync = await run(sys.executable, "-m", "laurels", "sync", "--once", "--queue", str(queue))
        pids.update({game.pid, sync.pid})
        (game_out, game_err), (sync_out, sync_err) = await asyncio.wait_for(
            asyncio.gather(game.communicate(), sync.communicate()), DEADLINE_SECONDS
        )
    sock.close()
    game_text, sync_text = game_out.decode(), sync_out.decode()
    errors = game_err.decode() + sync_err.decode()

    assert game.returncode == 0, errors
    assert sync.returncode == 0, errors
    assert "database is locked" not in errors, errors
    assert json.loads(game_text) == {"pending": 0}, errors
    assert recorder.overlapped, "the two processes never held leases at the same time"
    # What is left when sync exits is what the game holds leases on.
    match = re.search(r"\d+ pending, 0 dead letter\(s\), (\d+) delivered now", sync_text)
    assert match, sync_text
    assert 0 < int(match.group(1)) < len(expected)  # both delivered a share

    # What the service saw: every update once, each one a change (200, never 304).
    sent = Counter((x, a) for items, _ in recorder.answered for x, a, _ in items)
    assert sent == Counter(expected.keys())
    assert {status for _, status in recorder.answered} == {200}
    assert {(x, a): p for items, _ in recorder.answered for x, a, p in items} == expected

    # What the service stored: the progress, one activity row per unlock, counters.
    stored: dict[Key, int] = {}
    async with service.db.read() as conn:
        for player in tokens:
            rows = await read_progress(conn, sandbox=SANDBOX, xuid=player, scids=[SCID])
            stored.update({(player, a): row.percent for (_, a), row in rows.items()})
        unlocked = Counter(
            (r.xuid, r.achievement_id)
            for r in await conn.execute(select(activity.c.xuid, activity.c.achievement_id))
        )
        counters = {
            r.achievement_id: r.unlock_count
            for r in await conn.execute(
                select(achievement_stats.c.achievement_id, achievement_stats.c.unlock_count)
            )
        }
    unlocks = [key for key, percent in expected.items() if percent == 100]
    assert stored == expected
    assert unlocked == Counter(unlocks)
    assert counters == dict(Counter(a for _, a in unlocks))
    store = OfflineQueue(queue)
    status = store.status()
    store.close()
    assert (status.pending, status.dead_letters) == (0, 0)
