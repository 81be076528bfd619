"""The achievement list and single achievement of spec/wire.md."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from laurels.db import Database
from laurels.errors import BadRequest, NotFound
from laurels.progress import paging
from laurels.progress.service import Stats, read_player_stats, read_progress, read_stats
from laurels.progress.views import Progress, render
from laurels.titles import Catalog, PublishedTitle
from laurels.wire.context import RenderContext
from laurels.wire.paging import MAX_PAGE
from laurels.wire.principal import Principal

ORDERS = {
    "unordered": "Unordered",
    "title": "Title",
    "unlocktime": "UnlockTime",
    "endingsoon": "EndingSoon",
}


@dataclass(frozen=True)
class ListQuery:
    title_ids: tuple[int, ...]
    types: frozenset[str] | None = None
    unlocked_only: bool = False
    possible_only: bool = False
    order_by: str = "Unordered"
    max_items: int = MAX_PAGE
    skip_items: int = 0
    continuation_token: str | None = None

    def digest(self) -> str:
        return paging.query_digest(
            self.title_ids,
            sorted(self.types or ()),
            self.unlocked_only,
            self.possible_only,
            self.order_by,
        )


Entry = tuple[PublishedTitle, int]


def order_entries(
    titles: Sequence[PublishedTitle],
    snapshot: dict[int, frozenset[int]],
    rows: dict[tuple[str, str], Progress],
    query: ListQuery,
) -> list[Entry]:
    """The walk's full order, decided by the snapshot of unlocked positions."""
    entries = [
        (title, position)
        for title in titles
        for position, a in enumerate(title.achievements)
        if (query.types is None or a.type in query.types)
        and (not query.unlocked_only or position in snapshot[title.title_id])
    ]
    rank = {id(t): n for n, t in enumerate(titles)}

    def base(entry: Entry) -> tuple[int, int]:
        return rank[id(entry[0])], entry[1]

    if query.order_by == "UnlockTime":

        def unlocked_first(entry: Entry) -> tuple[int, int, int, int]:
            title, position = entry
            if position not in snapshot[title.title_id]:
                return (1, 0, *base(entry))
            row = rows.get((title.scid, title.achievements[position].id))
            return (0, -(row.time_unlocked or 0) if row else 0, *base(entry))

        return sorted(entries, key=unlocked_first)
    if query.order_by == "EndingSoon":

        def ending(entry: Entry) -> tuple[int, str, int, int]:
            window = entry[0].achievements[entry[1]].timeWindow
            return (0, window.endDate, *base(entry)) if window else (1, "", *base(entry))

        return sorted(entries, key=ending)
    return entries


class Reader:
    def __init__(self, db: Database, catalog: Catalog, paging_key: bytes) -> None:
        self._db = db
        self._catalog = catalog
        self._key = paging_key

    async def _titles(
        self, sandbox: str, cursor: paging.Cursor | None, title_ids: tuple[int, ...]
    ) -> list[PublishedTitle]:
        if cursor is not None:
            pinned = [
                await self._catalog.version(sandbox, t.title_id, t.version) for t in cursor.titles
            ]
            return [t for t in pinned if t is not None]
        found = [await self._catalog.by_title(sandbox, title_id) for title_id in title_ids]
        return [t for t in found if t is not None]

    def _cursor(self, principal: Principal, xuid: str, query: ListQuery) -> paging.Cursor | None:
        if query.continuation_token is None:
            return None
        cursor = paging.decode(query.continuation_token, self._key)
        if (cursor.xuid, cursor.sandbox, cursor.query) != (xuid, principal.sandbox, query.digest()):
            raise BadRequest("continuationToken belongs to another query")
        return cursor

    async def list(
        self, principal: Principal, xuid: str, query: ListQuery, ctx: RenderContext
    ) -> dict[str, Any]:
        for title_id in query.title_ids:
            principal.require_read_access(xuid=xuid, title_id=title_id)
        cursor = self._cursor(principal, xuid, query)
        titles = await self._titles(principal.sandbox, cursor, query.title_ids)
        rows, stats, values = await self._read(principal.sandbox, xuid, titles, query.possible_only)
        if cursor is not None:
            snapshot = {t.title_id: t.unlocked for t in cursor.titles}
            offset = cursor.offset
        else:
            snapshot = {t.title_id: _unlocked(t, rows) for t in titles}
            offset = query.skip_items
        entries = order_entries(titles, snapshot, rows, query)
        page = entries[offset : offset + query.max_items]
        items = [
            render(
                t,
                p,
                rows.get((t.scid, t.achievements[p].id)),
                stats.of(t.scid, t.achievements[p].id),
                ctx,
                owner=principal.xuid == xuid,
                values=values.get(t.scid),
            )
            for t, p in page
        ]
        token = None
        if offset + query.max_items < len(entries):
            token = paging.encode(
                paging.Cursor(
                    xuid,
                    principal.sandbox,
                    query.digest(),
                    offset + query.max_items,
                    tuple(
                        paging.TitleSnapshot(t.title_id, t.version, snapshot[t.title_id])
                        for t in titles
                    ),
                ),
                self._key,
            )
        return {
            "achievements": items,
            "pagingInfo": {"continuationToken": token, "totalRecords": len(entries)},
        }

    async def _read(
        self, sandbox: str, xuid: str, titles: Sequence[PublishedTitle], possible_only: bool
    ) -> tuple[dict[tuple[str, str], Progress], Stats, dict[str, dict[str, int]]]:
        """The player's progress, the titles' rarity counters, and the player's stats
        of the event-based titles (no player data when `possible_only`)."""
        scids = [t.scid for t in titles]
        event_scids = [t.scid for t in titles if t.event_based]
        player = not possible_only and bool(scids)
        async with self._db.read() as conn:
            rows = (
                await read_progress(conn, sandbox=sandbox, xuid=xuid, scids=scids) if player else {}
            )
            values = (
                await read_player_stats(conn, sandbox=sandbox, xuid=xuid, scids=event_scids)
                if player and event_scids
                else {}
            )
            stats = await read_stats(conn, sandbox=sandbox, scids=scids)
        return rows, stats, values

    async def one(
        self, principal: Principal, xuid: str, scid: str, achievement_id: str, ctx: RenderContext
    ) -> dict[str, Any]:
        title = await self._catalog.by_scid(principal.sandbox, scid)
        if title is None:
            raise NotFound(f"no title with SCID {scid} in sandbox {principal.sandbox}")
        principal.require_read_access(xuid=xuid, title_id=title.title_id)
        position = title.index.get(achievement_id)
        if position is None:
            raise NotFound(f"no achievement {achievement_id!r} in title {title.title_id}")
        rows, stats, values = await self._read(principal.sandbox, xuid, [title], False)
        item = render(
            title,
            position,
            rows.get((scid, achievement_id)),
            stats.of(scid, achievement_id),
            ctx,
            owner=principal.xuid == xuid,
            values=values.get(scid),
        )
        return {
            "achievements": [item],
            "pagingInfo": {"continuationToken": None, "totalRecords": 1},
        }


def _unlocked(title: PublishedTitle, rows: dict[tuple[str, str], Progress]) -> frozenset[int]:
    return frozenset(
        position
        for position, a in enumerate(title.achievements)
        if (row := rows.get((title.scid, a.id))) is not None and row.unlocked
    )
