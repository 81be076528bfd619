"""The offline queue: a SQLite file on the device (WAL, `synchronous=FULL`).

An update is on disk before `enqueue` returns, an event before `enqueue_event`
returns (events live in their own tables, `_eventlog`, never coalesced). Updates
of one (service, sandbox, scid, xuid, achievement) coalesce to their maximum, so
the queue never holds more update rows than the local players' distinct
achievements. Rows hold plain columns (no pickle) and the player's identity. The
narrow delivery credential the service issues is kept in the same file, which is
created with mode 0600; so is, only until it has been exchanged for such a
credential or has expired, the session token of a player who has none yet (the
threat model is in `laurels.auth.credentials`).

Several processes may use one file at once (a game's worker and `laurels sync`):
every write is a short `BEGIN IMMEDIATE` transaction, and a deliverer takes rows
with a lease that expires, never holding a lock across a network call. A row is
deleted after delivery only if it was not raised meanwhile.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import platformdirs

from laurels.sdk import _eventlog as eventlog
from laurels.sdk._eventlog import DEFAULT_MAX_QUEUED_EVENTS, QueuedEvent
from laurels.sdk._exceptions import QueueError
from laurels.sdk._policy import MAX_WAIT, Queued, coalesce, due_time
from laurels.sdk._token import Blocked

LEASE_SECONDS = 60.0
BUSY_TIMEOUT_MS = 30_000
HOST = socket.gethostname()
OWNER = re.compile(r"(\d+)@(.*)#[0-9a-f]+")
# What says the file itself is unusable (SQLITE_CORRUPT, SQLITE_CANTOPEN,
# SQLITE_NOTADB), as opposed to a lock another process holds (SQLITE_BUSY).
BROKEN_FILE_CODES = frozenset({11, 14, 26})
# SQLITE_BUSY and SQLITE_LOCKED: another process holds the file for now.
LOCKED_CODES = frozenset({5, 6})
# Opening a queue file tries this often, waiting 0.04, 0.08, 0.16 s... in between.
OPEN_ATTEMPTS = 5
OPEN_BACKOFF = 0.02
SIDECARS = ("-wal", "-shm", "-journal")
log = logging.getLogger("laurels.sdk")


class _ForkGate:
    """SQLite keeps each process's lock state in memory: a fork while a thread is
    inside SQLite copies it half-held into the child, whose writes then wait for a
    lock nobody will release. A fork waits for the queue's SQLite calls in flight;
    new ones wait for the fork."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._busy = 0
        self._forking = False

    @contextmanager
    def use(self) -> Iterator[None]:
        with self._cond:
            while self._forking:
                self._cond.wait()
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                if not self._busy:
                    self._cond.notify_all()

    def before_fork(self) -> None:
        self._cond.acquire()
        self._forking = True
        while self._busy:
            self._cond.wait()

    def after_fork(self) -> None:
        self._forking = False
        self._cond.notify_all()
        self._cond.release()


