"""A closed-loop HTTP/1.1 load generator for the update path (and, with `mode: events`,
for POST .../events), run as its own process.

`python -m bench.loadgen SPEC.json RESULT.json` opens `connections` keep-alive TCP
connections to the service (one coroutine each, under uvloop), and each sends one V2
update at a time: request bytes are assembled from pre-built per-player parts, the
response is read with a minimal parser (status line, Content-Length or chunked).

The mix per request (player chosen round-robin, so every player gets the same share
and the per-player rate limit is never approached when there are enough players):
  - `unlock` of the time: an achievement not yet at 100 is sent at 100 (200);
  - `repeat` of the time: an achievement already stored is sent again at a value not
    above the stored one (304); a player's first request, with nothing stored, is a
    raise instead;
  - otherwise: an achievement below 99 is raised by 1..10 percent, capped at 99 (200).

With `mode: events` (bench/events_path.py), each request is a POST
/users/xuid({xuid})/events of `events_per_request` events, each with a fresh UUID id.
Achievement n of the event-based title requires its own sum stat (fed by the event
`events[n]`, measurement `amount`) to reach `target`; the client keeps each player's
sums (starting from `state`, the previous run's, when given) and per event:
  - `unlock` of the time: a goal below the target gets exactly what it lacks (an unlock);
  - otherwise (`raise`): a goal below target - 1 gets 1..10, capped at target - 1;
  - `extra`: every goal is done, so an event that changes a stat and unlocks nothing.
The 200 answers' `accepted` and `duplicates` are summed over the whole run.

With `rate` (requests per second over all connections), each connection sends its
next request at a fixed interval (`connections / rate` seconds, the connections
staggered) or as soon as its previous answer comes, whichever is later: a load of at
most that rate, for measuring latency at a given load rather than at saturation.

Timeline: warm-up, then the measured window of `duration` seconds, then no new request
is sent; requests completing inside the window are counted. It prints `measure-start`
and `measure-end` on stdout when the window opens and closes, so that the parent can
sample the service's CPU and memory at those moments. The result is a JSON object
(see `Stats.result`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import stat
import sys
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PERCENTILES = (50, 90, 99, 99.9)
CONNECT_TIMEOUT = 10.0
GRACE_SECONDS = 15.0
HOLD_SECONDS = 10.0


@dataclass
class Spec:
    host: str
    port: int
    scid: str
    title_id: int
    players: list[tuple[str, str]]  # (xuid, token)
    achievements: list[str]
    connections: int = 64
    warmup: float = 2.0
    duration: float = 10.0
    repeat: float = 0.10
    unlock: float = 0.10
    seed: int = 1
    mode: str = "update"  # or "events"
    events: list[str] = field(default_factory=list)  # events mode: goal n's event
    events_per_request: int = 1
    target: int = 100
    state: list[list[int]] | None = None  # events mode: each player's sums to start from
    rate: float = 0.0  # requests per second over all connections; 0: unpaced

    @classmethod
    def load(cls, path: Path) -> Spec:
        data: dict[str, Any] = json.loads(path.read_text())
        data["players"] = [tuple(p) for p in data["players"]]
        return cls(**data)


class Workload:
    """Builds the next request: round-robin over players, the mix over achievements.
    Keeps what it sent per (player, achievement), which is what the service stores
    as long as no two requests of one player are in flight at once."""

    def __init__(self, spec: Spec) -> None:
        self._rng = random.Random(spec.seed)
        self._repeat = spec.repeat
        self._unlock = spec.repeat + spec.unlock
        self._ids = [a.encode() for a in spec.achievements]
        self._count = len(self._ids)
        self._players = len(spec.players)
        self._sent = [bytearray(self._count) for _ in spec.players]
        self._heads: list[bytes] = []
        self._bodies: list[bytes] = []
        for xuid, token in spec.players:
            self._heads.append(
                _head(spec, f"/users/xuid({xuid})/achievements/{spec.scid}/update", token)
            )
            self._bodies.append(
                (
                    f'{{"action":"progressUpdate","serviceConfigId":"{spec.scid}",'
                    f'"titleId":{spec.title_id},"userId":"{xuid}","achievements":[{{"id":"'
                ).encode()
            )
        self._next = 0
        self.kinds: Counter[str] = Counter()
        self.per_player = [0] * self._players

    def next_request(self) -> bytes:
        player = self._next % self._players
        self._next += 1
        self.per_player[player] += 1
        sent = self._sent[player]
        kind, index, percent = self._choose(sent)
        sent[index] = max(sent[index], percent)
        self.kinds[kind] += 1
        body = b'%s%s","percentComplete":%d}]}' % (
            self._bodies[player],
            self._ids[index],
            percent,
        )
        return b"%s%d\r\n\r\n%s" % (self._heads[player], len(body), body)

    def _choose(self, sent: bytearray) -> tuple[str, int, int]:
        rng = self._rng
        roll = rng.random()
        if roll < self._repeat:
            found = self._pick(sent, lambda p: p > 0)
            if found is not None:
                return "repeat", found, rng.randint(1, sent[found])
        elif roll < self._unlock:
            found = self._pick(sent, lambda p: p < 100)
            if found is not None:
                return "unlock", found, 100
        found = self._pick(sent, lambda p: p < 99)
        if found is None:  # everything unlocked or at 99: a repeat, then
            found = rng.randrange(self._count)
            return "repeat", found, max(1, sent[found])
        return "raise", found, min(99, sent[found] + rng.randint(1, 10))

    def _pick(self, sent: bytearray, wanted: Any) -> int | None:
        """A random achievement whose sent percentage satisfies `wanted`."""
        return _pick(self._rng, sent, wanted)

    def answer(self, status: int, body: bytes) -> None:
        """Nothing to learn from an update's answer."""

    def result(self) -> dict[str, Any]:
        return {}


