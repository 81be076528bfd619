"""Benchmark of the events path (issue 11): POST /events against the update path, in
the same run, on the same database, workers and connections.

For each database (SQLite file, PostgreSQL database) and worker count, one fresh
database is seeded with two titles published to DEV.1: the update path's
title-managed title (50 achievements) and an event-based title whose achievement n
requires its own sum stat `Goal<n>Total` (fed by the event `Goal<n>`, measurement
`amount`) to reach 100, with a player token for each of 2,000 players for each title
(a player's bucket of the rate limits is per title). Then, against ONE `laurels serve`:

1. the update path, driven as bench/update_path.py drives it (64 connections);
2. POST /users/xuid(X)/events with 1 event per request: ~90 % raise a goal's stat
   by 1..10 (below the target), ~10 % complete a goal (an unlock);
3. the same with 10 events per request (the clients' sums carried on from 2).

It prints req/s, events/s, p50, p99, statuses, CPU, and the ratios against the targets
of issue 11: the cost per request of the 1-event path within 1.5x the update's (update
req/s / events req/s <= 1.5), and events/s with 10 per request at least the update's
req/s. After the runs the database is checked: the stored stats and unlocks of the
event-based title must be exactly what the clients sent.

    .venv/bin/python -m bench.events_path --db both
    .venv/bin/python -m bench.events_path --quick          # a smoke run

Every process it starts is in its own process group and is stopped on exit, error or
Ctrl-C; every database it creates is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import common, procs, stores, update_path
from bench.update_path import Measurement, note
from laurels.auth.service import ensure_signing_key, mint_token
from laurels.db import Database
from laurels.titles import service as titles
from laurels.wire.times import now_micros

EVENTS_SCID = "6a2e0100-0000-0000-0000-0000be4c0002"
EVENTS_TITLE_ID = 4243
TARGET = 100
COST_LIMIT = 1.5  # update req/s / events req/s (1 event per request): at most
THROUGHPUT_FLOOR = 1.0  # events/s (10 per request) / update req/s: at least


@dataclass(frozen=True)
class Options(common.RunOptions):
    goals: int
    per_request: int

    def update_options(self) -> update_path.Options:
        """What update_path.measure reads, for the update phase."""
        return update_path.Options(
            dbs=self.dbs,
            workers=self.workers,
            duration=self.duration,
            warmup=self.warmup,
            connections=self.connections,
            players=self.players,
            achievements=self.goals,
            scale=False,
            scale_rows=[],
            main=True,
            directory=self.directory,
            json_path=None,
            seed=self.seed,
            wait_quiet=self.wait_quiet,
        )


# --- the event-based title ----------------------------------------------------------


def event_name(n: int) -> str:
    return f"Goal{n}"


def events_title_config(goals: int) -> dict[str, Any]:
    """Achievement n requires its own sum stat, fed by its own event, to reach TARGET."""
    numbers = range(1, goals + 1)
    return {
        "title": {
            "id": EVENTS_TITLE_ID,
            "name": "Bench Events Game",
            "scid": EVENTS_SCID,
            "kind": "event-based",
        },
        "events": [{"name": event_name(n), "measurements": ["amount"]} for n in numbers],
        "stats": [
            {
                "name": f"{event_name(n)}Total",
                "event": event_name(n),
                "measurement": "amount",
                "aggregate": "sum",
            }
            for n in numbers
        ],
        "achievements": [
            {
                "id": str(n),
                "name": f"Goal {n}",
                "lockedDescription": f"Reach goal {n}.",
                "description": f"You reached goal {n}.",
                "gamerscore": 10,
                "requirements": [{"stat": f"{event_name(n)}Total", "target": TARGET}],
            }
            for n in numbers
        ],
    }


def seed_events_title(url: str, *, goals: int, xuids: list[str]) -> list[tuple[str, str]]:
    """Import and publish the event-based title to DEV.1 (the schema exists: seeded
    with the update path's title first); a player token of this title for each XUID."""

    async def work() -> list[tuple[str, str]]:
        db = Database(url, pool_size=2)
        try:
            parsed = titles.parse_config(events_title_config(goals))

            async def publish(conn: Any) -> None:
                await titles.import_config(
                    conn, config=parsed, base_dir=Path("."), now_us=now_micros()
                )
                await titles.publish(
                    conn, title_id=EVENTS_TITLE_ID, sandbox=stores.SANDBOX, now_us=now_micros()
                )

            await db.run_write(publish)
            key = await ensure_signing_key(db)
            return [
                (
                    xuid,
                    mint_token(
                        key,
                        xuid=xuid,
                        title_id=EVENTS_TITLE_ID,
                        sandbox=stores.SANDBOX,
                        ttl_seconds=6 * 3600,
                    ),
                )
                for xuid in xuids
            ]
        finally:
            await db.dispose()

    return asyncio.run(work())


# --- one measured events run -------------------------------------------------------


def events_spec(
    server: procs.Server,
    players: list[tuple[str, str]],
    opts: Options,
    per_request: int,
    state: list[list[int]] | None,
) -> dict[str, Any]:
    """What bench.loadgen reads (its `Spec`), in events mode."""
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "scid": EVENTS_SCID,
        "title_id": EVENTS_TITLE_ID,
        "players": players,
        "achievements": [str(n) for n in range(1, opts.goals + 1)],
        "connections": opts.connections,
        "warmup": opts.warmup,
        "duration": opts.duration,
        "seed": opts.seed + per_request,
        "mode": "events",
        "events": [event_name(n) for n in range(1, opts.goals + 1)],
        "events_per_request": per_request,
        "target": TARGET,
        "state": state,
    }