FORK_GATE = _ForkGate()
os.register_at_fork(
    before=FORK_GATE.before_fork,
    after_in_parent=FORK_GATE.after_fork,
    after_in_child=FORK_GATE.after_fork,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    service TEXT NOT NULL, sandbox TEXT NOT NULL, title_id INTEGER NOT NULL,
    scid TEXT NOT NULL, xuid TEXT NOT NULL, achievement_id TEXT NOT NULL,
    percent INTEGER NOT NULL, time_achieved REAL NOT NULL, enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    lease_owner TEXT, lease_expires REAL NOT NULL DEFAULT 0, last_error TEXT,
    PRIMARY KEY (service, sandbox, scid, xuid, achievement_id)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL, sandbox TEXT NOT NULL, title_id INTEGER NOT NULL,
    scid TEXT NOT NULL, xuid TEXT NOT NULL, achievement_id TEXT NOT NULL,
    percent INTEGER NOT NULL, time_achieved REAL NOT NULL,
    status INTEGER NOT NULL, reason TEXT NOT NULL, failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS credentials (
    service TEXT NOT NULL, sandbox TEXT NOT NULL, title_id INTEGER NOT NULL,
    xuid TEXT NOT NULL, credential TEXT NOT NULL, expires_at TEXT NOT NULL,
    PRIMARY KEY (service, sandbox, title_id, xuid)
);
CREATE TABLE IF NOT EXISTS session_tokens (
    service TEXT NOT NULL, sandbox TEXT NOT NULL, title_id INTEGER NOT NULL,
    xuid TEXT NOT NULL, token TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (service, sandbox, title_id, xuid)
);
"""


def default_queue_path() -> Path:
    return Path(platformdirs.user_data_dir("laurels", appauthor=False)) / "queue.db"


@dataclass(frozen=True)
class Entry:
    service: str
    sandbox: str
    title_id: int
    scid: str
    xuid: str
    achievement_id: str
    percent: int
    time_achieved: float
    attempts: int = 0

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return self.service, self.sandbox, self.scid, self.xuid, self.achievement_id

    @property
    def batch_key(self) -> tuple[str, str, int, str, str]:
        """Entries with the same batch key go in one V2 request."""
        return self.service, self.sandbox, self.title_id, self.scid, self.xuid


@dataclass(frozen=True)
class DeadLetter:
    entry: Entry
    status: int
    reason: str
    failed_at: float


@dataclass(frozen=True)
class QueueStatus:
    pending: int
    dead_letters: int
    last_reasons: tuple[str, ...]
    last_error: str | None
    # Unusable queue files moved aside, kept next to this one for inspection.
    moved_aside: tuple[str, ...] = ()
    # Players whose queued updates nothing on this device can deliver now, and why.
    blocked: tuple[Blocked, ...] = ()
    # Set when the queue location could not be used at all: which, why, and that
    # updates queued by this process live in its memory only (`open_queue`).
    not_durable: str | None = None
    # Of the counts above, events (`pending` and `dead_letters` count updates and
    # events together), and the events refused because the queue was full.
    events_pending: int = 0
    event_dead_letters: int = 0
    events_refused_full: int = 0


ENTRY_COLUMNS = (
    "service, sandbox, title_id, scid, xuid, achievement_id, percent, time_achieved, attempts"
)


class OfflineQueue:
    """One queue file. Thread-safe; each thread uses its own connection."""

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path) if path is not None else default_queue_path()
        self.clock = clock
        self._token = uuid.uuid4().hex
        self._local = threading.local()
        self.not_durable: str | None = None
        # Only for a queue in memory: its one connection, used by one thread at a time.
        self._memory: sqlite3.Connection | None = None
        self._memory_lock = threading.RLock()
        self._open()

    @classmethod
    def in_memory(
        cls,
        path: str | os.PathLike[str],
        reason: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> OfflineQueue:
        """The same queue on an in-memory SQLite database, for a process whose
        queue location `path` cannot be used for `reason`: coalescing and delivery
        work as usual while the process lives, but nothing survives it, and
        `status().not_durable` says so. (A forked child gets a copy.)"""
        queue = cls.__new__(cls)
        queue.path, queue.clock = Path(path), clock
        queue._token, queue._local = uuid.uuid4().hex, threading.local()
        queue._memory_lock = threading.RLock()
        queue.not_durable = (
            f"the offline queue {path} cannot be used ({reason}): updates queued by this"
            " process are kept in its memory only, and lost if it ends before they are"
            " delivered"
        )
        queue._memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        queue._memory.create_function("due_time", 3, due_time, deterministic=True)
        queue._memory.executescript(SCHEMA)
        eventlog.create(queue._memory)
        queue._memory.execute(f"PRAGMA user_version = {eventlog.SCHEMA_VERSION}")
        return queue

    def _open(self) -> None:
        """Open the file, or, when the file itself is unusable (not SQLite,
        corrupt, not a regular file, unreadable), move it aside and start a fresh
        one, so that the game keeps working. Raises QueueError when no queue can be
        made at this path (an unwritable directory, a lock held past the timeout)."""
        seen = _file_id(self.path)
        error = self._first_open()
        if error is None:
            return
        if seen is None or not _is_broken(error):
            raise error
        if _file_id(self.path) == seen:  # not already replaced by another process
            self._move_aside(error)
        self._create()

    def _first_open(self) -> QueueError | None:
        """Open the file, trying again a few times (briefly) while it looks broken
        or locked: another process may be creating it or changing its journal at
        this very moment, which must never send a game to a queue in memory, nor a
        good file aside. The last error, or None once open."""
        error: QueueError | None = None
        for attempt in range(OPEN_ATTEMPTS):
            if attempt:
                time.sleep(OPEN_BACKOFF * 2**attempt)
            try:
                self._create()
                return None
            except QueueError as exc:
                error = exc
                self.close()
                if not (_is_broken(exc) or _is_locked(exc)):
                    return exc
        return error

    def _create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(descriptor)
            with self._reading() as conn:
                conn.executescript(SCHEMA)  # idempotent: IF NOT EXISTS
                eventlog.upgrade(conn)
                problem = conn.execute("PRAGMA quick_check").fetchone()[0]
        except (OSError, ValueError, QueueError) as exc:  # (ValueError: a NUL in the path)
            raise QueueError(f"cannot open the offline queue {self.path}: {exc}") from exc
        if problem != "ok":
            summary = " ".join(str(problem).split())[:200]
            raise CorruptQueue(f"the offline queue {self.path} is corrupt: {summary}")

    def _move_aside(self, error: QueueError) -> None:
        """Rename the unusable file (and its WAL and journal) to
        `<name>.broken-<UTC time>-<random>`, kept for inspection; raises QueueError
        when it cannot be renamed."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = self.path.with_name(f"{self.path.name}.broken-{stamp}-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            raise QueueError(f"{error}; it cannot be moved aside either: {exc}") from exc
        for suffix in SIDECARS:
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        log.error("%s; moved aside to %s, a fresh offline queue is used", error, aside)

    def _connection(self) -> sqlite3.Connection:
        if self._memory is not None:
            return self._memory
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            # A new thread, or a forked child: never use a connection made elsewhere.
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            try:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.create_function("due_time", 3, due_time, deterministic=True)
            except sqlite3.Error:
                conn.close()
                raise
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """Every SQLite error reaches the caller as a QueueError."""
        try:
            yield
        except sqlite3.Error as exc:
            raise QueueError(f"the offline queue {self.path} failed: {exc}") from exc

    @contextmanager
    def _serial(self) -> Iterator[None]:
        """A queue in memory has one connection: one thread at a time uses it (a
        file's threads each have their own, and SQLite's locks)."""
        if self._memory is None:
            yield
            return
        with self._memory_lock:
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._failures(), FORK_GATE.use(), self._serial():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:  # a connection in an unknown state: start anew
                    if self._memory is None:
                        self.close()
                raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._failures(), FORK_GATE.use(), self._serial():
            yield self._connection()

    def enqueue(
        self,
        *,
        service: str,
        sandbox: str,
        title_id: int,
        scid: str,
        xuid: str,
        achievement_id: str,
        percent: int,
        achieved_at: float | None = None,
        not_before: float = 0.0,
    ) -> Queued:
        """Queue an update, coalesced with what is queued for that achievement, not
        to be delivered before `not_before` (a Retry-After), in the same write.
        Returns once it is on disk; raises QueueError if it cannot be written."""
        now = self.clock()
        key = (service, sandbox, scid, xuid, achievement_id)
        try:
            with self._transaction() as conn:
                row = conn.execute(
                    "SELECT percent, time_achieved FROM pending WHERE service=? AND sandbox=?"
                    " AND scid=? AND xuid=? AND achievement_id=?",
                    key,
                ).fetchone()
                merged = coalesce(
                    None if row is None else Queued(row[0], row[1]),
                    percent,
                    now if achieved_at is None else achieved_at,
                )
                conn.execute(
                    "INSERT INTO pending (service, sandbox, title_id, scid, xuid,"
                    " achievement_id, percent, time_achieved, enqueued_at, next_attempt_at,"
                    " not_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (service, sandbox, scid, xuid, achievement_id) DO UPDATE SET"
                    " percent = excluded.percent, time_achieved = excluded.time_achieved,"
                    " next_attempt_at = excluded.next_attempt_at,"
                    " not_before = max(not_before, excluded.not_before)",
                    (
                        service,
                        sandbox,
                        title_id,
                        scid,
                        xuid,
                        achievement_id,
                        merged.percent,
                        merged.time_achieved,
                        now,
                        not_before,
                        not_before,
                    ),
                )
        except sqlite3.Error as exc:
            raise QueueError(f"cannot write the offline queue {self.path}: {exc}") from exc
        return merged

    @property
    def owner(self) -> str:
        """Who holds a lease: this queue object in this process (a forked child is
        another owner) of this machine."""
        return f"{os.getpid()}@{HOST}#{self._token}"

    def queued(
        self, service: str, sandbox: str, scid: str, xuid: str, achievement_id: str
    ) -> Queued | None:
        """What is queued for one achievement, if anything."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT percent, time_achieved FROM pending WHERE service=? AND sandbox=?"
                " AND scid=? AND xuid=? AND achievement_id=?",
                (service, sandbox, scid, xuid, achievement_id),
            ).fetchone()
        return None if row is None else Queued(row[0], row[1])

    def claim(self, *, limit: int = 256, force: bool = False) -> list[Entry]:
        """Lease up to `limit` due entries to this queue object's owner. With
        `force`, entries waiting out a backoff are due too (a flush), but never
        ones a Retry-After holds back. A lease whose holder was a process of this
        machine that no longer exists is over at once (a game killed mid-delivery
        must not hold `laurels sync --once` back until the lease expires). A time
        further ahead than any this SDK writes is due (`due_time`): a wall clock
        stepped back never parks an entry."""
        now = self.clock()
        with self._transaction() as conn:
            where, due = _due(conn, now, force=force)
            rows = conn.execute(
                f"UPDATE pending SET lease_owner = :owner, lease_expires = :until"
                f" WHERE rowid IN (SELECT rowid FROM pending WHERE {where}"
                f" ORDER BY enqueued_at LIMIT :limit) RETURNING {ENTRY_COLUMNS}",
                {"owner": self.owner, "until": now + LEASE_SECONDS, "limit": limit, **due},
            ).fetchall()
        return [Entry(*row) for row in rows]

    def delivered(self, entries: list[Entry]) -> None:
        """Remove delivered entries, unless one was raised after it was claimed
        (that one is released, to be delivered again)."""
        with self._transaction() as conn:
            for entry in entries:
                conn.execute(
                    "DELETE FROM pending WHERE service=? AND sandbox=? AND scid=? AND xuid=?"
                    " AND achievement_id=? AND percent <= ?",
                    (*entry.key, entry.percent),
                )
            self._release(conn, entries)

    def retry(self, entries: list[Entry], *, soft: float, hard: float, error: str) -> None:
        """Release entries for another attempt at `soft` (at `hard` at the earliest,
        whatever a flush says)."""
        with self._transaction() as conn:
            for entry in entries:
                conn.execute(
                    "UPDATE pending SET attempts = attempts + 1, next_attempt_at = ?,"
                    " not_before = ?, last_error = ? WHERE service=? AND sandbox=?"
                    " AND scid=? AND xuid=? AND achievement_id=?",
                    (soft, hard, error, *entry.key),
                )
            self._release(conn, entries)

    def dead_letter(self, entries: list[Entry], *, status: int, reason: str) -> None:
        """Move entries the service rejected for good to the dead letters."""
        now = self.clock()
        with self._transaction() as conn:
            for entry in entries:
                conn.execute(
                    "INSERT INTO dead_letters (service, sandbox, title_id, scid, xuid,"
                    " achievement_id, percent, time_achieved, status, reason, failed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.service,
                        entry.sandbox,
                        entry.title_id,
                        entry.scid,
                        entry.xuid,
                        entry.achievement_id,
                        entry.percent,
                        entry.time_achieved,
                        status,
                        reason,
                        now,
                    ),
                )
                conn.execute(
                    "DELETE FROM pending WHERE service=? AND sandbox=? AND scid=? AND xuid=?"
                    " AND achievement_id=? AND percent <= ?",
                    (*entry.key, entry.percent),
                )
            self._release(conn, entries)

    def _release(self, conn: sqlite3.Connection, entries: list[Entry]) -> None:
        for entry in entries:
            conn.execute(
                "UPDATE pending SET lease_owner = NULL, lease_expires = 0 WHERE service=?"
                " AND sandbox=? AND scid=? AND xuid=? AND achievement_id=? AND lease_owner=?",
                (*entry.key, self.owner),
            )

    # -- events (`_eventlog`) ----------------------------------------------------

    def enqueue_event(
        self,
        event: QueuedEvent,
        *,
        not_before: float = 0.0,
        limit: int = DEFAULT_MAX_QUEUED_EVENTS,
    ) -> bool:
        """Append an event (its `seq` is ignored) behind what is queued, not to be
        delivered before `not_before`. Returns True once it is on disk; False, and
        counted in `status().events_refused_full`, when `limit` events are queued
        already. Raises QueueError if it cannot be written."""
        with self._transaction() as conn:
            return eventlog.append(
                conn, event, now=self.clock(), not_before=not_before, limit=limit
            )

    def events_queued(self, service: str, sandbox: str, title_id: int, xuid: str) -> bool:
        """Whether the player has events queued (a new one must go behind them)."""
        with self._reading() as conn:
            return eventlog.has_queued(conn, (service, sandbox, title_id, xuid))

    def claim_events(self, *, limit: int = 512, force: bool = False) -> list[QueuedEvent]:
        """Lease, in `seq` order, the first events (up to `MAX_EVENTS`) of each
        player whose first event is due and not leased to a live owner; `force`
        and the leases of dead owners as in `claim`."""
        now = self.clock()
        with self._transaction() as conn:
            where, due = _due(conn, now, force=force)
            return eventlog.claim(
                conn,
                owner=self.owner,
                until=now + LEASE_SECONDS,
                due={"where": where, **due},
                limit=limit,
            )

    def events_delivered(self, events: list[QueuedEvent]) -> None:
        """Remove events the service took (or counted as duplicates)."""
        with self._transaction() as conn:
            eventlog.delivered(conn, events)

    def retry_events(
        self, events: list[QueuedEvent], *, soft: float, hard: float, error: str
    ) -> None:
        """Release events for another attempt, as `retry`."""
        with self._transaction() as conn:
            eventlog.retry(conn, events, owner=self.owner, soft=soft, hard=hard, error=error)

    def dead_letter_events(self, events: list[QueuedEvent], *, status: int, reason: str) -> None:
        """Move events the service rejected for good to the event dead letters."""
        now = self.clock()
        with self._transaction() as conn:
            eventlog.dead_letter(conn, events, status=status, reason=reason, now=now)

    def event_dead_letters(self) -> list[eventlog.DeadEvent]:
        with self._reading() as conn:
            return eventlog.dead_events(conn)

    # -- both ----------------------------------------------------------------------

    def pending_count(self, service: str | None = None) -> int:
        """Updates and events queued (for `service`, when given)."""
        where, args = "", cast(tuple[str, ...], ())
        if service is not None:
            where, args = " WHERE service = ?", (service,)
        with self._reading() as conn:
            return sum(
                int(conn.execute(f"SELECT count(*) FROM {table}{where}", args).fetchone()[0])
                for table in ("pending", "events")
            )

    def next_due(self) -> float | None:
        """When the earliest pending entry or player's first event may be tried
        (None when none is)."""
        params = {"now": self.clock(), "wait": MAX_WAIT, "lease": LEASE_SECONDS}
        with self._reading() as conn:
            row = conn.execute(
                "SELECT min(max(due_time(next_attempt_at, :now, :wait),"
                " due_time(not_before, :now, :wait), due_time(lease_expires, :now, :lease)))"
                " FROM pending",
                params,
            ).fetchone()
            events = eventlog.next_due(conn, params)
        times = [t for t in (None if row[0] is None else float(row[0]), events) if t is not None]
        return min(times) if times else None

    def status(self, *, last: int = 5) -> QueueStatus:
        with self._reading() as conn:
            state = self._status(conn, last)
            return replace(state, blocked=self._blocked(conn), not_durable=self.not_durable)

    def _blocked(self, conn: sqlite3.Connection) -> tuple[Blocked, ...]:
        """Players with pending entries and neither a credential nor an unexpired
        session token in this file."""
        rows = conn.execute(
            "SELECT p.service, p.sandbox, p.title_id, p.xuid, count(*), max(s.expires_at)"
            " FROM (SELECT service, sandbox, title_id, xuid FROM pending UNION ALL"
            " SELECT service, sandbox, title_id, xuid FROM events) p"
            " LEFT JOIN credentials c ON c.service = p.service"
            " AND c.sandbox = p.sandbox AND c.title_id = p.title_id AND c.xuid = p.xuid"
            " LEFT JOIN session_tokens s ON s.service = p.service AND s.sandbox = p.sandbox"
            " AND s.title_id = p.title_id AND s.xuid = p.xuid"
            " WHERE c.credential IS NULL AND (s.token IS NULL OR s.expires_at <= ?)"
            " GROUP BY p.service, p.sandbox, p.title_id, p.xuid ORDER BY p.xuid",
            (self.clock(),),
        ).fetchall()
        return tuple(Blocked(r[0], r[1], int(r[2]), r[3], int(r[4]), r[5]) for r in rows)

    def _status(self, conn: sqlite3.Connection, last: int) -> QueueStatus:
        updates = int(conn.execute("SELECT count(*) FROM pending").fetchone()[0])
        dead = int(conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
        events, dead_events, refused = eventlog.counts(conn)
        reasons = [
            (float(row[0]), f"{row[1]} {row[2]} {row[3]}: HTTP {row[4]}: {row[5]}")
            for row in conn.execute(
                "SELECT failed_at, xuid, scid, achievement_id, status, reason FROM dead_letters"
                " ORDER BY id DESC LIMIT ?",
                (last,),
            )
        ]
        reasons = sorted(reasons + eventlog.reasons(conn, last), key=lambda r: -r[0])[:last]
        error = conn.execute(
            "SELECT last_error, next_attempt_at FROM pending WHERE last_error IS NOT NULL"
            " UNION ALL SELECT last_error, next_attempt_at FROM events"
            " WHERE last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1"
        ).fetchone()
        return QueueStatus(
            updates + events,
            dead + dead_events,
            tuple(text for _, text in reasons),
            None if error is None else error[0],
            self._moved_aside(),
            events_pending=events,
            event_dead_letters=dead_events,
            events_refused_full=refused,
        )

    def _moved_aside(self) -> tuple[str, ...]:
        """Unusable files once at this path, kept beside it (see `_open`)."""
        pattern = f"{glob.escape(str(self.path))}.broken-*"
        return tuple(sorted(p for p in glob.glob(pattern) if not p.endswith(SIDECARS)))

    def dead_letters(self) -> list[DeadLetter]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT service, sandbox, title_id, scid, xuid, achievement_id, percent,"
                " time_achieved, status, reason, failed_at FROM dead_letters ORDER BY id"
            ).fetchall()
        return [DeadLetter(Entry(*row[:8]), row[8], row[9], row[10]) for row in rows]

    def save_credential(
        self,
        *,
        service: str,
        sandbox: str,
        title_id: int,
        xuid: str,
        credential: str,
        expires_at: str,
    ) -> None:
        with self._transaction() as conn:
            conn.execute(  # exchanged: the session token has no more business here
                "DELETE FROM session_tokens WHERE service=? AND sandbox=? AND title_id=?"
                " AND xuid=?",
                (service, sandbox, title_id, xuid),
            )
            conn.execute(
                "INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT"
                " (service, sandbox, title_id, xuid) DO UPDATE SET"
                " credential = excluded.credential, expires_at = excluded.expires_at",
                (service, sandbox, title_id, xuid, credential, expires_at),
            )

    def credential(self, *, service: str, sandbox: str, title_id: int, xuid: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT credential FROM credentials WHERE service=? AND sandbox=? AND title_id=?"
                " AND xuid=?",
                (service, sandbox, title_id, xuid),
            ).fetchone()
        return None if row is None else str(row[0])

    def forget_credential(
        self,
        *,
        service: str,
        sandbox: str,
        title_id: int,
        xuid: str,
        credential: str | None = None,
    ) -> None:
        """Erase the player's credential (only if it is still `credential`, when given:
        another process may have stored a fresh one meanwhile)."""
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM credentials WHERE service=? AND sandbox=? AND title_id=? AND xuid=?"
                " AND (? IS NULL OR credential = ?)",
                (service, sandbox, title_id, xuid, credential, credential),
            )

    def save_session_token(
        self, *, service: str, sandbox: str, title_id: int, xuid: str, token: str, expires_at: float
    ) -> bool:
        """Keep a player's session token for a deliverer to exchange for a delivery
        credential, unless the file holds a credential for that player already or a
        token that expires later. True if it is stored now. The caller checks that the
        token is that player's (`_token.storable`)."""
        with self._transaction() as conn:
            self._erase_expired_tokens(conn)
            have = conn.execute(
                "SELECT 1 FROM credentials WHERE service=? AND sandbox=? AND title_id=? AND xuid=?",
                (service, sandbox, title_id, xuid),
            ).fetchone()
            if have is not None:
                return False
            done = conn.execute(
                "INSERT INTO session_tokens VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT"
                " (service, sandbox, title_id, xuid) DO UPDATE SET token = excluded.token,"
                " expires_at = excluded.expires_at WHERE excluded.expires_at > expires_at",
                (service, sandbox, title_id, xuid, token, expires_at),
            )
            return done.rowcount > 0

    def session_token(self, *, service: str, sandbox: str, title_id: int, xuid: str) -> str | None:
        """The player's stored session token, if it has not expired by this clock."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT token FROM session_tokens WHERE service=? AND sandbox=? AND title_id=?"
                " AND xuid=? AND expires_at > ?",
                (service, sandbox, title_id, xuid, self.clock()),
            ).fetchone()
        return None if row is None else str(row[0])

    def forget_session_token(
        self, *, service: str, sandbox: str, title_id: int, xuid: str, token: str
    ) -> None:
        """Erase the player's stored session token if it is still `token`."""
        with self._transaction() as conn:
            conn.execute(
                "DELETE FROM session_tokens WHERE service=? AND sandbox=? AND title_id=?"
                " AND xuid=? AND token=?",
                (service, sandbox, title_id, xuid, token),
            )

    def erase_expired_tokens(self) -> int:
        """Erase the stored session tokens that have expired; returns how many (a
        read first, so a file without any costs no write)."""
        with self._reading() as conn:
            found = conn.execute(
                "SELECT 1 FROM session_tokens WHERE expires_at <= ? LIMIT 1", (self.clock(),)
            ).fetchone()
        if found is None:
            return 0
        with self._transaction() as conn:
            return self._erase_expired_tokens(conn)

    def _erase_expired_tokens(self, conn: sqlite3.Connection) -> int:
        done = conn.execute("DELETE FROM session_tokens WHERE expires_at <= ?", (self.clock(),))
        return int(done.rowcount)

    def close(self) -> None:
        """Close this thread's connection (a queue in memory: the queue itself)."""
        if self._memory is not None:
            with self._memory_lock:
                self._memory.close()
            return
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def open_queue(
    path: str | os.PathLike[str] | None, *, clock: Callable[[], float] = time.time
) -> OfflineQueue:
    """The queue at `path` (the default location for None); when no queue can be
    made there at all (its directory cannot be created or written, its parent is
    a file), an error naming the path and the reason is logged and the queue
    lives in this process's memory instead (`OfflineQueue.in_memory`), so that a
    game's updates still work, online and queued. Never raises QueueError."""
    try:
        return OfflineQueue(path, clock=clock)
    except QueueError as exc:
        where = path if path is not None else default_queue_path()
        log.error("%s; updates queued by this process are kept in its memory only", exc)
        return OfflineQueue.in_memory(where, str(exc.__cause__ or exc), clock=clock)


