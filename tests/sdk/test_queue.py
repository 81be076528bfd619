"""The offline queue file (laurels.sdk._queue.OfflineQueue) with an injected clock:
durability, coalescing, leases, settling, dead letters, credentials, and two
processes writing one file. No service and no database fixture: files live in
tmp_path."""

from __future__ import annotations

import os
import random
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from laurels.sdk._cli import main as sync_main
from laurels.sdk._exceptions import QueueError
from laurels.sdk._policy import Queued, coalesce
from laurels.sdk._queue import LEASE_SECONDS, OfflineQueue
from tests.helpers.queue import enqueue, pending_row, rows_on_disk

SERVICE = "http://127.0.0.1:8080"
SANDBOX = "DEV.1"
TITLE_ID = 1234
SCID = "6a2e0100-0000-0000-0000-00005f1d2c3b"
XUID = "2533274790395904"
T0 = 1_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "queue.db"


@pytest.fixture
def queue(path: Path, clock: Clock) -> OfflineQueue:
    return OfflineQueue(path, clock=clock)


def put(
    q: OfflineQueue,
    achievement_id: str = "1",
    percent: int = 40,
    *,
    xuid: str = XUID,
    achieved_at: float | None = None,
) -> Queued:
    return q.enqueue(
        service=SERVICE,
        sandbox=SANDBOX,
        title_id=TITLE_ID,
        scid=SCID,
        xuid=xuid,
        achievement_id=achievement_id,
        percent=percent,
        achieved_at=achieved_at,
    )


# --- the file ----------------------------------------------------------------------


def test_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dirs" / "queue.db"
    q = OfflineQueue(path)
    put(q)
    q.save_credential(
        service=SERVICE,
        sandbox=SANDBOX,
        title_id=TITLE_ID,
        xuid=XUID,
        credential="c",
        expires_at="",
    )
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # the write-ahead log holds the same secrets until a checkpoint
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        if companion.exists():
            assert stat.S_IMODE(os.stat(companion).st_mode) == 0o600, companion
    q.close()


