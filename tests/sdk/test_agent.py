"""The sync agent behind `laurels sync` (without `--once`), driven in-process
against a mock transport: no failing queue call stops it for good."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from laurels.sdk import MockTransport, OfflineQueue, QueueError
from laurels.sdk._agent import ERROR_PAUSE, POLL_SECONDS, error_pause, run_forever
from tests.helpers import eventually
from tests.helpers.queue import enqueue

BASE = "http://laurels.test"
SCID = "6a2e0100-0000-0000-0000-00005f1d2c3b"
XUID = "2533274790395904"
PLAYER: dict[str, Any] = {"service": BASE, "sandbox": "DEV.1", "title_id": 1234, "xuid": XUID}


class Service:
    """The achievements service's empty 200 to every update; records the ids."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.delivered += [item["id"] for item in body["achievements"]]
        return httpx.Response(200)


def fail(queue: OfflineQueue, name: str, times: int, error: Exception) -> list[int]:
    """Make `queue.<name>` raise `error` on its first `times` calls; returns the
    list its failures are counted in."""
    real = getattr(queue, name)
    failures: list[int] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if len(failures) < times:
            failures.append(1)
            raise error
        return real(*args, **kwargs)

    setattr(queue, name, call)
    return failures


def prepare(path: Path, *, later: float) -> OfflineQueue:
    """A queue with entry "1" due now and entry "2" due `later` seconds from now
    (it failed a moment ago), and the player's delivery credential."""
    queue = OfflineQueue(path)
    for achievement_id in ("1", "2"):
        enqueue(queue, BASE, achievement_id)
    queue.save_credential(**PLAYER, credential="cred", expires_at="")
    first, second = sorted(queue.claim(force=True), key=lambda e: e.achievement_id)
    queue.retry([first], soft=0.0, hard=0.0, error="HTTP 503")
    due = queue.clock() + later
    queue.retry([second], soft=due, hard=due, error="HTTP 503")
    return queue


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("erase_expired_tokens", QueueError("the offline queue failed: disk I/O error")),
        ("claim", QueueError("the offline queue failed: database is locked")),
        ("next_due", QueueError("the offline queue failed: unable to open database file")),
        ("status", QueueError("the offline queue failed: database disk image is malformed")),
        ("claim", OSError(28, "No space left on device")),  # not even a QueueError
    ],
)
async def test_a_failing_queue_call_never_stops_the_agent(
    tmp_path: Path, name: str, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    queue = prepare(tmp_path / "queue.db", later=1.0)
    failures = fail(queue, name, 3, error)
    service, stop = Service(), asyncio.Event()
    agent = asyncio.create_task(run_forever([queue], transport=MockTransport(service), stop=stop))
    try:
        await eventually(lambda: len(failures) == 3, what=f"three failures of {name}")
        await eventually(lambda: queue.pending_count() == 0, what="delivery after the failures")
        assert not agent.done()
    finally:
        stop.set()
        await asyncio.wait_for(agent, 5.0)
    assert sorted(service.delivered) == ["1", "2"]
    assert str(error) in caplog.text
    queue.close()


async def test_a_broken_queue_does_not_hold_back_the_others(tmp_path: Path) -> None:
    broken, healthy = (prepare(tmp_path / name, later=0.5) for name in ("a.db", "b.db"))
    fail(broken, "claim", 10**6, QueueError("the offline queue failed: disk I/O error"))
    fail(broken, "next_due", 10**6, QueueError("the offline queue failed: disk I/O error"))
    stop = asyncio.Event()
    agent = asyncio.create_task(run_forever([broken, healthy], MockTransport(Service()), stop))
    try:
        await eventually(lambda: healthy.pending_count() == 0, what="the healthy queue")
        assert not agent.done()
    finally:
        stop.set()
        await asyncio.wait_for(agent, 5.0)
    assert broken.pending_count() == 2
    for queue in (broken, healthy):
        queue.close()


@pytest.mark.parametrize(
    ("failures", "pause"),
    [
        (0, POLL_SECONDS),
        (1, ERROR_PAUSE),
        (2, 2 * ERROR_PAUSE),
        (3, 4 * ERROR_PAUSE),
        (10, POLL_SECONDS),
        (10**9, POLL_SECONDS),
    ],
)
def test_error_pause_is_brief_then_doubles_to_the_poll(failures: int, pause: float) -> None:
    assert error_pause(failures) == pytest.approx(pause)
