"""The SDK's offline queue file read through a connection of the test's own (not the
queue's code under test): what a game left on disk."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from laurels.sdk import OfflineQueue
from laurels.sdk._eventlog import QueuedEvent
from tests.helpers.service import SCID, TITLE_ID, XUID


class PendingRow(NamedTuple):
    xuid: str
    achievement_id: str
    percent: int
    time_achieved: float


def read_queue(path: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The rows of `query` on the queue file at `path`; sqlite3 errors propagate."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [tuple(row) for row in conn.execute(query, params)]


def pending_rows(path: Path) -> list[PendingRow]:
    """Every pending update, in the order queued."""
    query = "SELECT xuid, achievement_id, percent, time_achieved FROM pending ORDER BY rowid"
    return [PendingRow(str(x), str(a), int(p), float(t)) for x, a, p, t in read_queue(path, query)]


def rows_on_disk(path: Path) -> dict[tuple[str, str], tuple[int, float]]:
    """(xuid, id) -> (percent, time_achieved) of every pending update."""
    return {(r.xuid, r.achievement_id): (r.percent, r.time_achieved) for r in pending_rows(path)}


def pending_row(path: Path, achievement_id: str, xuid: str = XUID) -> dict[str, Any]:
    """Every column of one pending update; fails when there is none."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT * FROM pending WHERE xuid = ? AND achievement_id = ?", (xuid, achievement_id)
        ).fetchone()
    assert row is not None, f"no pending row for {xuid}/{achievement_id}"
    return dict(row)


def stored_credential(path: Path, xuid: str = XUID) -> str | None:
    """The delivery credential stored for `xuid`, if any."""
    rows = read_queue(path, "SELECT credential FROM credentials WHERE xuid = ?", (xuid,))
    return None if not rows else str(rows[0][0])


def enqueue(
    queue: OfflineQueue,
    service: str,
    achievement_id: str = "1",
    percent: int = 100,
    *,
    xuid: str = XUID,
    **extra: Any,
) -> None:
    """Queue an update of title 1234 (SCID) in DEV.1 as the client would."""
    queue.enqueue(
        service=service,
        sandbox="DEV.1",
        title_id=TITLE_ID,
        scid=SCID,
        xuid=xuid,
        achievement_id=achievement_id,
        percent=percent,
        **extra,
    )


class EventRow(NamedTuple):
    seq: int
    event_id: str
    xuid: str
    name: str
    time: float
    measurements: str


def event_rows(path: Path) -> list[EventRow]:
    """Every queued event, in the order written."""
    query = "SELECT seq, event_id, xuid, name, time, measurements FROM events ORDER BY seq"
    return [
        EventRow(int(s), str(i), str(x), str(n), float(t), str(m))
        for s, i, x, n, t, m in read_queue(path, query)
    ]


def enqueue_event(
    queue: OfflineQueue,
    service: str,
    name: str = "Progress",
    *,
    xuid: str = XUID,
    measurements: dict[str, int] | None = None,
    limit: int = 100_000,
) -> str:
    """Queue an event of title 1234 (SCID) in DEV.1 as the client would; its id."""
    event = QueuedEvent(
        0,
        str(uuid.uuid4()),
        service,
        "DEV.1",
        TITLE_ID,
        SCID,
        xuid,
        name,
        queue.clock(),
        {},
        measurements or {},
    )
    assert queue.enqueue_event(event, limit=limit)
    return event.event_id
