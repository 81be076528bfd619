"""Benchmark of real-time activity: 1,000 RTA sockets on one `laurels serve` worker.

On a fresh database (one title of 50 achievements, tokens for the load's players and
for the sockets' players), against one worker:
1. the update path's throughput and latency with no socket connected (the load
   generator of bench/update_path.py, 64 connections);
2. 1,000 sockets connected from another process (bench/rta_client.py), each
   subscribed to its player's notifications and progress; the worker's memory before
   and after, per socket;
3. unlock -> notification latency, one unlock at a time: from sending the update to
   the notification arriving on that player's socket (and from the 200 to it);
4. the same load as in 1 on as many other players, most of whom have a socket (so it
   fans out events), with latency samples taken during the load; with `--rate R`
   that load is paced to at most R updates/s (to measure the latency at a given
   load: unpaced, the faster the service, the heavier the load);
5. on PostgreSQL, a second `laurels serve` process: unlocks sent to it, sockets on
   the first (LISTEN/NOTIFY).

    .venv/bin/python -m bench.realtime --db both
    .venv/bin/python -m bench.realtime --quick
    .venv/bin/python -m bench.realtime --db postgresql --rate 1000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs, stores, update_path

LATENCY_PLAYERS = 100


def _percentiles(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered):6.1f} ms  p99 {p99:6.1f} ms  "
        f"max {ordered[-1]:6.1f} ms  (n={len(ordered)})"
    )


class Client:
    """bench/rta_client.py in its own process group."""

    def __init__(self, work: Path, spec: dict[str, Any]) -> None:
        (work / "rta.json").write_text(json.dumps(spec))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.rta_client", str(work / "rta.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=procs.REPO,
            env={**procs.clean_environment(), "PYTHONPATH": procs.python_path()},
            start_new_session=True,
        )
        line = self.readline()
        if not line.startswith("connected"):
            raise RuntimeError(f"the socket client failed: {line!r}")
        self.connected = line

    def readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().decode().strip()

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        self.send(command)
        answer: dict[str, Any] = json.loads(self.readline())
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.send({"quit": True})
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                procs.stop_group(self.process)


def _options(args: argparse.Namespace, directory: Path) -> update_path.Options:
    return update_path.Options(
        dbs=[],
        workers=[1],
        duration=args.duration,
        warmup=args.warmup,
        connections=64,
        players=args.players,
        achievements=50,
        scale=False,
        scale_rows=[],
        main=True,
        directory=directory,
        json_path=None,
        seed=1,
        wait_quiet=0.0 if args.quick else 20.0,
    )


def _worker_rss(server: procs.Server) -> float:
    return procs.rss_mb(server.workers()[0])


def run(db: str, args: argparse.Namespace) -> None:
    directory = Path(tempfile.gettempdir())
    opts = _options(args, directory)
    rng = random.Random(1)
    xuids = stores.player_xuids(2 * args.players + LATENCY_PLAYERS, rng)
    with stores.fresh_database(db, directory) as url:
        update_path.note(f"{db}: seeding {len(xuids)} players")
        seeded = stores.seed(url, achievements=50, xuids=xuids)
        stores.checkpoint(url)
        # Two loads on disjoint players of the same size, so both start from the
        # same state: the first with no socket, the second with its players' sockets.
        players = seeded.players
        alone = stores.Seeded(url, seeded.achievements, players[: args.players])
        watched = stores.Seeded(url, seeded.achievements, players[args.players : 2 * args.players])
        latency_players = players[2 * args.players :]
        socket_players = watched.players[: args.sockets - LATENCY_PLAYERS] + latency_players
        env = {"LAURELS_DATABASE_URL": url}
        with procs.running("laurels", update_path.serve_command(1), env) as server:
            update_path.note("load with no socket connected")
            none = update_path.measure("no sockets", server, alone, url, 1, opts)
            rss_before = _worker_rss(server)
            work = Path(tempfile.mkdtemp(prefix="bench-rta-"))
            spec = {
                "ws_url": server.url.replace("http://", "ws://") + "/connect",
                "scid": stores.SCID,
                "title_id": stores.TITLE_ID,
                "players": socket_players,
                "latency_players": latency_players,
                "achievements": seeded.achievements,
            }
            update_path.note(f"connecting {len(socket_players)} sockets")
            client = Client(work, spec)
            try:
                rss_after = _worker_rss(server)
                idle = client.ask(
                    {"latency": {"url": server.url, "samples": args.samples, "interval": 0.01}}
                )
                update_path.note("load with the sockets connected, sampling latency meanwhile")
                client.send(
                    {"latency": {"url": server.url, "samples": args.samples // 2, "interval": 0.05}}
                )
                paced = dataclasses.replace(opts, rate=args.rate)
                with_sockets = update_path.measure("sockets", server, watched, url, 1, paced)
                loaded = json.loads(client.readline())
                counts = client.ask({"counts": True})
                across = None
                if db == "postgresql":
                    with procs.running("laurels-b", update_path.serve_command(1), env) as other:
                        across = client.ask(
                            {
                                "latency": {
                                    "url": other.url,
                                    "samples": args.samples,
                                    "interval": 0.01,
                                }
                            }
                        )
            finally:
                client.close()
        _report(
            db,
            len(socket_players),
            client.connected,
            none,
            with_sockets,
            rss_before,
            rss_after,
            idle,
            loaded,
            counts,
            across,
            args.rate,
        )


def _report(
    db: str,
    sockets: int,
    connected: str,
    none: update_path.Measurement,
    with_sockets: update_path.Measurement,
    rss_before: float,
    rss_after: float,
    idle: dict[str, Any],
    loaded: dict[str, Any],
    counts: dict[str, Any],
    across: dict[str, Any] | None,
    rate: float,
) -> None:
    seconds = connected.split()[-1]
    print(f"\n{db}: {sockets} sockets on one worker (connected and subscribed in {seconds} s)")
    print(
        f"  memory: worker RSS {rss_before:.1f} MB -> {rss_after:.1f} MB = "
        f"{(rss_after - rss_before) * 1024 / sockets:.1f} KB per socket"
    )
    print(f"  unlock -> notification, one process, idle:      {_percentiles(idle['latency_ms'])}")
    print(f"    (from the 200 to the notification)          {_percentiles(idle['after_200_ms'])}")
    print(
        f"  unlock -> notification, one process, under load: {_percentiles(loaded['latency_ms'])}"
    )
    print(f"    (from the 200 to the notification)          {_percentiles(loaded['after_200_ms'])}")
    if rate:
        print(f"    (that load paced to at most {rate:.0f} updates/s)")
    if across is not None:
        found = _percentiles(across["latency_ms"])
        print(f"  unlock -> notification, two processes (B -> A): {found}")
    missing = idle["missing"] + loaded["missing"] + (across["missing"] if across else 0)
    events, resyncs = counts["events"], counts["resyncs"]
    print(f"  notifications missing: {missing}; events received {events}, resyncs {resyncs}")
    for label, m in (("no sockets", none), ("1,000 sockets", with_sockets)):
        load = m.load
        print(
            f"  update path, {label:>13}: {load['rps']:7.0f} req/s  "
            f"p50 {load['latency_ms']['p50']:5.1f} ms  p99 {load['latency_ms']['p99']:6.1f} ms  "
            f"statuses {load['status']}  errors {load['errors'] or 0}"
        )
    if not rate:
        print(f"  throughput with sockets / without: x{with_sockets.rps / none.rps:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realtime", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pace the load with sockets connected to at most this many updates/s "
        "(default: as fast as the service answers)",
    )
    args = parser.parse_args(argv)
    args.duration = 3.0 if args.quick else 10.0
    args.warmup = 0.5 if args.quick else 2.0
    args.players = 1000 if args.quick else 2000
    if args.quick:
        args.sockets, args.samples = min(args.sockets, 300), min(args.samples, 60)
    began = time.monotonic()
    for db in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        run(db, args)
    print(f"\ndone in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
