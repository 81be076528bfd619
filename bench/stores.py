"""Databases for the benchmark: a fresh one per run, seeded with a published title,
player tokens, and (for the scale check) many stored progress rows.

SQLite: a new file in a temporary directory. PostgreSQL: a new database made with
CREATE DATABASE on the local server and dropped WITH (FORCE) at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from laurels.auth.service import ensure_signing_key, mint_token
from laurels.db import Database
from laurels.schema import upgrade
from laurels.titles import service as titles
from laurels.wire.times import now_micros

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SCID = "6a2e0100-0000-0000-0000-0000be4c0001"
TITLE_ID = 4242
SANDBOX = "DEV.1"
XUID_LOW = 2_533_274_700_000_000
XUID_HIGH = 2_533_274_999_999_999


@dataclass(frozen=True)
class Seeded:
    url: str
    achievements: list[str]
    players: list[tuple[str, str]]  # (xuid, token)


def title_config(achievements: int) -> dict[str, Any]:
    return {
        "title": {"id": TITLE_ID, "name": "Bench Game", "scid": SCID, "kind": "title-managed"},
        "achievements": [
            {
                "id": str(n),
                "name": f"Achievement {n}",
                "lockedDescription": f"Do thing {n}.",
                "description": f"You did thing {n}.",
                "gamerscore": 10,
            }
            for n in range(1, achievements + 1)
        ],
    }


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty database of `kind` (sqlite or postgresql), removed on exit."""
    if kind == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-sqlite-", dir=directory))
        try:
            yield f"sqlite:///{path / 'laurels.db'}"
        finally:
            shutil.rmtree(path, ignore_errors=True)
        return
    name = f"laurels_bench_{uuid.uuid4().hex[:12]}"
    asyncio.run(pg_admin(f"CREATE DATABASE {name}"))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN, timeout=10)
    try:
        await conn.execute(sql, timeout=120)
    finally:
        await conn.close()


def checkpoint(url: str) -> None:
    """Flush the database's dirty pages now, so a checkpoint is less likely to land
    inside a measured window."""
    if url.startswith("postgresql"):
        asyncio.run(pg_admin("CHECKPOINT"))
    else:
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def player_xuids(count: int, rng: random.Random, exclude: set[str] | None = None) -> list[str]:
    """`count` distinct random XUIDs spread over one range, so that the players of a
    run sit between the stored ones in the primary key."""
    taken = set(exclude or ())
    found: list[str] = []
    while len(found) < count:
        xuid = str(rng.randint(XUID_LOW, XUID_HIGH))
        if xuid not in taken:
            taken.add(xuid)
            found.append(xuid)
    return found


def seed(url: str, *, achievements: int, xuids: list[str]) -> Seeded:
    """Create the schema, import and publish the title to DEV.1, and mint a player
    token for each XUID."""

    async def work() -> Seeded:
        db = Database(url, pool_size=2)
        try:
            await upgrade(db)
            parsed = titles.parse_config(title_config(achievements))

            async def publish(conn: Any) -> None:
                await titles.import_config(
                    conn, config=parsed, base_dir=Path("."), now_us=now_micros()
                )
                await titles.publish(conn, title_id=TITLE_ID, sandbox=SANDBOX, now_us=now_micros())

            await db.run_write(publish)
            key = await ensure_signing_key(db)
            players = [
                (
                    xuid,
                    mint_token(
                        key, xuid=xuid, title_id=TITLE_ID, sandbox=SANDBOX, ttl_seconds=6 * 3600
                    ),
                )
                for xuid in xuids
            ]
        finally:
            await db.dispose()
        return Seeded(url, [str(n) for n in range(1, achievements + 1)], players)

    return asyncio.run(work())


# --- the scale check's stored rows ----------------------------------------------------


@dataclass(frozen=True)
class Filled:
    rows: int
    players: int
    seconds: float


