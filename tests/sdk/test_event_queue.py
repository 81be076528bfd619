"""The events of the offline queue file (`laurels.sdk._eventlog`): the schema
upgrade of a file written before events, append-only rows in order, claims that
keep each player's order across deliverers, and the bound."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from laurels.sdk import OfflineQueue
from laurels.sdk._eventlog import SCHEMA_VERSION
from laurels.sdk._policy import MAX_EVENTS
from laurels.sdk._queue import SCHEMA
from tests.helpers.queue import enqueue, enqueue_event, event_rows, pending_rows, read_queue

BASE = "http://laurels.test"
XUID = "2533274790395904"
OTHER_XUID = "2533274790395905"


class Clock:
    def __init__(self, now: float = 1_714_587_727.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_file_written_before_events_is_upgraded_and_keeps_its_updates(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as old:
        old.executescript(SCHEMA)  # the tables of the file before events, user_version 0
        old.execute(
            "INSERT INTO pending (service, sandbox, title_id, scid, xuid, achievement_id,"
            " percent, time_achieved, enqueued_at) VALUES (?, 'DEV.1', 1234, 's', ?, '1', 40,"
            " 1.0, 1.0)",
            (BASE, XUID),
        )
    queue = OfflineQueue(path)
    assert read_queue(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert [(r.xuid, r.achievement_id, r.percent) for r in pending_rows(path)] == [(XUID, "1", 40)]
    enqueue_event(queue, BASE)
    assert len(event_rows(path)) == 1
    assert queue.status().pending == 2  # an update and an event
    OfflineQueue(path)  # opening an upgraded file again changes nothing
    assert len(event_rows(path)) == 1


def test_a_queue_in_memory_has_the_event_tables(tmp_path: Path) -> None:
    queue = OfflineQueue.in_memory(tmp_path / "q.db", "testing")
    enqueue_event(queue, BASE)
    assert queue.status().events_pending == 1


def test_events_are_appended_never_coalesced(tmp_path: Path) -> None:
    queue = OfflineQueue(tmp_path / "queue.db")
    ids = [enqueue_event(queue, BASE, "Same", measurements={"count": 1}) for _ in range(3)]
    enqueue(queue, BASE, "1", 40)  # updates live beside them, untouched
    rows = event_rows(tmp_path / "queue.db")
    assert [r.event_id for r in rows] == ids
    assert [r.name for r in rows] == ["Same"] * 3


def test_a_player_is_claimed_by_one_deliverer_at_a_time_in_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    one, two = OfflineQueue(path), OfflineQueue(path)
    ids = [enqueue_event(one, BASE) for _ in range(MAX_EVENTS + 20)]
    other = enqueue_event(one, BASE, xuid=OTHER_XUID)
    first = one.claim_events()
    assert [e.event_id for e in first if e.xuid == XUID] == ids[:MAX_EVENTS]
    # the player's first event is leased: the rest wait, another player does not
    assert [e.event_id for e in two.claim_events()] == []
    one.events_delivered([e for e in first if e.xuid == XUID])
    assert [e.event_id for e in two.claim_events()] == ids[MAX_EVENTS:]
    assert other in [e.event_id for e in first]


def test_a_retried_head_holds_the_players_later_events_back(tmp_path: Path) -> None:
    clock = Clock()
    queue = OfflineQueue(tmp_path / "queue.db", clock=clock)
    enqueue_event(queue, BASE)
    queue.retry_events(queue.claim_events(), soft=clock.now + 60, hard=0.0, error="HTTP 503")
    enqueue_event(queue, BASE)  # written later, but behind the first
    assert queue.claim_events() == []
    assert queue.next_due() == clock.now + 60
    assert len(queue.claim_events(force=True)) == 2


def test_the_bound_refuses_and_counts(tmp_path: Path) -> None:
    queue = OfflineQueue(tmp_path / "queue.db")
    for _ in range(2):
        enqueue_event(queue, BASE, limit=2)
    refused = queue.claim_events()[0]  # any event: only the count matters
    assert queue.enqueue_event(refused, limit=2) is False
    assert queue.enqueue_event(refused, limit=2) is False
    state = queue.status()
    assert (state.events_pending, state.events_refused_full) == (2, 2)
