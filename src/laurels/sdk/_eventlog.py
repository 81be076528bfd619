"""The events of the offline queue (spec/events.md): a table of the queue file,
next to the updates, with the statements that write and claim it. Functions take
the queue's connection inside its transaction (`OfflineQueue` calls them).

Events are never coalesced: each row is one event, with the id and time the SDK
gave it when the game wrote it, appended in order (`seq`). A player's events are
delivered in that order, a prefix of at most `MAX_EVENTS` at a time, by one
deliverer at a time: a player whose first event is leased is not claimed by
another, so a later batch never overtakes an earlier one. Delivery keeps the id,
so a redelivery after a lost answer is counted once by the service.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from laurels.sdk._policy import MAX_EVENTS, iso_time

# The queue file's schema version (`PRAGMA user_version`): 0 is the file before
# events (updates, dead letters, credentials, session tokens), which `upgrade`
# brings to 2 by adding the tables below.
SCHEMA_VERSION = 2
DEFAULT_MAX_QUEUED_EVENTS = 100_000
EVENT_TABLES = (
    """CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
    service TEXT NOT NULL, sandbox TEXT NOT NULL, title_id INTEGER NOT NULL,
    scid TEXT NOT NULL, xuid TEXT NOT NULL, name TEXT NOT NULL, time REAL NOT NULL,
    dimensions TEXT NOT NULL, measurements TEXT NOT NULL, enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    lease_owner TEXT, lease_expires REAL NOT NULL DEFAULT 0, last_error TEXT)""",
    "CREATE INDEX IF NOT EXISTS events_by_player ON events (service, sandbox, title_id, xuid, seq)",
    """CREATE TABLE IF NOT EXISTS event_dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
    service TEXT NOT NULL, sandbox TEXT NOT NULL, title_id INTEGER NOT NULL,
    scid TEXT NOT NULL, xuid TEXT NOT NULL, name TEXT NOT NULL, time REAL NOT NULL,
    dimensions TEXT NOT NULL, measurements TEXT NOT NULL,
    status INTEGER NOT NULL, reason TEXT NOT NULL, failed_at REAL NOT NULL)""",
    # What the queue refused, by name ("events_refused_full"): counted, never silent.
    """CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY, value INTEGER NOT NULL)""",
)
COLUMNS = (
    "seq, event_id, service, sandbox, title_id, scid, xuid, name, time, dimensions,"
    " measurements, attempts"
)
PLAYER = "service = ? AND sandbox = ? AND title_id = ? AND xuid = ?"
REFUSED_FULL = "events_refused_full"


@dataclass(frozen=True)
class QueuedEvent:
    """One event in the queue, as the game wrote it."""

    seq: int
    event_id: str
    service: str
    sandbox: str
    title_id: int
    scid: str
    xuid: str
    name: str
    time: float
    dimensions: dict[str, str]
    measurements: dict[str, int]
    attempts: int = 0

    @property
    def batch_key(self) -> tuple[str, str, int, str]:
        """Events with the same batch key go in one request (in `seq` order): the
        player, as `claim` takes them."""
        return self.service, self.sandbox, self.title_id, self.xuid

    def wire(self) -> dict[str, Any]:
        """The event as `POST /events` carries it."""
        item: dict[str, Any] = {"id": self.event_id, "name": self.name, "time": iso_time(self.time)}
        if self.dimensions:
            item["dimensions"] = self.dimensions
        if self.measurements:
            item["measurements"] = self.measurements
        return item

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> QueuedEvent:
        seq, event_id, service, sandbox, title_id, scid, xuid, name, when, dims, meas, n = row
        return cls(
            int(seq),
            str(event_id),
            str(service),
            str(sandbox),
            int(title_id),
            str(scid),
            str(xuid),
            str(name),
            float(when),
            json.loads(dims),
            json.loads(meas),
            int(n),
        )


def create(conn: sqlite3.Connection) -> None:
    """(In a transaction, or on a fresh database.) The event tables."""
    for statement in EVENT_TABLES:
        conn.execute(statement)


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring a queue file to `SCHEMA_VERSION` (a file of a newer SDK is left as it
    is: it has these tables). Idempotent; several processes may race here, and
    each does it in its own `BEGIN IMMEDIATE`."""
    if int(conn.execute("PRAGMA user_version").fetchone()[0]) >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) < SCHEMA_VERSION:
            create(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def append(
    conn: sqlite3.Connection, event: QueuedEvent, *, now: float, not_before: float, limit: int
) -> bool:
    """Append an event behind the player's others; False (and counted) when the
    queue already holds `limit` events. An id already queued is not added twice."""
    if int(conn.execute("SELECT count(*) FROM events").fetchone()[0]) >= limit:
        conn.execute(
            "INSERT INTO counters VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
            (REFUSED_FULL,),
        )
        return False
    conn.execute(
        "INSERT INTO events (event_id, service, sandbox, title_id, scid, xuid, name, time,"
        " dimensions, measurements, enqueued_at, next_attempt_at, not_before)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        (
            event.event_id,
            event.service,
            event.sandbox,
            event.title_id,
            event.scid,
            event.xuid,
            event.name,
            event.time,
            json.dumps(event.dimensions),
            json.dumps(event.measurements),
            now,
            not_before,
            not_before,
        ),
    )
    return True