def test_file_uses_wal(queue: OfflineQueue, path: Path) -> None:
    put(queue)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_enqueue_is_on_disk_before_it_returns(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    merged = put(queue, "7", 55)
    assert merged == Queued(55, T0)
    assert rows_on_disk(path) == {(XUID, "7"): (55, T0)}
    row = pending_row(path, "7")
    assert (row["service"], row["sandbox"], row["title_id"], row["scid"]) == (
        SERVICE,
        SANDBOX,
        TITLE_ID,
        SCID,
    )


def test_reopening_the_file_keeps_the_queue(path: Path, clock: Clock) -> None:
    first = OfflineQueue(path, clock=clock)
    put(first, "1", 30)
    first.close()
    again = OfflineQueue(path, clock=clock)  # the schema is created only if missing
    assert again.pending_count() == 1
    assert again.claim()[0].percent == 30


# --- coalescing ----------------------------------------------------------------------


def test_coalescing_keeps_the_maximum_and_the_time_first_reached(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    steps = [  # (percent sent, expected (percent, time) on disk)
        (40, (40, T0)),
        (30, (40, T0)),  # lower: kept
        (40, (40, T0)),  # equal: the earlier time stays
        (70, (70, T0 + 3)),  # higher: the new value and its time
        (100, (100, T0 + 4)),
        (100, (100, T0 + 4)),
        (5, (100, T0 + 4)),
    ]
    for step, (percent, expected) in enumerate(steps):
        clock.now = T0 + step
        put(queue, "1", percent)
        assert rows_on_disk(path) == {(XUID, "1"): expected}, f"step {step}"


def test_achieved_at_overrides_the_clock(queue: OfflineQueue, path: Path) -> None:
    assert put(queue, "1", 100, achieved_at=T0 - 3600) == Queued(100, T0 - 3600)
    assert rows_on_disk(path)[(XUID, "1")] == (100, T0 - 3600)


def test_a_burst_of_updates_stays_one_row_per_achievement(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    """A burst stays 20 rows for 5 players × 4 achievements.

    One `enqueue` is an fsync'd transaction (about 40 µs on the development disk, so
    a million would take some 40 s): this test makes 20,000 real `enqueue` calls over
    the 20 keys and checks the file against a reference model, then runs the same
    coalescing step (`coalesce`, the function `enqueue` merges with) a million times
    over the 20 keys and checks that it holds 20 values, each the maximum sent with
    the time it was first reached."""
    players = [str(1000 + p) for p in range(5)]
    ids = [str(a) for a in range(1, 5)]
    rng = random.Random(2024)
    expected: dict[tuple[str, str], tuple[int, float]] = {}
    for n in range(20_000):
        xuid, aid = rng.choice(players), rng.choice(ids)
        percent = rng.randint(1, 100)
        clock.now = T0 + n
        put(queue, aid, percent, xuid=xuid)
        old = expected.get((xuid, aid))
        if old is None or percent > old[0]:
            expected[(xuid, aid)] = (percent, clock.now)
    assert len(expected) == 20
    assert rows_on_disk(path) == expected
    assert queue.pending_count() == 20

    table: dict[tuple[int, int], Queued] = {}
    best: dict[tuple[int, int], int] = {}
    first: dict[tuple[int, int], float] = {}  # when each key first got its maximum
    for n in range(1_000_000):
        key = (n % 5, (n // 5) % 4)
        percent = (n * 7919) % 100 + 1
        table[key] = coalesce(table.get(key), percent, float(n))
        if percent > best.get(key, 0):
            best[key], first[key] = percent, float(n)
    assert len(table) == 20
    assert table == {key: Queued(best[key], first[key]) for key in best}


# --- leases ---------------------------------------------------------------------------


def test_claim_leases_rows_until_the_lease_expires(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    other = OfflineQueue(path, clock=clock)  # another owner on the same file
    assert other.owner != queue.owner
    for aid in ("1", "2", "3"):
        put(queue, aid)
    mine = queue.claim()
    assert sorted(e.achievement_id for e in mine) == ["1", "2", "3"]
    assert other.claim() == []
    assert queue.claim() == []  # leased rows are not handed out twice, even to the owner
    clock.advance(LEASE_SECONDS - 0.001)
    assert other.claim(force=True) == []
    clock.advance(0.001)
    theirs = other.claim()
    assert sorted(e.achievement_id for e in theirs) == ["1", "2", "3"]
    row = pending_row(path, "1")
    assert row["lease_owner"] == other.owner
    assert row["lease_expires"] == pytest.approx(clock.now + LEASE_SECONDS)


def test_claim_respects_its_limit(queue: OfflineQueue) -> None:
    for aid in range(10):
        put(queue, str(aid))
    assert len(queue.claim(limit=4)) == 4
    assert len(queue.claim(limit=100)) == 6
    assert queue.claim() == []


def test_delivered_removes_the_row(queue: OfflineQueue, path: Path) -> None:
    put(queue, "1", 40)
    put(queue, "2", 40)
    entries = queue.claim()
    queue.delivered([e for e in entries if e.achievement_id == "1"])
    assert set(rows_on_disk(path)) == {(XUID, "2")}


def test_delivered_keeps_a_row_raised_after_the_claim(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    other = OfflineQueue(path, clock=clock)
    put(queue, "1", 40)
    [entry] = queue.claim()
    clock.advance(1)
    put(other, "1", 60)  # raised while the delivery of 40 is in flight
    queue.delivered([entry])
    assert rows_on_disk(path) == {(XUID, "1"): (60, T0 + 1)}
    row = pending_row(path, "1")
    assert (row["lease_owner"], row["lease_expires"]) == (None, 0)  # released
    [again] = other.claim()  # due at once, no lease to wait out
    assert again.percent == 60


def test_delivered_removes_a_row_sent_again_at_the_same_value(
    queue: OfflineQueue, path: Path
) -> None:
    put(queue, "1", 40)
    [entry] = queue.claim()
    put(queue, "1", 40)  # coalesces: nothing new to deliver
    queue.delivered([entry])
    assert rows_on_disk(path) == {}


# --- retry and backoff -------------------------------------------------------------------


def test_retry_sets_soft_backoff_and_hard_not_before(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    put(queue, "1")
    [entry] = queue.claim()
    queue.retry([entry], soft=T0 + 10, hard=T0 + 5, error="HTTP 429: slow down")
    row = pending_row(path, "1")
    assert (row["attempts"], row["next_attempt_at"], row["not_before"]) == (1, T0 + 10, T0 + 5)
    assert row["lease_owner"] is None
    assert queue.next_due() == T0 + 10
    assert queue.status().last_error == "HTTP 429: slow down"

    clock.now = T0 + 4.999
    assert queue.claim() == []
    assert queue.claim(force=True) == []  # a flush honours Retry-After too
    clock.now = T0 + 5
    assert queue.claim() == []  # the backoff still holds a normal pass
    [forced] = queue.claim(force=True)  # a flush ignores the backoff
    assert forced.attempts == 1
    queue.retry([forced], soft=T0 + 30, hard=T0 + 5, error="HTTP 503")
    clock.now = T0 + 30
    [due] = queue.claim()
    assert due.attempts == 2


def test_a_raised_value_skips_the_backoff_but_not_retry_after(
    queue: OfflineQueue, clock: Clock
) -> None:
    put(queue, "1", 40)
    [entry] = queue.claim()
    queue.retry([entry], soft=T0 + 100, hard=T0 + 3, error="HTTP 429")
    clock.advance(1)
    put(queue, "1", 80)  # new progress: worth sending before the backoff ends ...
    assert queue.claim() == []  # ... but not before Retry-After
    clock.now = T0 + 3
    [due] = queue.claim()
    assert due.percent == 80


def test_next_due(queue: OfflineQueue, clock: Clock) -> None:
    assert queue.next_due() is None
    put(queue, "1")
    assert queue.next_due() == 0  # due now
    queue.claim()
    assert queue.next_due() == T0 + LEASE_SECONDS  # leased: due when the lease ends


# --- dead letters -------------------------------------------------------------------------


def test_dead_letter_moves_rows_and_status_shows_them(
    queue: OfflineQueue, path: Path, clock: Clock
) -> None:
    put(queue, "1", 40)
    put(queue, "nope", 100)
    entries = {e.achievement_id: e for e in queue.claim()}
    clock.advance(2)
    queue.dead_letter([entries["nope"]], status=404, reason="no achievement 'nope'")
    queue.delivered([entries["1"]])
    assert rows_on_disk(path) == {}
    status = queue.status()
    assert (status.pending, status.dead_letters) == (0, 1)
    assert status.last_reasons == (f"{XUID} {SCID} nope: HTTP 404: no achievement 'nope'",)
    [dead] = queue.dead_letters()
    assert (dead.entry.achievement_id, dead.entry.percent, dead.status) == ("nope", 100, 404)
    assert dead.entry.time_achieved == T0
    assert dead.failed_at == T0 + 2


def test_status_lists_the_last_five_reasons_newest_first(queue: OfflineQueue) -> None:
    for n in range(7):
        put(queue, f"a{n}")
    for entry in sorted(queue.claim(), key=lambda e: e.achievement_id):
        queue.dead_letter([entry], status=409, reason=f"reason {entry.achievement_id}")
    status = queue.status()
    assert (status.pending, status.dead_letters) == (0, 7)
    assert [r.rsplit(" ", 1)[-1] for r in status.last_reasons] == ["a6", "a5", "a4", "a3", "a2"]
    assert len(queue.status(last=10).last_reasons) == 7


def test_status_of_an_empty_queue(queue: OfflineQueue) -> None:
    status = queue.status()
    assert (status.pending, status.dead_letters, status.last_reasons, status.last_error) == (
        0,
        0,
        (),
        None,
    )


def test_pending_count_per_service(queue: OfflineQueue) -> None:
    put(queue, "1")
    enqueue(queue, "http://elsewhere:9000", "1", 10)
    assert queue.pending_count() == 2
    assert queue.pending_count(SERVICE) == 1
    assert queue.pending_count("http://nowhere") == 0


# --- plain columns, no pickle ---------------------------------------------------------------


def test_tables_hold_plain_columns(queue: OfflineQueue, path: Path) -> None:
    put(queue, "1")
    [entry] = queue.claim()
    queue.dead_letter([entry], status=404, reason="gone")
    queue.save_credential(
        service=SERVICE,
        sandbox=SANDBOX,
        title_id=TITLE_ID,
        xuid=XUID,
        credential="c",
        expires_at="",
    )
    put(queue, "2")
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"pending", "dead_letters", "credentials"} <= tables
        for table in ("pending", "dead_letters", "credentials"):
            columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
            types = {name: declared for _, name, declared, *_ in columns}
            assert set(types.values()) <= {"TEXT", "INTEGER", "REAL"}, (table, types)
            for name in types:
                kinds = {r[0] for r in conn.execute(f"SELECT typeof({name}) FROM {table}")}
                assert "blob" not in kinds, (table, name)
    finally:
        conn.close()


# --- credentials -----------------------------------------------------------------------------


def test_credentials_save_load_forget(queue: OfflineQueue, path: Path) -> None:
    key: dict[str, Any] = {"service": SERVICE, "sandbox": SANDBOX, "title_id": TITLE_ID}
    assert queue.credential(**key, xuid=XUID) is None
    queue.save_credential(**key, xuid=XUID, credential="first", expires_at="2030-01-01T00:00:00Z")
    assert queue.credential(**key, xuid=XUID) == "first"
    queue.save_credential(**key, xuid=XUID, credential="second", expires_at="2031-01-01T00:00:00Z")
    assert queue.credential(**key, xuid=XUID) == "second"
    # another player, title, sandbox or service has none
    assert queue.credential(**key, xuid="1") is None
    assert queue.credential(service=SERVICE, sandbox=SANDBOX, title_id=1, xuid=XUID) is None
    assert queue.credential(service=SERVICE, sandbox="RETAIL", title_id=TITLE_ID, xuid=XUID) is None
    assert (
        queue.credential(service="http://x", sandbox=SANDBOX, title_id=TITLE_ID, xuid=XUID) is None
    )
    # another queue object on the file sees it
    assert OfflineQueue(path).credential(**key, xuid=XUID) == "second"
    queue.forget_credential(**key, xuid=XUID)
    assert queue.credential(**key, xuid=XUID) is None
    queue.forget_credential(**key, xuid=XUID)  # forgetting twice is harmless


# --- two processes on one file -----------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import random, sys
    from laurels.sdk._queue import OfflineQueue

    path, seed, count, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    queue = OfflineQueue(path)
    rng = random.Random(seed)
    plan = [(rng.randrange(keys), rng.randint(1, 100)) for _ in range(count)]
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for key, percent in plan:
        queue.enqueue(service=%(service)r, sandbox="DEV.1", title_id=1234, scid="s",
                      xuid=str(1 + key // 10), achievement_id=str(key %% 10), percent=percent)
    print("done", flush=True)
    """
) % {"service": SERVICE}


def test_two_processes_enqueue_into_one_file(path: Path) -> None:
    count, keys, seeds = 2000, 50, (11, 22)
    OfflineQueue(path).close()  # create it first, as a game would
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(seed), str(count), str(keys)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in seeds
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        outputs = [writer.communicate(timeout=120) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert "locked" not in err, err
        assert out.strip() == "done"

    expected: dict[tuple[str, str], int] = {}
    for seed in seeds:
        rng = random.Random(seed)
        for key, percent in [(rng.randrange(keys), rng.randint(1, 100)) for _ in range(count)]:
            slot = (str(1 + key // 10), str(key % 10))
            expected[slot] = max(expected.get(slot, 0), percent)
    on_disk = {slot: percent for slot, (percent, _) in rows_on_disk(path).items()}
    assert on_disk == expected


def test_clock_defaults_to_wall_time(path: Path) -> None:
    q = OfflineQueue(path)
    before = time.time()
    merged = put(q, "1")
    assert before <= merged.time_achieved <= time.time()


@pytest.mark.slow
def test_a_million_real_enqueues_stay_twenty_rows(path: Path) -> None:
    """The burst of the issue, through the real `enqueue` (each a committed write):
    a million updates of 5 players × 4 achievements leave 20 rows, each the maximum."""
    queue = OfflineQueue(path)
    best: dict[tuple[str, str], int] = {}
    for n in range(1_000_000):
        xuid, aid = str(1000 + n % 5), str((n // 5) % 4 + 1)
        percent = (n * 7919) % 99 + 1  # never 100: the burst is progress, not unlocks
        put(queue, aid, percent, xuid=xuid)
        best[(xuid, aid)] = max(best.get((xuid, aid), 0), percent)
    queue.close()
    on_disk = rows_on_disk(path)
    assert len(on_disk) == 20
    assert {key: percent for key, (percent, _) in on_disk.items()} == best


def test_a_retry_after_is_written_with_the_update(queue: OfflineQueue, clock: Clock) -> None:
    """A 429's Retry-After goes to disk in the same write as the update, so no
    deliverer can take the update in between and send it early."""
    enqueue(queue, SERVICE, not_before=T0 + 3)
    clock.now = T0 + 2.9
    assert queue.claim(force=True) == []
    put(queue, "1", 50)  # a lower update coalesces and keeps the hold
    assert queue.claim(force=True) == []
    clock.now = T0 + 3.0
    [entry] = queue.claim(force=True)
    assert entry.percent == 100


# --- clocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [365 * 86400.0, 3600.0])
def test_times_written_by_a_clock_that_was_ahead_are_due(
    queue: OfflineQueue, clock: Clock, step: float
) -> None:
    put(queue, "1")
    put(queue, "2")
    clock.now = T0 + step  # the wall clock was ahead when these were written
    first, _ = queue.claim()
    queue.retry([first], soft=clock.now + 250, hard=clock.now + 100, error="HTTP 503")
    clock.now = T0  # set right: neither the backoff nor the lease parks an entry
    assert queue.next_due() == T0
    assert {e.achievement_id for e in queue.claim()} == {"1", "2"}


def test_a_backoff_written_by_this_clock_still_waits(queue: OfflineQueue, clock: Clock) -> None:
    put(queue, "1")
    queue.retry(queue.claim(), soft=T0 + 250, hard=T0, error="HTTP 503")
    assert queue.claim() == []
    assert queue.next_due() == T0 + 250
    clock.now = T0 + 250
    assert len(queue.claim()) == 1


# --- a broken file --------------------------------------------------------------------------


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _full_queue(path: Path) -> None:
    """A real queue file of many pages, checkpointed, with no WAL left."""
    filled = OfflineQueue(path, clock=Clock())
    for n in range(300):
        put(filled, f"achievement-{n:04d}" * 3)
    filled.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def truncated(path: Path) -> None:
    _full_queue(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt_pages(path: Path) -> None:
    _full_queue(path)
    data = bytearray(path.read_bytes())
    data[8192:16384] = os.urandom(8192)  # a header that reads well, pages that do not
    path.write_bytes(bytes(data))


def a_directory(path: Path) -> None:
    path.mkdir()
    (path / "something").write_text("not a queue")


def unreadable(path: Path) -> None:
    path.write_bytes(b"")
    path.chmod(0)  # (root reads it anyway: then it is an empty, usable file)


@pytest.mark.parametrize("damage", [garbage, truncated, corrupt_pages, a_directory])
def test_a_broken_file_is_moved_aside_and_a_fresh_queue_used(
    path: Path, clock: Clock, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    damage(path)
    before = sorted(p.name for p in path.parent.iterdir())
    queue = OfflineQueue(path, clock=clock)  # before: QueueError, or a raw sqlite3 error later
    [aside] = queue.status().moved_aside
    assert Path(aside).name.startswith(f"{path.name}.broken-")
    assert Path(aside).exists()  # kept for inspection
    assert aside in caplog.text
    assert path.name not in before or Path(aside).name not in before
    put(queue, "1", 100)
    assert [e.achievement_id for e in queue.claim()] == ["1"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # a second process opening the same path finds the fresh queue, not a broken one
    again = OfflineQueue(path, clock=clock)
    assert again.status().moved_aside == (aside,)
    assert again.status().pending == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_an_unreadable_file_is_moved_aside(path: Path, clock: Clock) -> None:
    unreadable(path)
    queue = OfflineQueue(path, clock=clock)
    assert len(queue.status().moved_aside) == 1


def test_a_healthy_file_is_never_moved_aside(path: Path, clock: Clock) -> None:
    put(OfflineQueue(path, clock=clock), "1")
    queue = OfflineQueue(path, clock=clock)
    assert queue.status().moved_aside == ()
    assert queue.status().pending == 1


class Racing(OfflineQueue):
    """A queue whose first opens fail as they do while another process creates the
    file or changes its journal (not a database yet; locked)."""

    failures: list[int] = []

    def _create(self) -> None:
        if self.failures:
            code = self.failures.pop(0)
            cause = sqlite3.OperationalError("racing")
            cause.sqlite_errorcode = code
            raise QueueError("cannot open the offline queue: racing") from cause
        super()._create()


@pytest.mark.parametrize("codes", [[26], [5, 5], [26, 5, 14]])
def test_a_file_another_process_is_creating_is_waited_for(
    path: Path, clock: Clock, codes: list[int]
) -> None:
    put(OfflineQueue(path, clock=clock), "1")
    Racing.failures = list(codes)
    queue = Racing(path, clock=clock)
    status = queue.status()
    assert (status.moved_aside, status.not_durable, status.pending) == ((), None, 1)


def test_a_place_where_no_queue_can_be_is_a_queue_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(QueueError):
        OfflineQueue(tmp_path / "a-file" / "queue.db")


def test_every_failure_later_is_a_queue_error(queue: OfflineQueue, path: Path) -> None:
    put(queue, "1")
    [entry] = queue.claim()
    conn = sqlite3.connect(path)  # the file is damaged under the running game
    conn.execute("DROP TABLE pending")
    conn.execute("DROP TABLE dead_letters")
    conn.close()
    calls: list[Callable[[], object]] = [
        lambda: put(queue, "2"),
        lambda: queue.claim(force=True),
        lambda: queue.delivered([entry]),
        lambda: queue.retry([entry], soft=T0, hard=T0, error="x"),
        lambda: queue.dead_letter([entry], status=404, reason="x"),
        lambda: queue.queued(SERVICE, SANDBOX, SCID, XUID, "1"),
        lambda: queue.pending_count(),
        lambda: queue.next_due(),
        lambda: queue.status(),
        lambda: queue.dead_letters(),
    ]
    for call in calls:
        with pytest.raises(QueueError) as caught:
            call()
        assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_sync_status_names_a_moved_aside_file(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage(path)
    assert sync_main(["--status", "--queue", str(path)]) == 0
    [aside] = OfflineQueue(path).status().moved_aside
    assert f"moved aside (unusable): {aside}" in capsys.readouterr().out
