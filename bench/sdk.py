"""Benchmark of the SDK (issue: offline-first updates).

1. Enqueue latency while offline: `OfflineQueue.enqueue` (what `update_achievement`
   does when the service is unreachable, on disk before it returns) and a whole
   offline `update_achievement`, against one bare SQLite insert per transaction with
   `synchronous=FULL` in WAL mode on the same disk (target: enqueue <= 2x bare).
2. Delivering 10,000 queued updates for 100 players to a local `laurels serve`
   (SQLite, 1 worker) with the sync agent's code path (target: <= 2 s).
3. The cost the SDK adds to an online update: `AchievementsClient.update_achievement`
   against a bare `httpx.AsyncClient.post` of the same body, same service, same run.

    .venv/bin/python -m bench.sdk [--quick] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench import procs, stores
from laurels.sdk import AchievementsClient, OfflineQueue
from laurels.sdk._agent import deliver_once

SERVICE = "http://127.0.0.1:9"  # never listened on: offline


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000)


def interleaved(work: Path, count: int) -> tuple[list[float], list[float], list[float]]:
    """Bare inserts, enqueues of new keys and coalescing enqueues, taken in turn so
    that the disk's mood is the same for all three."""
    bare = sqlite3.connect(work / "bare.db", isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=FULL")
    bare.execute("CREATE TABLE t (k TEXT PRIMARY KEY, percent INTEGER, at REAL)")
    queue = OfflineQueue(work / "queue.db")
    times: tuple[list[float], list[float], list[float]] = ([], [], [])
    for n in range(count):
        start = time.perf_counter()
        bare.execute("BEGIN IMMEDIATE")
        bare.execute("INSERT INTO t VALUES (?, ?, ?)", (f"k{n}", n % 100 + 1, time.time()))
        bare.execute("COMMIT")
        times[0].append(time.perf_counter() - start)
        for kind, xuid in ((1, 2_533_274_790_000_000 + n), (2, 2_533_274_790_000_000)):
            start = time.perf_counter()
            queue.enqueue(
                service=SERVICE,
                sandbox="DEV.1",
                title_id=1,
                scid=stores.SCID,
                xuid=str(xuid),
                achievement_id="1",
                percent=n % 100 + 1,
            )
            times[kind].append(time.perf_counter() - start)
    bare.close()
    queue.close()
    return times


async def offline_updates(path: Path, count: int) -> list[float]:
    times = []
    async with AchievementsClient(
        SERVICE,
        title_id=1,
        scid=stores.SCID,
        sandbox="DEV.1",
        token="t",
        queue_path=path,
        exit_timeout=0,
    ) as client:
        for n in range(count):
            start = time.perf_counter()
            result = await client.update_achievement(2_533_274_790_000_000 + n, "1", 50)
            times.append(time.perf_counter() - start)
            assert result.status == "queued", result
    return times


def report_enqueue(work: Path, count: int) -> None:
    bare_t, new_t, same_t = interleaved(work, count)
    bare, new, same = percentiles(bare_t), percentiles(new_t), percentiles(same_t)
    whole = percentiles(asyncio.run(offline_updates(work / "client.db", count // 2)))
    print(f"\n== enqueue while offline ({count} each, on {work}) ==")
    print(f"bare SQLite insert, synchronous=FULL     p50 {bare[0]:6.2f} ms  p99 {bare[1]:6.2f} ms")
    for label, (p50, p99) in (
        ("OfflineQueue.enqueue, a new key", new),
        ("OfflineQueue.enqueue, coalesced", same),
        ("update_achievement offline, a new key", whole),
    ):
        print(
            f"{label:40} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            f"   x{p50 / bare[0]:.2f} / x{p99 / bare[1]:.2f}"
        )


def fill_queue(path: Path, url: str, seeded: stores.Seeded, per_player: int) -> int:
    queue = OfflineQueue(path)
    conn = queue._connection()
    conn.execute("BEGIN IMMEDIATE")
    now = time.time()
    for xuid, token in seeded.players:
        conn.execute(
            "INSERT INTO credentials VALUES (?, ?, ?, ?, ?, ?)",
            (url, stores.SANDBOX, stores.TITLE_ID, xuid, token, ""),
        )
        for achievement in seeded.achievements[:per_player]:
            conn.execute(
                "INSERT INTO pending (service, sandbox, title_id, scid, xuid, achievement_id,"
                " percent, time_achieved, enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    url,
                    stores.SANDBOX,
                    stores.TITLE_ID,
                    stores.SCID,
                    xuid,
                    achievement,
                    random.randint(1, 100),
                    now,
                    now,
                ),
            )
    conn.execute("COMMIT")
    count = queue.pending_count()
    queue.close()
    return count


async def online_costs(
    url: str, seeded: stores.Seeded, count: int, work: Path
) -> tuple[list[float], list[float]]:
    xuid, token = seeded.players[0]
    headers = {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}
    bare_times, sdk_times = [], []
    async with (
        httpx.AsyncClient() as http,
        AchievementsClient(
            url,
            title_id=stores.TITLE_ID,
            scid=stores.SCID,
            sandbox=stores.SANDBOX,
            token=token,
            queue_path=work / "online.db",
        ) as client,
    ):
        for n in range(count):
            achievement, percent = seeded.achievements[n % len(seeded.achievements)], n // 50 + 1
            body = {
                "action": "progressUpdate",
                "serviceConfigId": stores.SCID,
                "titleId": stores.TITLE_ID,
                "userId": xuid,
                "achievements": [{"id": achievement, "percentComplete": percent}],
            }
            start = time.perf_counter()
            await http.post(
                f"{url}/users/xuid({xuid})/achievements/{stores.SCID}/update",
                json=body,
                headers=headers,
            )
            bare_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            await client.update_achievement(xuid, achievement, min(100, percent + 1))
            sdk_times.append(time.perf_counter() - start)
    return bare_times, sdk_times


def report_service(work: Path, quick: bool) -> None:
    players, per_player = 100, 100
    with stores.fresh_database("sqlite", work) as url:
        xuids = stores.player_xuids(players, random.Random(1))
        seeded = stores.seed(url, achievements=per_player, xuids=xuids)
        env = {
            "LAURELS_DATABASE_URL": url,
            "LAURELS_RATE_BURST_REQUESTS": "100000",
            "LAURELS_RATE_SUSTAINED_REQUESTS": "100000",
        }
        with procs.running(
            "laurels", [sys.executable, "-m", "laurels", "serve", "--port", "0"], env
        ) as server:
            queued = fill_queue(work / "deliver.db", server.url, seeded, per_player)
            queue = OfflineQueue(work / "deliver.db")
            start = time.perf_counter()
            reports = asyncio.run(deliver_once([queue]))
            seconds = time.perf_counter() - start
            print(f"\n== deliver {queued} queued updates for {players} players ==")
            print(
                f"delivered {reports[0].settled}, left {reports[0].status.pending}, "
                f"in {seconds:.2f} s ({reports[0].settled / seconds:.0f} updates/s)"
            )
            count = 200 if quick else 1000
            bare, sdk = asyncio.run(online_costs(server.url, seeded, count, work))
            b, s = percentiles(bare), percentiles(sdk)
            print(f"\n== online update, {count} each, sequential ==")
            print(f"bare httpx POST                        p50 {b[0]:6.2f} ms  p99 {b[1]:6.2f} ms")
            print(
                f"AchievementsClient.update_achievement  p50 {s[0]:6.2f} ms  p99 {s[1]:6.2f} ms"
                f"   +{s[0] - b[0]:.2f} ms at p50"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sdk")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tmpdir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sdk-", dir=args.tmpdir) as directory:
        work = Path(directory)
        report_enqueue(work, 300 if args.quick else 2000)
        report_service(work, args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