class CorruptQueue(QueueError):
    """The queue file is SQLite, but its integrity check fails."""


def _is_broken(error: QueueError) -> bool:
    """Whether a queue failed to open because of the file itself, which moving
    it aside cures, rather than a lock or the directory."""
    cause = error.__cause__
    while isinstance(cause, QueueError):
        cause = cause.__cause__
    if isinstance(error, CorruptQueue) or isinstance(cause, IsADirectoryError | PermissionError):
        return True
    return isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode & 0xFF in BROKEN_FILE_CODES


def _is_locked(error: QueueError) -> bool:
    cause = error.__cause__
    while isinstance(cause, QueueError):
        cause = cause.__cause__
    return isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode & 0xFF in LOCKED_CODES


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what is at `path`, None when nothing is."""
    try:
        found = os.lstat(path)
    except (OSError, ValueError):  # (ValueError: a NUL in the path)
        return None
    return found.st_dev, found.st_ino


def _dead_owners(conn: sqlite3.Connection, now: float) -> list[str]:
    """Holders of unexpired leases that were processes of this machine and are gone.
    Any other holder (another machine, a reused pid) keeps its lease until it expires."""
    owners = conn.execute(
        "SELECT lease_owner FROM pending WHERE lease_expires > :now AND lease_owner IS NOT NULL"
        " UNION SELECT lease_owner FROM events WHERE lease_expires > :now"
        " AND lease_owner IS NOT NULL",
        {"now": now},
    ).fetchall()
    return [str(owner) for (owner,) in owners if not _alive(str(owner))]


def _due(conn: sqlite3.Connection, now: float, *, force: bool) -> tuple[str, dict[str, Any]]:
    """The SQL condition on a row (of `pending` or `events`) to be claimed now, and its
    parameters: its `not_before` has come (and, without `force`, its backoff's
    `next_attempt_at`), and it has no lease, an expired one, or one of a dead owner
    (`_dead_owners`)."""
    dead = {f"dead{n}": owner for n, owner in enumerate(_dead_owners(conn, now))}
    orphaned = f" OR lease_owner IN ({', '.join(':' + k for k in dead)})" if dead else ""
    where = "due_time(not_before, :now, :wait) <= :now"
    if not force:
        where += " AND due_time(next_attempt_at, :now, :wait) <= :now"
    where += f" AND (due_time(lease_expires, :now, :lease) <= :now{orphaned})"
    return where, {"now": now, "wait": MAX_WAIT, "lease": LEASE_SECONDS, **dead}


def _alive(owner: str) -> bool:
    match = OWNER.fullmatch(owner)
    if match is None or match.group(2) != HOST or os.name != "posix":
        return True  # (on Windows, os.kill would terminate the process, not probe it)
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True
