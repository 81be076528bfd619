"""Once `update_achievement` has answered "queued", a SIGKILL loses nothing: 50
game processes each queue one update offline and are killed the moment they say
"queued"; every update is in the queue file, and `laurels sync --once` delivers them
all with no game running. Until the service starts, its port is bound but not
listening (connections are refused), so no other process can take it meanwhile."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from laurels.app import create_app
from laurels.progress.service import read_progress
from laurels.sdk import OfflineQueue
from tests.helpers import (
    SCID,
    TITLE_ID,
    free_socket,
    serve_app,
    token_for,
)
from tests.helpers.processes import first_line_then_kill
from tests.helpers.queue import pending_rows
from tests.helpers.sdk import (
    SANDBOX,
    ServiceDb,
    game_script,
    game_xuid,
    save_credentials,
    sync_once,
    url_of,
)

GAMES = 50
PLAYERS = 5
SERVICE_ACHIEVEMENTS = GAMES // PLAYERS
AT_ONCE = 4  # game processes alive at a time (2 cores)
DEADLINE_SECONDS = 60
GAME = game_script(
    "achievement, percent", "client.update_achievement(xuid, achievement, int(percent))"
)

CLAIMER = """
import sys
from laurels.sdk import OfflineQueue
print(len(OfflineQueue(sys.argv[1]).claim()), flush=True)
sys.stdin.readline()  # holds its lease until killed
"""


def plan() -> dict[tuple[str, str], int]:
    """(player, achievement) → percent: one distinct update per game process."""
    return {
        (game_xuid(n % PLAYERS), str(n // PLAYERS + 1)): 1 + (n * 37) % 100 for n in range(GAMES)
    }


async def play_and_die(args: list[str], gate: asyncio.Semaphore, deadline: float) -> str:
    """Run one game; SIGKILL it the moment it prints its answer; return the answer."""
    return await first_line_then_kill(GAME, args, gate, deadline)


def queued(queue: Path) -> dict[tuple[str, str], int]:
    return {(r.xuid, r.achievement_id): r.percent for r in pending_rows(queue)}


@pytest.mark.slow
async def test_sigkilled_games_lose_no_queued_update_and_sync_delivers_them_all(
    service: ServiceDb, tmp_path: Path
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    sock = free_socket()  # bound, not listening: every game is offline
    url, queue = url_of(sock), tmp_path / "queue.db"
    expected = plan()
    tokens = {x: await token_for(service.db, xuid=x) for x in {x for x, _ in expected}}

    gate = asyncio.Semaphore(AT_ONCE)
    answers = await asyncio.gather(
        *(
            play_and_die([url, str(queue), tokens[x], x, a, str(p)], gate, deadline)
            for (x, a), p in expected.items()
        )
    )
    assert answers == ["queued"] * GAMES
    assert queued(queue) == expected  # every acknowledged update is on disk

    # `laurels sync` delivers with each player's stored delivery credential; a player
    # token (which the update route accepts) stands in for it here, saved the way
    # the client saves the credential it fetches.
    store = OfflineQueue(queue)
    save_credentials(store, url, tokens)
    store.close()

    async with serve_app(create_app(service.settings()), sock):  # and no game process runs
        out = await sync_once(queue, deadline)
    assert f"0 pending, 0 dead letter(s), {GAMES} delivered now" in out, out
    assert queued(queue) == {}
    delivered = {}
    async with service.db.read() as conn:
        for player in tokens:
            rows = await read_progress(conn, sandbox=SANDBOX, xuid=player, scids=[SCID])
            delivered.update({(player, a): row.percent for (_, a), row in rows.items()})
    assert delivered == expected


async def test_a_lease_held_by_a_killed_process_is_over_at_once(tmp_path: Path) -> None:
    """A game killed between claiming entries and settling them does not hold
    them back from `laurels sync --once` for the lease's 60 seconds."""
    queue = tmp_path / "queue.db"
    store = OfflineQueue(queue)
    store.enqueue(
        service="http://127.0.0.1:9",
        sandbox=SANDBOX,
        title_id=TITLE_ID,
        scid=SCID,
        xuid=game_xuid(0),
        achievement_id="1",
        percent=50,
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLAIMER,
        str(queue),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"1\n"
        assert store.claim(force=True) == []  # a live holder keeps its lease
    finally:
        holder.kill()
        await holder.communicate()
    [entry] = store.claim()
    assert (entry.xuid, entry.achievement_id, entry.percent) == (game_xuid(0), "1", 50)
    store.close()
