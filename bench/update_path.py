"""Benchmark of the update path: `laurels serve` alone, in detail (per-worker memory,
CPU by process, connections per worker) and at scale. Its comparison with the
yardstick a studio would write is `bench/yardstick.py` (`../shared/perf/compare.py`).

For each database (SQLite file, PostgreSQL database) and worker count, on a fresh
database seeded with one title of 50 achievements published to DEV.1 and a token for
each of 2,000 players, a load generator in its own process drives 64 keep-alive
connections of V2 updates (mostly raises, some repeats that get 304, some unlocks)
through a warm-up and a measured window. With `--scale`, the
service's latency with 10 thousand and with 1 million stored progress rows.

    .venv/bin/python -m bench.update_path --db both --workers 1,2
    .venv/bin/python -m bench.update_path --db both --scale --no-main
    .venv/bin/python -m bench.update_path --quick          # a smoke run

Every process it starts is in its own process group and is stopped on exit, error or
Ctrl-C; every database it creates is removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import common, procs, stores

LOADGEN_LOG_LINES = 20
BUSY_BEFORE = 25.0  # percent of a core used by others before or during a run: warn


@dataclass
class Measurement:
    label: str
    db: str
    workers: int
    load: dict[str, Any]
    rss_mb: dict[str, float] = field(default_factory=dict)
    connections: list[int] = field(default_factory=list)
    cpu_percent: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return float(self.load["rps"])

    def latency(self, name: str) -> float:
        return float(self.load["latency_ms"][name])

    def status(self, code: str) -> int:
        found: int = self.load["status"].get(code, 0)
        return found

    @property
    def other(self) -> int:
        counted = self.status("200") + self.status("304")
        total: int = sum(self.load["status"].values())
        return total - counted


@dataclass(frozen=True)
class Options(common.RunOptions):
    achievements: int
    scale: bool
    scale_rows: list[int]
    main: bool
    rate: float = 0.0  # the load generator's pace (requests/s); 0: as fast as answered


# --- one measured run ------------------------------------------------------------------


def _lines(process: subprocess.Popen[bytes], deadline: float) -> Iterator[str]:
    """Lines the process prints, until it closes stdout; TimeoutError at the deadline."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the load generator did not finish in time")
        ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode(errors="replace")


@dataclass
class Sample:
    service: float
    database: dict[int, float]
    busy: float
    at: float

    @classmethod
    def take(cls, server: procs.Server, database: str | None) -> Sample:
        return cls(
            service=procs.cpu_seconds(server.pids()),
            database=procs.cpu_by_process(procs.postgres_pids(database)) if database else {},
            busy=procs.machine_cpu()[0],
            at=time.monotonic(),
        )


def cpu_between(start: Sample, end: Sample, database: str | None) -> dict[str, float]:
    """CPU use in the window, in percent of one core (the machine's: all its cores).
    A PostgreSQL process that ended inside the window is not counted."""
    seconds = max(end.at - start.at, 1e-9)
    found = {
        "service": 100 * (end.service - start.service) / seconds,
        "machine": 100 * (end.busy - start.busy) / procs.TICKS / seconds,
    }
    if database:
        used = sum(cpu - start.database.get(pid, 0.0) for pid, cpu in end.database.items())
        found["postgres"] = 100 * used / seconds
    return found


def background_cpu(seconds: float = 1.0) -> float:
    """How busy the machine is before the load starts, in percent of one core (other
    users of the machine disturb the figures)."""
    busy, _ = procs.machine_cpu()
    time.sleep(seconds)
    return 100 * (procs.machine_cpu()[0] - busy) / procs.TICKS / seconds


def wait_for_quiet(limit: float) -> float:
    """Wait up to `limit` seconds for the machine to be quiet (others' work below
    BUSY_BEFORE); returns how busy it was at the last look."""
    deadline = time.monotonic() + limit
    busy = background_cpu()
    while busy > BUSY_BEFORE and time.monotonic() < deadline:
        busy = background_cpu()
    return busy


def measure(
    label: str, server: procs.Server, seeded: stores.Seeded, url: str, workers: int, opts: Options
) -> Measurement:
    """Drive `server` with the load generator; sample CPU, memory and connections
    when the measured window opens and closes."""
    spec = load_spec(server, seeded, opts)
    return measure_spec(label, server, url, workers, spec, opts, prefix="bench-load-")