def _head(spec: Spec, path: str, token: str) -> bytes:
    """A POST's request line and headers up to its Content-Length's value."""
    return (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {spec.host}:{spec.port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "x-xbl-contract-version: 2\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: "
    ).encode()


def _pick(rng: random.Random, values: Sequence[int], wanted: Any) -> int | None:
    """A random index whose value satisfies `wanted`."""
    count = len(values)
    for _ in range(8):
        index = rng.randrange(count)
        if wanted(values[index]):
            return index
    candidates = [i for i, p in enumerate(values) if wanted(p)]
    return rng.choice(candidates) if candidates else None


class EventWorkload:
    """Builds the next POST .../events: round-robin over players, `events_per_request`
    events each, the mix over the players' goals (see the module's docstring). Keeps
    each player's sums, which are the service's stats as long as every request is
    applied and no two requests of one player are in flight at once."""

    def __init__(self, spec: Spec) -> None:
        self._rng = random.Random(spec.seed)
        self._unlock = spec.unlock
        self._per_request = spec.events_per_request
        self._target = spec.target
        self._names = [name.encode() for name in spec.events]
        self._players = len(spec.players)
        if spec.state is not None:
            self._sums = [list(sums) for sums in spec.state]
        else:
            self._sums = [[0] * len(self._names) for _ in spec.players]
        self._heads = [
            _head(spec, f"/users/xuid({xuid})/events", token) for xuid, token in spec.players
        ]
        self._prefix = b'{"titleId":%d,"events":[' % spec.title_id
        self._next = 0
        self.kinds: Counter[str] = Counter()
        self.per_player = [0] * self._players
        self.accepted = 0
        self.duplicates = 0

    def next_request(self) -> bytes:
        player = self._next % self._players
        self._next += 1
        self.per_player[player] += 1
        sums = self._sums[player]
        items = []
        for _ in range(self._per_request):
            kind, index, amount = self._choose(sums)
            sums[index] += amount
            self.kinds[kind] += 1
            items.append(
                b'{"id":"%s","name":"%s","measurements":{"amount":%d}}'
                % (str(uuid.uuid4()).encode(), self._names[index], amount)
            )
        body = b"%s%s]}" % (self._prefix, b",".join(items))
        return b"%s%d\r\n\r\n%s" % (self._heads[player], len(body), body)

    def _choose(self, sums: list[int]) -> tuple[str, int, int]:
        rng, target = self._rng, self._target
        if rng.random() < self._unlock:
            found = _pick(rng, sums, lambda s: s < target)
            if found is not None:
                return "unlock", found, target - sums[found]
        found = _pick(rng, sums, lambda s: s < target - 1)
        if found is None:
            return "extra", rng.randrange(len(sums)), 1
        return "raise", found, min(target - 1, sums[found] + rng.randint(1, 10)) - sums[found]

    def answer(self, status: int, body: bytes) -> None:
        if status == 200:
            counts = json.loads(body)
            self.accepted += counts["accepted"]
            self.duplicates += counts["duplicates"]

    def result(self) -> dict[str, Any]:
        return {
            "events_per_request": self._per_request,
            "accepted_total": self.accepted,
            "duplicates_total": self.duplicates,
            "state": self._sums,
        }


@dataclass
class Stats:
    start: float = 0.0  # the measured window, perf_counter seconds
    end: float = 0.0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    completed: int = 0
    reconnects: int = 0
    cpu_at_start: float = 0.0
    cpu_at_end: float = 0.0

    def record(self, began: float, finished: float, status: int) -> None:
        self.completed += 1
        if self.start <= finished < self.end:
            self.latencies.append(finished - began)
            self.statuses[status] += 1

    def result(
        self, spec: Spec, workload: Workload | EventWorkload, unfinished: int
    ) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        measured = len(ordered)
        seconds = self.end - self.start
        return {
            "connections": spec.connections,
            "duration": seconds,
            "requests": measured,
            "rps": measured / seconds if seconds > 0 else 0.0,
            "latency_ms": {
                **{f"p{p:g}": _percentile(ordered, p) * 1000 for p in PERCENTILES},
                "mean": (sum(ordered) / measured * 1000) if measured else 0.0,
                "max": (ordered[-1] * 1000) if measured else 0.0,
            },
            "status": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "sent_total": self.sent,
            "completed_total": self.completed,
            "unfinished": unfinished,
            "reconnects": self.reconnects,
            "kinds": dict(workload.kinds),
            "players": len(spec.players),
            "max_requests_per_player": max(workload.per_player, default=0),
            "loadgen_cpu_percent": (
                100 * (self.cpu_at_end - self.cpu_at_start) / seconds if seconds > 0 else 0.0
            ),
            **workload.result(),
        }


def _percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values (0 when there are none)."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[min(len(ordered), int(rank)) - 1]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ProtocolError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """(status, whether the server will close the connection, the body: empty when
    chunked) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP response: {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    closing = b"\r\nconnection: close" in lower
    body = b""
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
        if length:
            body = await reader.readexactly(length)
    elif b"\r\ntransfer-encoding: chunked" in lower:
        await _read_chunked(reader)
    elif not (status in (204, 304) or 100 <= status < 200):
        raise ProtocolError("a response without Content-Length")
    return status, closing, body


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def _open(spec: Spec) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(
        asyncio.open_connection(spec.host, spec.port, limit=1 << 16), CONNECT_TIMEOUT
    )


async def connection(
    spec: Spec,
    workload: Workload | EventWorkload,
    stats: Stats,
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    position: int = 0,
) -> asyncio.StreamWriter:
    """Send one request at a time on one keep-alive connection until the window ends
    (paced when `spec.rate` is set; `position` staggers the connections); returns the
    connection, still open (the parent counts them when the window ends)."""
    reader, writer = streams
    clock = time.perf_counter
    interval = spec.connections / spec.rate if spec.rate else 0.0
    due = clock() + interval * position / spec.connections
    try:
        while clock() < stats.end:
            if interval:
                if (wait := due - clock()) > 0:
                    await asyncio.sleep(wait)
                due = max(due + interval, clock())
            request = workload.next_request()
            began = clock()
            stats.sent += 1
            try:
                writer.write(request)
                status, closing, body = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ProtocolError) as exc:
                stats.errors[type(exc).__name__] += 1
                closing, status = True, 0
            else:
                stats.record(began, clock(), status)
                workload.answer(status, body)
            if closing:
                writer.close()
                stats.reconnects += 1
                reader, writer = await _open(spec)
    except BaseException:
        writer.close()
        raise
    return writer


async def parent_answer() -> None:
    """Wait (at most HOLD_SECONDS) for a line on stdin: the parent sends one once it
    has looked at the service, and until then every connection stays open."""
    if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
        return  # not started by the benchmark (and uvloop aborts on /dev/null)
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.readline(), HOLD_SECONDS)
    finally:
        transport.close()


