"""What the benchmark commands (bench.update_path, bench.events_path) share: their
common options, the handling of Ctrl-C and SIGTERM, the frame of their main loop and
the printing of a measurement's cells."""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

# --- the options ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """The options every benchmark command has (each adds its own)."""

    dbs: list[str]
    workers: list[int]
    duration: float
    warmup: float
    connections: int
    players: int
    directory: Path
    json_path: Path | None
    seed: int
    wait_quiet: float


def add_load_arguments(parser: argparse.ArgumentParser, *, workers: str, players_help: str) -> None:
    """--db, --workers, --duration, --warmup, --connections, --players."""
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", default=workers, help="comma-separated worker counts")
    parser.add_argument("--duration", type=float, help="measured seconds (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (default 2)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--players", type=int, help=players_help)


def add_run_arguments(parser: argparse.ArgumentParser, *, wait_quiet_help: str) -> None:
    """--quick, --tmpdir, --json, --seed, --wait-quiet."""
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--tmpdir", type=Path, help="where SQLite files go (default: system temp)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--wait-quiet", type=float, help=wait_quiet_help)


Options = TypeVar("Options", bound=RunOptions)


def run_options(
    cls: type[Options], args: argparse.Namespace, *, wait_quiet: float, **own: Any
) -> Options:
    """The command's options: RunOptions' fields from the parsed arguments, then the
    command's `own`; `wait_quiet` is the default of --wait-quiet without --quick (0
    with it)."""
    quick = args.quick
    return cls(
        dbs=["sqlite", "postgresql"] if args.db == "both" else [args.db],
        workers=[int(w) for w in args.workers.split(",") if w.strip()],
        duration=args.duration or (2.0 if quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (0.5 if quick else 2.0),
        connections=args.connections,
        players=args.players or (500 if quick else 2000),
        directory=args.tmpdir or Path(tempfile.gettempdir()),
        json_path=args.json,
        seed=args.seed,
        wait_quiet=args.wait_quiet
        if args.wait_quiet is not None
        else (0.0 if quick else wait_quiet),
        **own,
    )


# --- the main loop -------------------------------------------------------------------


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def start(
    opts: RunOptions, name: str, *, measured: str, achievements: str
) -> tuple[random.Random, float]:
    """Make Ctrl-C and SIGTERM raise KeyboardInterrupt (every process and database a
    run started is then stopped and removed on the way out) and print what the runs
    are; the runs' random numbers and the time they began."""
    for interrupting in (signal.SIGINT, signal.SIGTERM):
        signal.signal(interrupting, _interrupt)
    rng = random.Random(opts.seed)
    began = time.monotonic()
    print(
        f"{name} benchmark: {opts.connections} connections, {opts.warmup:g} s warm-up + "
        f"{opts.duration:g} s {measured}, {opts.players} players, {achievements}, "
        f"{os.cpu_count()} CPUs"
    )
    return rng, began


def finish(began: float, json_path: Path | None, figures: Callable[[], list[Any]]) -> None:
    """Print how long the runs took; write `figures()` to `json_path` if asked to."""
    print(f"\ndone in {time.monotonic() - began:.0f} s")
    if json_path:
        json_path.write_text(json.dumps(figures(), indent=2))


def run_command(main: Callable[[], int]) -> NoReturn:
    """Exit with what `main` returns; 130 on Ctrl-C or SIGTERM."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; every process and database it started is gone", file=sys.stderr)
        sys.exit(130)


# --- printing ------------------------------------------------------------------------


def heading(db: str, workers: int) -> str:
    """The start of a table's title: `== sqlite, 2 workers`."""
    plural = "s" if workers > 1 else ""
    return f"\n== {db}, {workers} worker{plural}"


def worker_rss(rss_mb: dict[str, float]) -> list[float]:
    """The workers' resident memory, in MB, of a measurement's `rss_mb`."""
    return [v for k, v in rss_mb.items() if k.startswith("worker")]


def cpu_cell(cpu: dict[str, float]) -> str:
    """svc/db/loadgen/other, in percent of a core ("-" for no database process)."""
    db_cpu = f"{cpu['postgres']:.0f}" if "postgres" in cpu else "-"
    return (
        f"{cpu.get('service', 0):.0f}/{db_cpu}/{cpu.get('loadgen', 0):.0f}/"
        f"{cpu.get('other', 0):.0f}"
    )


def print_warnings(lines: Iterable[str]) -> None:
    """Each line marked with `!`; then flush, so that a long run shows its tables as
    they come."""
    for line in lines:
        print(f"  ! {line}")
    sys.stdout.flush()
