"""Connected devices and their subscriptions, in one service process.

Relaying never waits: each connection has a bounded list of frames waiting and a
task of its own that writes them. When a slow client lets the list fill up, the
frames waiting are dropped and replaced by a resync (`[4]`), so one slow client
never delays another and never grows without bound. A replay (what a device missed)
is different: it is the device's own request, so it waits for room instead, and a
replay longer than the buffer still arrives whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from laurels.outbox import Key, OutboxEntry
from laurels.realtime.protocol import (
    RESYNC_FRAME,
    ProgressResource,
    Resource,
)
from laurels.wire.context import RenderContext


@dataclass(slots=True, eq=False)
class Subscription:
    sub_id: int
    resource: Resource
    # Newest event sent on it: nothing at or below it is sent again.
    last_key: Key
    # While a subscription replays what a device missed, live events wait here.
    held: list[tuple[Key, str]] | None = None

    def matches(self, event: OutboxEntry) -> bool:
        resource = self.resource
        if isinstance(resource, ProgressResource):
            return not event.is_unlock and resource.scid == event.scid
        return event.is_unlock and resource.title_id == event.title_id


@dataclass(eq=False)
class Connection:
    """One device: who it is, how it reads, and what waits to be sent to it."""

    send: Callable[[str], Awaitable[None]]
    sandbox: str
    xuid: str
    # The title whose resources it may follow; None: every title (the player page).
    title_id: int | None
    context: RenderContext
    base: str
    buffer_limit: int
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    resyncs: int = 0
    _waiting: deque[str] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _sent: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False
    _next_id: int = 0

    @property
    def render_key(self) -> tuple[str, str]:
        return self.context.locale, self.base

    def subscription_for(self, resource: Resource) -> Subscription | None:
        return next((s for s in self.subscriptions.values() if s.resource == resource), None)

    def add(self, resource: Resource, last_key: Key, *, replaying: bool) -> Subscription:
        self._next_id += 1
        sub = Subscription(self._next_id, resource, last_key, [] if replaying else None)
        self.subscriptions[sub.sub_id] = sub
        return sub

    def matching(self, event: OutboxEntry) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.matches(event)]

    def deliver(self, sub: Subscription, key: Key, frame: str) -> None:
        """Queue an event frame unless this subscription has had it already."""
        if sub.held is not None:
            heapq.heappush(sub.held, (key, frame))
        elif key > sub.last_key:
            sub.last_key = key
            self.push(frame)

    async def release(self, sub: Subscription, replayed: list[tuple[Key, str]]) -> None:
        """End a replay: send the replayed frames and what arrives live meanwhile,
        in order, each once, waiting for room rather than overflowing. Raises
        ConnectionError when the socket is gone."""
        held = sub.held = [*replayed, *(sub.held or [])]
        heapq.heapify(held)
        while held:
            key, frame = heapq.heappop(held)
            if key > sub.last_key:
                await self._room()
                sub.last_key = key
                self.push(frame)
        sub.held = None

    async def _room(self) -> None:
        while len(self._waiting) >= self.buffer_limit:
            if self._closed:
                raise ConnectionError("the socket is closed")
            self._sent.clear()
            await self._sent.wait()

    def push(self, frame: str) -> None:
        if len(self._waiting) >= self.buffer_limit:
            self._waiting.clear()
            self._waiting.append(RESYNC_FRAME)
            self.resyncs += 1
        else:
            self._waiting.append(frame)
        self._ready.set()

    async def pump(self) -> None:
        """Write waiting frames until cancelled or the socket fails."""
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                while self._waiting:
                    await self.send(self._waiting.popleft())
                    self._sent.set()
        finally:
            self._closed = True
            self._sent.set()


class Hub:
    """Connections by player: an event goes to its own player's devices only."""

    def __init__(self) -> None:
        self._players: dict[tuple[str, str], set[Connection]] = {}
        self._closers: dict[Connection, Callable[[], Awaitable[None]]] = {}

    def __len__(self) -> int:
        return len(self._closers)

    def attach(self, conn: Connection, close: Callable[[], Awaitable[None]]) -> None:
        self._players.setdefault((conn.sandbox, conn.xuid), set()).add(conn)
        self._closers[conn] = close

    def admit(self, conn: Connection, close: Callable[[], Awaitable[None]], *, limit: int) -> bool:
        """Attach `conn` unless its player already has `limit` sockets here; False
        (and nothing attached) when the player is at the limit. Checks and attaches
        without awaiting, so concurrent handshakes cannot overshoot it."""
        if len(self.devices(conn.sandbox, conn.xuid)) >= limit:
            return False
        self.attach(conn, close)
        return True

    def detach(self, conn: Connection) -> None:
        self._closers.pop(conn, None)
        devices = self._players.get((conn.sandbox, conn.xuid))
        if devices is not None:
            devices.discard(conn)
            if not devices:
                del self._players[(conn.sandbox, conn.xuid)]

    def devices(self, sandbox: str, xuid: str) -> set[Connection]:
        return self._players.get((sandbox, xuid), set())

    async def close(self) -> None:
        """Close every socket (code 1001: clients reconnect elsewhere or later)."""
        closers = list(self._closers.values())
        for close in closers:
            with contextlib.suppress(Exception):
                await close()