async def run(spec: Spec) -> dict[str, Any]:
    workload = EventWorkload(spec) if spec.mode == "events" else Workload(spec)
    stats = Stats()
    streams = [await _open(spec) for _ in range(spec.connections)]
    now = time.perf_counter()
    stats.start = now + spec.warmup
    stats.end = stats.start + spec.duration
    tasks = [
        asyncio.create_task(connection(spec, workload, stats, s, n)) for n, s in enumerate(streams)
    ]

    async def announce() -> None:
        await asyncio.sleep(max(0.0, stats.start - time.perf_counter()))
        stats.cpu_at_start = _cpu_seconds()
        print("measure-start", flush=True)
        await asyncio.sleep(max(0.0, stats.end - time.perf_counter()))
        stats.cpu_at_end = _cpu_seconds()
        print("measure-end", flush=True)
        await parent_answer()

    announcer = asyncio.create_task(announce())
    timeout = spec.warmup + spec.duration + GRACE_SECONDS
    done, pending = await asyncio.wait([*tasks, announcer], timeout=timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        if task.exception() is not None:
            stats.errors[type(task.exception()).__name__] += 1
        elif task is not announcer:
            writer = task.result()
            assert isinstance(writer, asyncio.StreamWriter)
            writer.close()
    return stats.result(spec, workload, unfinished=len(pending))


def main(argv: list[str]) -> None:
    spec_path, result_path = Path(argv[0]), Path(argv[1])
    spec = Spec.load(spec_path)
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    result_path.write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