def progress_rows(
    count: int, achievements: int, xuids: list[str], rng: random.Random, now_us: int
) -> list[tuple[str, str, str, str, int, int | None, int]]:
    """`count` progress rows: every achievement of each player in turn, in key order."""
    ids = sorted(str(n) for n in range(1, achievements + 1))
    rows: list[tuple[str, str, str, str, int, int | None, int]] = []
    for xuid in sorted(xuids):
        for achievement_id in ids:
            if len(rows) == count:
                return rows
            percent = rng.randint(1, 100)
            unlocked = now_us if percent == 100 else None
            rows.append((SANDBOX, xuid, SCID, achievement_id, percent, unlocked, now_us))
    return rows


def fill_progress(
    url: str, *, rows: int, achievements: int, rng: random.Random, exclude: set[str]
) -> Filled:
    """Store `rows` progress rows of players other than the load's (and their
    title_players rows and counters), by bulk insert: SQLite executemany in large
    transactions, PostgreSQL COPY."""
    began = time.monotonic()
    players = -(-rows // achievements)
    xuids = player_xuids(players, rng, exclude)
    now = now_micros()
    data = progress_rows(rows, achievements, xuids, rng, now)
    stored_players = sorted({row[1] for row in data})
    unlocks = Counter(row[3] for row in data if row[4] == 100)
    members = [(SANDBOX, xuid, SCID, now) for xuid in stored_players]
    stats = [(SANDBOX, SCID, len(stored_players))]
    unlock_stats = [(SANDBOX, SCID, a, n) for a, n in sorted(unlocks.items())]
    if url.startswith("sqlite"):
        _fill_sqlite(url.removeprefix("sqlite:///"), data, members, stats, unlock_stats)
    else:
        asyncio.run(_fill_postgres(url, data, members, stats, unlock_stats))
    return Filled(len(data), len(stored_players), time.monotonic() - began)


def _fill_sqlite(
    path: str,
    data: list[tuple[Any, ...]],
    members: list[tuple[Any, ...]],
    stats: list[tuple[Any, ...]],
    unlock_stats: list[tuple[Any, ...]],
) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA synchronous=OFF")
        for start in range(0, len(data), 200_000):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO progress (sandbox, xuid, scid, achievement_id, percent,"
                " time_unlocked, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                data[start : start + 200_000],
            )
            conn.execute("COMMIT")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO title_players (sandbox, xuid, scid, first_seen) VALUES (?, ?, ?, ?)",
            members,
        )
        conn.executemany(
            "INSERT INTO title_stats (sandbox, scid, player_count) VALUES (?, ?, ?)", stats
        )
        conn.executemany(
            "INSERT INTO achievement_stats (sandbox, scid, achievement_id, unlock_count)"
            " VALUES (?, ?, ?, ?)",
            unlock_stats,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


async def _fill_postgres(
    url: str,
    data: list[tuple[Any, ...]],
    members: list[tuple[Any, ...]],
    stats: list[tuple[Any, ...]],
    unlock_stats: list[tuple[Any, ...]],
) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        progress_columns = [
            "sandbox",
            "xuid",
            "scid",
            "achievement_id",
            "percent",
            "time_unlocked",
            "updated_at",
        ]
        await conn.copy_records_to_table("progress", records=data, columns=progress_columns)
        await conn.copy_records_to_table(
            "title_players", records=members, columns=["sandbox", "xuid", "scid", "first_seen"]
        )
        await conn.copy_records_to_table(
            "title_stats", records=stats, columns=["sandbox", "scid", "player_count"]
        )
        await conn.copy_records_to_table(
            "achievement_stats",
            records=unlock_stats,
            columns=["sandbox", "scid", "achievement_id", "unlock_count"],
        )
        # Fresh statistics and visibility map, as autovacuum would leave them, so that
        # autovacuum does not start in the middle of the measured window.
        await conn.execute("VACUUM ANALYZE", timeout=600)
    finally:
        await conn.close()
