"""db.py's plumbing for hot statements: driver SQL, many rows in one statement, and
the process's turns to write to SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

from sqlalchemy import insert, select

from laurels.db import WriteTurn, driver_sql
from laurels.outbox.reading import after_query
from laurels.progress.drivers import compiled
from laurels.progress.statements import OUTBOX_INSERT, PLAYER_READ, PROGRESS_UPSERT
from laurels.progress.tables import progress


def test_an_insert_of_one_row_becomes_one_of_n_rows() -> None:
    upsert = compiled("sqlite")[PROGRESS_UPSERT]
    assert upsert.rows_sql is not None
    three = upsert.rows_sql(3)
    values = "(" + ", ".join(["?"] * len(upsert.names)) + ")"
    assert f"VALUES {values}, {values}, {values} ON CONFLICT" in three
    assert three.endswith(upsert.sql.split(values, 1)[1])
    assert upsert.max_rows * len(upsert.names) <= 32_766
    assert upsert.chunks(37) == [32, 4, 1]
    assert upsert.chunks(600) == [256, 256, 64, 16, 8]
    assert upsert.chunks(0) == []
    assert compiled("sqlite")[OUTBOX_INSERT].rows_sql is not None
    assert compiled("sqlite")[PLAYER_READ].rows_sql is None  # a SELECT: one per row


def test_rows_in_one_statement_keep_the_max_register() -> None:
    """The n-row upsert decides each row as the one-row upsert: a higher percentage
    moves a row and returns it, a lower one neither."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE progress (sandbox, xuid, scid, achievement_id, percent, time_unlocked, "
        "updated_at, PRIMARY KEY (sandbox, xuid, scid, achievement_id))"
    )
    upsert = compiled("sqlite")[PROGRESS_UPSERT]
    assert upsert.rows_sql is not None

    def row(achievement: str, percent: int) -> tuple[object, ...]:
        params = {"sandbox": "DEV.1", "xuid": "1", "scid": "s", "achievement_id": achievement,
                  "percent": percent, "time_unlocked": None, "now": 1}  # fmt: skip
        return upsert.args(params)

    first = conn.execute(upsert.rows_sql(2), [*row("a", 50), *row("b", 50)]).fetchall()
    assert sorted(r[3] for r in first) == ["a", "b"]
    second = conn.execute(upsert.rows_sql(2), [*row("a", 40), *row("b", 60)]).fetchall()
    assert [(r[3], r[4]) for r in second] == [("b", 60)]
    stored = dict(conn.execute("SELECT achievement_id, percent FROM progress").fetchall())
    assert stored == {"a": 50, "b": 60}


def test_driver_sql_binds_what_the_statement_fixes() -> None:
    """SQLite renders a LIMIT's `OFFSET` as a parameter of its own: bound to 0."""
    query = driver_sql(after_query("sqlite"), "sqlite")
    assert dict(query.fixed) == {name: 0 for name in query.names if name not in {"id", "limit"}}
    assert driver_sql(select(progress).where(progress.c.xuid == "1"), "sqlite").fixed == (
        ("xuid_1", "1"),
    )
    assert driver_sql(insert(progress), "postgresql").sql.startswith("INSERT INTO progress")


def test_turns_to_write_are_taken_first_come_first_served() -> None:
    turn, order = WriteTurn(), []

    def writer(n: int) -> None:
        with turn.held():
            order.append(n)

    turn.take()
    threads = []
    for n in range(5):  # each is in line (holds its ticket) before the next starts
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        while turn._next < n + 2:  # the tickets handed out: ours, then one per writer
            time.sleep(0.001)
    turn.give()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]


async def test_the_event_loop_takes_its_turn_without_blocking() -> None:
    turn = WriteTurn()
    async with turn:  # free: taken at once
        pass
    turn.take()  # a thread's turn, held
    waiting = asyncio.create_task(_enter(turn))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    turn.give()
    await asyncio.wait_for(waiting, 5)
    turn.take()
    cancelled = asyncio.create_task(_enter(turn))
    await asyncio.sleep(0.05)
    cancelled.cancel()  # cancelled in line: its turn, when it comes, is given back
    await asyncio.gather(cancelled, return_exceptions=True)
    turn.give()
    await asyncio.wait_for(_enter(turn), 5)


async def _enter(turn: WriteTurn, hold: float = 0) -> None:
    async with turn:
        await asyncio.sleep(hold)
