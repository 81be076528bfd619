"""`laurels sync`: the sync agent's command line. It needs only the SDK (no click,
no server), so a player's machine with `pip install laurels` can run it.

    laurels sync [--queue PATH]... [--once] [--status]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from laurels.sdk._agent import PassReport, run_agent
from laurels.sdk._exceptions import QueueError
from laurels.sdk._queue import OfflineQueue, QueueStatus, default_queue_path


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(
        prog="laurels sync",
        description="Deliver queued achievement updates and events, even when no game runs.",
    )
    commands.add_argument(
        "--queue",
        action="append",
        type=Path,
        metavar="PATH",
        help=f"a queue file (repeatable; default {default_queue_path()})",
    )
    commands.add_argument(
        "--once", action="store_true", help="deliver what can be delivered now, then exit"
    )
    commands.add_argument(
        "--status", action="store_true", help="print pending and dead-letter counts, then exit"
    )
    return commands


def describe(path: Path, status: QueueStatus, settled: int | None = None) -> str:
    lines = [
        f"{path}: {status.pending} pending, {status.dead_letters} dead letter(s)"
        + ("" if settled is None else f", {settled} delivered now")
    ]
    if status.events_pending or status.event_dead_letters:
        lines.append(
            f"  of which events: {status.events_pending} pending,"
            f" {status.event_dead_letters} dead letter(s)"
        )
    if status.events_refused_full:
        lines.append(f"  events refused, queue full: {status.events_refused_full}")
    lines += [f"  dead letter: {reason}" for reason in status.last_reasons]
    lines += [f"  blocked: {blocked.describe()}" for blocked in status.blocked]
    lines += [f"  moved aside (unusable): {aside}" for aside in status.moved_aside]
    if status.last_error:
        lines.append(f"  last delivery error: {status.last_error}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    paths: list[Path] = args.queue or [default_queue_path()]
    try:
        if args.status:
            for path in paths:
                queue = OfflineQueue(path)
                queue.erase_expired_tokens()
                print(describe(path, queue.status()))
                queue.close()
            return 0
        reports: list[PassReport] = run_agent(paths, once=args.once)
    except QueueError as exc:
        print(f"laurels: {exc}", file=sys.stderr)
        return 1
    for report in reports:
        print(describe(report.path, report.status, report.settled))
    return 0