def measure_spec(
    label: str,
    server: procs.Server,
    url: str,
    workers: int,
    spec: dict[str, Any],
    opts: common.RunOptions,
    *,
    prefix: str,
) -> Measurement:
    """Drive `server` with the load generator reading `spec` (its files in a temporary
    folder whose name starts with `prefix`); sample CPU, memory and connections when
    the measured window opens and closes."""
    idle = wait_for_quiet(opts.wait_quiet)
    db = "sqlite" if url.startswith("sqlite") else "postgresql"
    postgres = url.rsplit("/", 1)[1] if db == "postgresql" else None
    result = Measurement(label, db, workers, load={})
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=opts.directory))
    process = start_loadgen(work, spec)
    try:
        deadline = time.monotonic() + opts.warmup + opts.duration + 60
        start: Sample | None = None
        for line in _lines(process, deadline):
            if line == "measure-start":
                start = Sample.take(server, postgres)
            elif line == "measure-end" and start is not None:
                result.cpu_percent = cpu_between(start, Sample.take(server, postgres), postgres)
                _sample_memory(result, server)
                _answer(process)
        process.wait(max(1.0, deadline - time.monotonic()))
        result.load = _loadgen_result(process, work)
    finally:
        if process.poll() is None:
            procs.stop_group(process)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        shutil.rmtree(work, ignore_errors=True)
    if not result.cpu_percent:
        raise RuntimeError("the load generator never reported the end of its window")
    cpu = result.cpu_percent
    cpu["loadgen"] = result.load["loadgen_cpu_percent"]
    cpu["other"] = max(
        0.0, cpu["machine"] - cpu["service"] - cpu.get("postgres", 0.0) - cpu["loadgen"]
    )
    cpu["before"] = idle
    result.problems = server.problems()
    return result


def load_spec(server: procs.Server, seeded: stores.Seeded, opts: Options) -> dict[str, Any]:
    """What bench.loadgen reads (its `Spec`)."""
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "scid": stores.SCID,
        "title_id": stores.TITLE_ID,
        "players": seeded.players,
        "achievements": seeded.achievements,
        "connections": opts.connections,
        "warmup": opts.warmup,
        "duration": opts.duration,
        "seed": opts.seed,
        "rate": opts.rate,
    }