def has_queued(conn: sqlite3.Connection, player: tuple[str, str, int, str]) -> bool:
    """Whether any event of the player (service, sandbox, title id, xuid) is queued."""
    return (
        conn.execute(f"SELECT 1 FROM events WHERE {PLAYER} LIMIT 1", player).fetchone() is not None
    )


def claim(
    conn: sqlite3.Connection, *, owner: str, until: float, due: dict[str, Any], limit: int
) -> list[QueuedEvent]:
    """Lease, for up to `limit` events in all, the first `MAX_EVENTS` events of
    each player whose first event is due and not leased (`due` holds the SQL
    condition on the first event, as `where`, and its parameters)."""
    params = {key: value for key, value in due.items() if key != "where"}
    heads = conn.execute(
        "SELECT service, sandbox, title_id, xuid FROM events WHERE seq IN"
        " (SELECT min(seq) FROM events GROUP BY service, sandbox, title_id, xuid)"
        f" AND {due['where']} ORDER BY seq LIMIT :limit",
        {**params, "limit": limit},
    ).fetchall()
    claimed: list[QueuedEvent] = []
    for head in heads:
        room = min(MAX_EVENTS, limit - len(claimed))
        if room <= 0:
            break
        rows = conn.execute(
            f"UPDATE events SET lease_owner = ?, lease_expires = ? WHERE seq IN"
            f" (SELECT seq FROM events WHERE {PLAYER} ORDER BY seq LIMIT ?) RETURNING {COLUMNS}",
            (owner, until, *head, room),
        ).fetchall()
        claimed += sorted((QueuedEvent.from_row(tuple(r)) for r in rows), key=lambda e: e.seq)
    return claimed


def delivered(conn: sqlite3.Connection, events: list[QueuedEvent]) -> None:
    conn.executemany("DELETE FROM events WHERE seq = ?", [(e.seq,) for e in events])


def retry(
    conn: sqlite3.Connection,
    events: list[QueuedEvent],
    *,
    owner: str,
    soft: float,
    hard: float,
    error: str,
) -> None:
    """Release events this owner still holds for another attempt at `soft` (at
    `hard` at the earliest)."""
    conn.executemany(
        "UPDATE events SET attempts = attempts + 1, next_attempt_at = ?, not_before = ?,"
        " last_error = ?, lease_owner = NULL, lease_expires = 0"
        " WHERE seq = ? AND lease_owner = ?",
        [(soft, hard, error, e.seq, owner) for e in events],
    )


def dead_letter(
    conn: sqlite3.Connection, events: list[QueuedEvent], *, status: int, reason: str, now: float
) -> None:
    """Move events to the event dead letters, with the service's reason."""
    for event in events:
        conn.execute(
            "INSERT INTO event_dead_letters (event_id, service, sandbox, title_id, scid, xuid,"
            " name, time, dimensions, measurements, status, reason, failed_at)"
            " SELECT event_id, service, sandbox, title_id, scid, xuid, name, time, dimensions,"
            " measurements, ?, ?, ? FROM events WHERE seq = ?",
            (status, reason, now, event.seq),
        )
        conn.execute("DELETE FROM events WHERE seq = ?", (event.seq,))


def counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(events queued, event dead letters, events refused by a full queue)."""
    pending = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    dead = int(conn.execute("SELECT count(*) FROM event_dead_letters").fetchone()[0])
    refused = conn.execute("SELECT value FROM counters WHERE name = ?", (REFUSED_FULL,)).fetchone()
    return pending, dead, 0 if refused is None else int(refused[0])


def reasons(conn: sqlite3.Connection, last: int) -> list[tuple[float, str]]:
    """(failed_at, text) of the last event dead letters."""
    rows = conn.execute(
        "SELECT failed_at, xuid, name, event_id, status, reason FROM event_dead_letters"
        " ORDER BY id DESC LIMIT ?",
        (last,),
    ).fetchall()
    return [(float(r[0]), f"{r[1]} event {r[2]} {r[3]}: HTTP {r[4]}: {r[5]}") for r in rows]


def next_due(conn: sqlite3.Connection, params: dict[str, Any]) -> float | None:
    """When the earliest player's first event may be tried."""
    row = conn.execute(
        "SELECT min(max(due_time(next_attempt_at, :now, :wait),"
        " due_time(not_before, :now, :wait), due_time(lease_expires, :now, :lease)))"
        " FROM events WHERE seq IN"
        " (SELECT min(seq) FROM events GROUP BY service, sandbox, title_id, xuid)",
        params,
    ).fetchone()
    return None if row[0] is None else float(row[0])


@dataclass(frozen=True)
class DeadEvent:
    """An event the service refused for good, and why."""

    event: QueuedEvent
    status: int
    reason: str
    failed_at: float


def dead_events(conn: sqlite3.Connection) -> list[DeadEvent]:
    rows = conn.execute(
        "SELECT id, event_id, service, sandbox, title_id, scid, xuid, name, time, dimensions,"
        " measurements, 0, status, reason, failed_at FROM event_dead_letters ORDER BY id"
    ).fetchall()
    return [DeadEvent(QueuedEvent.from_row(tuple(r[:12])), r[12], r[13], r[14]) for r in rows]
