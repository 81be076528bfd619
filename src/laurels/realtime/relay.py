"""The outbox relay: after commit, outbox entries leave for the devices connected
to this process, as RTA events.

Each process follows the outbox in commit order from where it started (see
`laurels.outbox`), so every process sees every entry, whichever process wrote it.
It reads when woken: by this process's writer after each commit, by PostgreSQL's
NOTIFY (sent by a trigger when another process's transaction commits), and by a
cheap poll (SQLite shared by several processes, or a lost LISTEN connection).
Nothing is lost by a crash between commit and send: the entries stay in the outbox,
and a device that reconnects with `since` gets them then (`replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from laurels import outbox
from laurels.db import Database
from laurels.outbox import PROGRESS_CHANGED, UNLOCKED, Key, OutboxEntry
from laurels.progress.service import Stats, read_stats
from laurels.realtime.hub import Connection, Hub, Subscription
from laurels.realtime.protocol import NotificationResource, event_frame
from laurels.realtime.render import notification_data, progress_data
from laurels.titles import Catalog, PublishedTitle
from laurels.wire.times import now_micros

log = logging.getLogger(__name__)
READ_LIMIT = 500
PRUNE_EVERY_SECONDS = 60.0
PRUNE_LIMIT = 10_000
STALL_WARNING_SECONDS = 5.0


class Renderer:
    """Renders a group of entries, each once per language and service address."""

    def __init__(self, titles: dict[tuple[str, str], PublishedTitle], stats: dict[str, Stats]):
        self._titles = titles
        self._stats = stats
        self._done: dict[tuple[Key, tuple[str, str] | None], str | None] = {}

    @classmethod
    async def load(cls, db: Database, catalog: Catalog, events: list[OutboxEntry]) -> Renderer:
        titles = {}
        for sandbox, scid in {(e.sandbox, e.scid) for e in events}:
            title = await catalog.by_scid(sandbox, scid)
            if title is not None:
                titles[(sandbox, scid)] = title
        wanted: dict[str, set[str]] = {}
        for e in events:
            if e.is_unlock:
                wanted.setdefault(e.sandbox, set()).add(e.scid)
        stats = {}
        if wanted:
            async with db.read() as conn:
                for sandbox, scids in wanted.items():
                    stats[sandbox] = await read_stats(conn, sandbox=sandbox, scids=sorted(scids))
        return cls(titles, stats)

    def data(self, event: OutboxEntry, conn: Connection) -> str | None:
        key = (event.key, conn.render_key if event.is_unlock else None)
        if key not in self._done:
            self._done[key] = self._render(event, conn)
        return self._done[key]

    def _render(self, event: OutboxEntry, conn: Connection) -> str | None:
        title = self._titles.get((event.sandbox, event.scid))
        if title is None:
            return None
        if not event.is_unlock:
            return progress_data(event, title)
        stats = self._stats[event.sandbox].of(event.scid, event.achievement_id)
        return notification_data(event, title, stats, conn.context, conn.base)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        hub: Hub,
        *,
        poll_seconds: float,
        progress_retention_seconds: float,
        unlock_retention_seconds: float,
        on_relayed: Callable[[list[OutboxEntry]], None] | None = None,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._hub = hub
        self._poll_seconds = poll_seconds
        self._retention = {
            PROGRESS_CHANGED: progress_retention_seconds,
            UNLOCKED: unlock_retention_seconds,
        }
        self._on_relayed = on_relayed
        self._tail = outbox.outbox_tail(db)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._notified_txid = 0
        self._stalled_since: float | None = None
        self._last_prune = time.monotonic()
        self.cursor: Key = outbox.START

    async def start(self) -> None:
        """Start following the outbox from its newest entry."""
        async with self._db.read() as conn:
            self.cursor = await outbox.head(conn)
        self._tasks.append(asyncio.create_task(self._run(), name="laurels-relay"))
        if not self._db.is_sqlite:
            self._tasks.append(asyncio.create_task(self._listen(), name="laurels-relay-listen"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._tail.close()

    def wake(self, *_: Any) -> None:
        """Read the outbox soon (after a commit, or a notification)."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._wake.is_set():  # under load it is: no timer to arm
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            try:
                await self._drain()
                await self._prune_now_and_then()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be back next time
                log.exception("the event relay could not read the outbox")

    async def _drain(self) -> None:
        while True:
            events, xmin = await self._tail.read_after(self.cursor, limit=READ_LIMIT)
            if events:
                await self.publish(events)
                self.cursor = events[-1].key
            if len(events) < READ_LIMIT:
                break
        self._hold_back(xmin)

    def _hold_back(self, xmin: int) -> None:
        """A committed transaction waits behind an older one still running: look
        again shortly (its entries cannot be read in order before then)."""
        if self._db.is_sqlite or self._notified_txid < xmin:
            self._stalled_since = None
            return
        now = time.monotonic()
        self._stalled_since = self._stalled_since or now
        if now - self._stalled_since > STALL_WARNING_SECONDS:
            log.warning(
                "a transaction open for over %.0f s holds back events", now - self._stalled_since
            )
            self._stalled_since = now
        asyncio.get_running_loop().call_later(0.005, self.wake)

    async def publish(self, events: list[OutboxEntry]) -> None:
        """Queue each entry, as an event frame, on the matching subscriptions of its
        player's devices."""
        targets = [(e, self._hub.devices(e.sandbox, e.xuid)) for e in events]
        targets = [(e, devices) for e, devices in targets if devices]
        if targets:
            renderer = await Renderer.load(self._db, self._catalog, [e for e, _ in targets])
            for event, devices in targets:
                for conn in list(devices):
                    for sub in conn.matching(event):
                        data = renderer.data(event, conn)
                        if data is not None:
                            conn.deliver(sub, event.key, event_frame(sub.sub_id, data))
        if self._on_relayed is not None:
            self._on_relayed(events)

    async def replay(
        self, conn: Connection, sub: Subscription, since: Key
    ) -> list[tuple[Key, str]]:
        """The event frames of the entries `sub` missed after `since` and up to what this
        process has relayed (later ones arrive live), oldest first."""
        events = await self._missed(conn, sub, since)
        renderer = await Renderer.load(self._db, self._catalog, events)
        frames = []
        for event in events:
            data = renderer.data(event, conn)
            if data is not None:
                frames.append((event.key, event_frame(sub.sub_id, data)))
        return frames

    async def _missed(self, conn: Connection, sub: Subscription, since: Key) -> list[OutboxEntry]:
        resource = sub.resource
        if isinstance(resource, NotificationResource):
            kind, scid, title_id = UNLOCKED, None, resource.title_id
        else:
            kind, scid, title_id = PROGRESS_CHANGED, resource.scid, None
        found: list[OutboxEntry] = []
        upto, after = self.cursor, since
        oldest = now_micros() - int(self._retention[kind] * 1_000_000)
        while True:
            async with self._db.read() as db_conn:
                page = await outbox.read_player(
                    db_conn,
                    sandbox=conn.sandbox,
                    xuid=conn.xuid,
                    kind=kind,
                    scid=scid,
                    title_id=title_id,
                    after=after,
                    upto=upto,
                    since_us=oldest,
                    limit=READ_LIMIT,
                )
            found += page
            if len(page) < READ_LIMIT:
                return found
            after = page[-1].key

    async def _prune_now_and_then(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        now = now_micros()
        async with self._db.write() as conn:
            await outbox.prune(
                conn,
                progress_before_us=now - int(self._retention[PROGRESS_CHANGED] * 1_000_000),
                unlocks_before_us=now - int(self._retention[UNLOCKED] * 1_000_000),
                limit=PRUNE_LIMIT,
            )

    async def _listen(self) -> None:
        """PostgreSQL: wake on every NOTIFY of the outbox, whoever committed."""
        await outbox.listen(self._db.async_url, self._notified)

    def _notified(self, txid: int | None) -> None:
        if txid is not None:
            self._notified_txid = max(self._notified_txid, txid)
        self.wake()