def start_loadgen(work: Path, spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """The load generator in its own process group; its stderr goes to `work`."""
    (work / "spec.json").write_text(json.dumps(spec))
    with (work / "stderr.log").open("wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                str(work / "spec.json"),
                str(work / "out.json"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=procs.REPO,
            env={**procs.clean_environment(), "PYTHONPATH": procs.python_path()},
            start_new_session=True,
        )


def _loadgen_result(process: subprocess.Popen[bytes], work: Path) -> dict[str, Any]:
    if process.returncode != 0:
        text = (work / "stderr.log").read_text(errors="replace")
        tail = "\n".join(text.splitlines()[-LOADGEN_LOG_LINES:])
        raise RuntimeError(f"the load generator failed ({process.returncode}):\n{tail}")
    found: dict[str, Any] = json.loads((work / "out.json").read_text())
    return found


def _answer(process: subprocess.Popen[bytes]) -> None:
    """Tell the load generator that it may close its connections."""
    assert process.stdin is not None
    with contextlib.suppress(OSError):
        process.stdin.write(b"sampled\n")
        process.stdin.flush()


def _sample_memory(result: Measurement, server: procs.Server) -> None:
    workers = server.workers()
    for pid in server.pids():
        name = "worker" if pid in workers else "supervisor"
        result.rss_mb[f"{name} {pid}"] = round(procs.rss_mb(pid), 1)
    counts = procs.established_per_process(workers, server.port)
    result.connections = [counts[pid] for pid in workers]


# --- the runs ------------------------------------------------------------------------


def serve_command(workers: int) -> list[str]:
    return [sys.executable, "-m", "laurels", "serve", "--port", "0", "--workers", str(workers)]


def note(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def run_service(db: str, workers: int, opts: Options, rng: random.Random) -> Measurement:
    """The service on a fresh database of kind `db`."""
    xuids = stores.player_xuids(opts.players, rng)
    with stores.fresh_database(db, opts.directory) as url:
        note(f"{db}, {workers} worker(s): seeding {opts.players} players")
        seeded = stores.seed(url, achievements=opts.achievements, xuids=xuids)
        stores.checkpoint(url)
        with procs.running("laurels", serve_command(workers), {"LAURELS_DATABASE_URL": url}) as s:
            note(f"laurels serve on {s.url}: driving it")
            return measure("laurels", s, seeded, url, workers, opts)


def run_scale(db: str, rows: int, opts: Options, rng: random.Random) -> Measurement:
    """The service (1 worker) with `rows` progress rows stored before the load."""
    xuids = stores.player_xuids(opts.players, rng)
    with stores.fresh_database(db, opts.directory) as url:
        seeded = stores.seed(url, achievements=opts.achievements, xuids=xuids)
        note(f"{db}: storing {rows:,} progress rows")
        filled = stores.fill_progress(
            url, rows=rows, achievements=opts.achievements, rng=rng, exclude=set(xuids)
        )
        note(f"stored {filled.rows:,} rows of {filled.players:,} players in {filled.seconds:.1f} s")
        stores.checkpoint(url)
        with procs.running("laurels", serve_command(1), {"LAURELS_DATABASE_URL": url}) as s:
            note(f"laurels serve on {s.url}: driving it")
            found = measure(f"laurels {rows:,} rows", s, seeded, url, 1, opts)
    found.extra = {"stored_rows": filled.rows, "fill_seconds": round(filled.seconds, 1)}
    return found


# --- printing ------------------------------------------------------------------------


HEADER = (
    f"{'':<24}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'200':>8}{'304':>7}{'other':>7}"
    f"{'429':>5}  RSS MB per worker   conns   CPU % of a core: svc/db/loadgen/other"
)


def row(m: Measurement) -> str:
    supervisor = [v for k, v in m.rss_mb.items() if k.startswith("supervisor")]
    rss = "/".join(f"{v:.0f}" for v in common.worker_rss(m.rss_mb)) + (
        f" (+sup {supervisor[0]:.0f})" if supervisor else ""
    )
    return (
        f"{m.label:<24}{m.rps:>9.0f}{m.latency('p50'):>9.1f}{m.latency('p99'):>9.1f}"
        f"{m.status('200'):>8}{m.status('304'):>7}{m.other:>7}{m.status('429'):>5}  "
        f"{rss:<19}{'/'.join(map(str, m.connections)):<8}"
        f"{common.cpu_cell(m.cpu_percent)}"
    )


def warnings(m: Measurement) -> list[str]:
    found = []
    if m.other:
        found.append(f"{m.label}: non-200/304 statuses {m.load['status']}")
    if m.load["errors"]:
        found.append(f"{m.label}: connection errors {m.load['errors']}")
    if m.load["unfinished"]:
        found.append(f"{m.label}: {m.load['unfinished']} connections still busy at the end")
    if m.cpu_percent.get("before", 0) > BUSY_BEFORE:
        found.append(
            f"{m.label}: the machine was already busy before the load "
            f"({m.cpu_percent['before']:.0f}% of a core): figures are disturbed"
        )
    if m.cpu_percent.get("other", 0) > BUSY_BEFORE:
        found.append(
            f"{m.label}: other work used {m.cpu_percent['other']:.0f}% of a core during the "
            "window: figures are disturbed"
        )
    if m.problems:
        found.append(f"{m.label}: {len(m.problems)} error lines in the log, first: {m.problems[0]}")
    return found


def print_service(real: Measurement) -> None:
    print(f"{common.heading(real.db, real.workers)} ==")
    print(HEADER)
    print(row(real))
    mix = real.load["kinds"]
    print(
        f"{'':<24}mix sent: {mix}; max {real.load['max_requests_per_player']} requests "
        f"per player over {real.load['players']} players"
    )
    common.print_warnings(warnings(real))


def print_scale(db: str, found: Sequence[Measurement]) -> None:
    print(f"\n== scale check, {db}, 1 worker ==")
    print(HEADER)
    for m in found:
        print(row(m))
    first, last = found[0], found[-1]
    print(
        f"{'largest/smallest':<24}p50 x{last.latency('p50') / max(first.latency('p50'), 1e-9):.2f}"
        f", p99 x{last.latency('p99') / max(first.latency('p99'), 1e-9):.2f}"
        f", req/s x{last.rps / max(first.rps, 1e-9):.2f}"
    )
    fills = ", ".join(
        f"{m.extra['stored_rows']:,} rows in {m.extra['fill_seconds']} s" for m in found
    )
    print(f"{'':<24}stored before the load: {fills}")
    common.print_warnings(line for m in found for line in warnings(m))


# --- the command line ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.update_path", description=__doc__.splitlines()[0]
    )
    common.add_load_arguments(
        parser, workers="1,2", players_help="players with a token (default 2000)"
    )
    parser.add_argument("--achievements", type=int, default=50)
    parser.add_argument("--scale", action="store_true", help="also run the scale check")
    parser.add_argument(
        "--scale-rows", help="stored rows of the scale check (default 10000,1000000)"
    )
    parser.add_argument("--no-main", action="store_true", help="skip the service runs")
    common.add_run_arguments(
        parser,
        wait_quiet_help="before each run, wait up to this many seconds for other work on the "
        "machine to stop (default 30; 0 with --quick)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    return common.run_options(
        Options,
        args,
        wait_quiet=30.0,
        achievements=args.achievements,
        scale=args.scale,
        scale_rows=[
            int(r)
            for r in (args.scale_rows or ("10000,100000" if quick else "10000,1000000")).split(",")
        ],
        main=not args.no_main,
    )


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    rng, began = common.start(
        opts, "update path", measured="measured", achievements=f"{opts.achievements} achievements"
    )
    results: list[Measurement] = []
    if opts.main:
        for db in opts.dbs:
            for workers in opts.workers:
                served = run_service(db, workers, opts, rng)
                print_service(served)
                results.append(served)
    if opts.scale:
        for db in opts.dbs:
            found = [run_scale(db, rows, opts, rng) for rows in opts.scale_rows]
            print_scale(db, found)
            results.extend(found)
    common.finish(began, opts.json_path, lambda: [asdict(m) for m in results])
    return 0


if __name__ == "__main__":
    common.run_command(main)