def measure_events(
    label: str, server: procs.Server, url: str, workers: int, spec: dict[str, Any], opts: Options
) -> Measurement:
    """update_path.measure with an events spec: the load generator's window, CPU and
    memory sampled when it opens and closes."""
    return update_path.measure_spec(label, server, url, workers, spec, opts, prefix="bench-events-")


# --- what the database holds afterwards ---------------------------------------------


@dataclass(frozen=True)
class Stored:
    stat_total: int  # the sum of every stored stat of the event-based title
    unlocked: int  # its achievements at 100


def stored(url: str) -> Stored:
    stats_sql = "SELECT COALESCE(SUM(value), 0) FROM player_stats WHERE scid = $1"
    unlocked_sql = "SELECT COUNT(*) FROM progress WHERE scid = $1 AND percent >= 100"
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            total = conn.execute(stats_sql.replace("$1", "?"), (EVENTS_SCID,)).fetchone()[0]
            unlocked = conn.execute(unlocked_sql.replace("$1", "?"), (EVENTS_SCID,)).fetchone()[0]
        return Stored(int(total), int(unlocked))

    async def work() -> Stored:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            total = await conn.fetchval(stats_sql, EVENTS_SCID)
            unlocked = await conn.fetchval(unlocked_sql, EVENTS_SCID)
        finally:
            await conn.close()
        return Stored(int(total), int(unlocked))

    return asyncio.run(work())


def expected(state: list[list[int]]) -> Stored:
    """What the clients' sums say the database must hold."""
    return Stored(
        sum(sum(sums) for sums in state),
        sum(1 for sums in state for value in sums if value >= TARGET),
    )


# --- the runs ------------------------------------------------------------------------


@dataclass
class Result:
    db: str
    workers: int
    update: Measurement
    one: Measurement
    many: Measurement
    stored: Stored
    expected: Stored


def run(db: str, workers: int, opts: Options, rng: random.Random) -> Result:
    xuids = stores.player_xuids(opts.players, rng)
    with stores.fresh_database(db, opts.directory) as url:
        note(f"{db}, {workers} worker(s): seeding two titles, {opts.players} players each")
        seeded = stores.seed(url, achievements=opts.goals, xuids=xuids)
        players = seed_events_title(url, goals=opts.goals, xuids=xuids)
        stores.checkpoint(url)
        command = update_path.serve_command(workers)
        with procs.running("laurels", command, {"LAURELS_DATABASE_URL": url}) as server:
            note(f"laurels serve on {server.url}: the update path")
            update = update_path.measure(
                "update", server, seeded, url, workers, opts.update_options()
            )
            stores.checkpoint(url)
            note("events, 1 per request")
            spec = events_spec(server, players, opts, 1, None)
            one = measure_events("events x1", server, url, workers, spec, opts)
            stores.checkpoint(url)
            note(f"events, {opts.per_request} per request")
            spec = events_spec(server, players, opts, opts.per_request, one.load["state"])
            many = measure_events(f"events x{opts.per_request}", server, url, workers, spec, opts)
        found = stored(url)
    return Result(db, workers, update, one, many, found, expected(many.load["state"]))


# --- printing ------------------------------------------------------------------------


HEADER = (
    f"{'':<14}{'req/s':>8}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'200':>8}{'304':>7}"
    f"{'other':>6}{'429':>5}  RSS MB   CPU % of a core: svc/db/loadgen/other"
)


def events_per_second(m: Measurement) -> float:
    return m.rps * int(m.load.get("events_per_request", 1))


