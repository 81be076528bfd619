"""`os.fork()` in a game whose worker thread is running: the parent and the child
both still deliver. The fork happens in a child process of the test (pytest itself
never forks)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from laurels.progress.service import read_progress
from laurels.settings import Settings
from tests.helpers import (
    SCID,
    TITLE_ID,
    XUID,
    running_service,
    token_for,
)
from tests.helpers.sdk import ServiceDb

SANDBOX = "DEV.1"
DEADLINE_SECONDS = 40

# argv: url, queue, token, xuid, mode. `idle`: fork once the worker has settled
# after its first update. `writing`: fork while a thread of the game is inside a
# queue write transaction, as the worker is right after an update (the wake-up
# claim, the credential save) — held for 0.5 s, so a fork that waits for it can.
GAME = f"""
import faulthandler, json, os, sys, threading, time, traceback
from laurels.sdk import OfflineQueue, SyncAchievementsClient
url, queue, token, xuid, mode = sys.argv[1:]
client = SyncAchievementsClient(url, title_id={TITLE_ID}, scid={SCID!r}, sandbox={SANDBOX!r},
                                token=token, queue_path=queue)
first = client.update_achievement(xuid, "1", 100).result(10)
assert first.status == "updated", first  # the worker thread runs now
store = OfflineQueue(queue)
deadline = time.monotonic() + 10
while store.credential(service=url, sandbox={SANDBOX!r}, title_id={TITLE_ID}, xuid=xuid) is None:
    assert time.monotonic() < deadline, "no delivery credential stored"
    time.sleep(0.02)
store.close()
if mode == "writing":
    inside = threading.Event()
    def write() -> None:
        with client._engine.queue._transaction():
            inside.set()
            time.sleep(0.5)
    threading.Thread(target=write).start()
    inside.wait(10)
pid = os.fork()
if pid == 0:  # the forked child: exit code 0 only if it delivered
    code = 1
    try:
        result = client.update_achievement(xuid, "2", 100).result(10)
        pending = client.flush(timeout=3)
        print("child:", result.status, pending, file=sys.stderr, flush=True)
        code = 0 if (result.status, pending) == ("updated", 0) else 1
    except BaseException:
        traceback.print_exc()
        faulthandler.dump_traceback(all_threads=True)
    finally:
        sys.stderr.flush()
        os._exit(code)
result = client.update_achievement(xuid, "3", 100).result(10)
pending = client.flush(timeout=10)
_, status = os.waitpid(pid, 0)
client.close(timeout=2)
print(json.dumps({{"parent": [result.status, pending],
                  "child": os.waitstatus_to_exitcode(status)}}), flush=True)
"""


async def fork_and_deliver(service: ServiceDb, queue: Path, mode: str) -> None:
    token = await token_for(service.db, xuid=XUID)
    settings = Settings(database_url=service.url, catalog_refresh_seconds=0.2)
    async with running_service(settings) as url:
        game = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            GAME,
            url,
            str(queue),
            token,
            XUID,
            mode,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # the forked child is in the group too
        )
        try:
            out, err = await asyncio.wait_for(game.communicate(), DEADLINE_SECONDS)
        finally:
            if game.returncode is None:
                os.killpg(game.pid, signal.SIGKILL)
                await game.wait()
    assert game.returncode == 0, err.decode()
    assert json.loads(out) == {"parent": ["updated", 0], "child": 0}, err.decode()
    async with service.db.read() as conn:
        rows = await read_progress(conn, sandbox=SANDBOX, xuid=XUID, scids=[SCID])
    assert {a: row.percent for (_, a), row in rows.items()} == {"1": 100, "2": 100, "3": 100}


async def test_parent_and_forked_child_both_deliver(service: ServiceDb, tmp_path: Path) -> None:
    await fork_and_deliver(service, tmp_path / "queue.db", "idle")


@pytest.mark.slow
async def test_a_fork_during_a_queue_write_leaves_the_child_able_to_deliver(
    service: ServiceDb, tmp_path: Path
) -> None:
    await fork_and_deliver(service, tmp_path / "queue.db", "writing")