def row(m: Measurement) -> str:
    rss = "/".join(f"{v:.0f}" for v in common.worker_rss(m.rss_mb))
    events = f"{events_per_second(m):>10.0f}" if "events_per_request" in m.load else f"{'-':>10}"
    return (
        f"{m.label:<14}{m.rps:>8.0f}{events}{m.latency('p50'):>8.1f}{m.latency('p99'):>8.1f}"
        f"{m.status('200'):>8}{m.status('304'):>7}{m.other:>6}{m.status('429'):>5}  "
        f"{rss:<9}{common.cpu_cell(m.cpu_percent)}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratios(r: Result) -> dict[str, float]:
    return {
        "cost_per_request": r.update.rps / max(r.one.rps, 1e-9),
        "p50_ratio": r.one.latency("p50") / max(r.update.latency("p50"), 1e-9),
        "events_vs_update": events_per_second(r.many) / max(r.update.rps, 1e-9),
    }


def problems(r: Result) -> list[str]:
    found = update_path.warnings(r.update)
    for m in (r.one, r.many):
        if set(m.load["status"]) != {"200"}:
            found.append(f"{m.label}: statuses other than 200: {m.load['status']}")
        if m.load["duplicates_total"]:
            found.append(f"{m.label}: {m.load['duplicates_total']} events counted as duplicates")
        found.extend(line for line in update_path.warnings(m) if "non-200/304" not in line)
    if r.stored != r.expected:
        found.append(
            f"the database holds stats summing to {r.stored.stat_total} and "
            f"{r.stored.unlocked} unlocks; the clients sent {r.expected.stat_total} and "
            f"{r.expected.unlocked}"
        )
    return list(dict.fromkeys(found))


def broken(r: Result) -> bool:
    """Whether the run went wrong (not merely slow or disturbed): a status other than
    200 on the events path, a duplicate, or a database that does not hold what the
    clients sent."""
    return r.stored != r.expected or any(
        set(m.load["status"]) != {"200"} or m.load["duplicates_total"] for m in (r.one, r.many)
    )


def print_result(r: Result, per_request: int) -> None:
    print(f"{common.heading(r.db, r.workers)}, one laurels serve, one database ==")
    print(HEADER)
    for m in (r.update, r.one, r.many):
        print(row(m))
    found = ratios(r)
    cost, throughput = found["cost_per_request"], found["events_vs_update"]
    print(
        f"cost per request, events x1 vs update (update req/s / events req/s): x{cost:.2f} "
        f"(p50 x{found['p50_ratio']:.2f}), target <= {COST_LIMIT:g}: "
        f"{verdict(cost <= COST_LIMIT)}"
    )
    print(
        f"events/s with {per_request} per request vs update req/s: "
        f"{events_per_second(r.many):.0f} / {r.update.rps:.0f} = x{throughput:.2f}, "
        f"target >= {THROUGHPUT_FLOOR:g}: {verdict(throughput >= THROUGHPUT_FLOOR)}"
    )
    sent = {m.label: m.load["kinds"] for m in (r.one, r.many)}
    print(f"events sent (warm-up and window): {sent}")
    print(
        f"stored afterwards: stats sum {r.stored.stat_total} (sent {r.expected.stat_total}), "
        f"{r.stored.unlocked} unlocks (sent {r.expected.unlocked}): "
        f"{'match' if r.stored == r.expected else 'MISMATCH'}"
    )
    common.print_warnings(problems(r))


def as_json(r: Result) -> dict[str, Any]:
    measurements = {}
    for key, m in (("update", r.update), ("events_1", r.one), ("events_many", r.many)):
        found = asdict(m)
        found["load"] = {k: v for k, v in m.load.items() if k != "state"}
        measurements[key] = found
    return {
        "db": r.db,
        "workers": r.workers,
        **measurements,
        "ratios": ratios(r),
        "stored": asdict(r.stored),
        "expected": asdict(r.expected),
    }


# --- the command line ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.events_path", description=__doc__.splitlines()[0]
    )
    common.add_load_arguments(
        parser, workers="1", players_help="players with tokens (default 2000)"
    )
    parser.add_argument("--goals", type=int, default=50, help="achievements of each title")
    parser.add_argument("--per-request", type=int, default=10, help="events per request, run 3")
    common.add_run_arguments(
        parser,
        wait_quiet_help="before each measured window, wait up to this many seconds for other "
        "work on the machine to stop (default 10; 0 with --quick)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.per_request <= 100:
        parser.error("--per-request must be 1..100")
    return common.run_options(
        Options,
        args,
        wait_quiet=10.0,
        goals=args.goals,
        per_request=args.per_request,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    rng, began = common.start(
        opts,
        "events path",
        measured="measured per run",
        achievements=f"{opts.goals} achievements per title",
    )
    results = []
    failed = False
    for db in opts.dbs:
        for workers in opts.workers:
            found = run(db, workers, opts, rng)
            print_result(found, opts.per_request)
            failed = failed or broken(found)
            results.append(found)
    common.finish(began, opts.json_path, lambda: [as_json(r) for r in results])
    return 1 if failed else 0


if __name__ == "__main__":
    common.run_command(main)
