"""A player's activity feed (one item per unlock, ever) and title history, read
from the `activity` and `title_players` rows the unlock transaction writes and shown
with the published definitions.

Both are walked in pages over a snapshot, in commit order. Activity rows are keyed
by (txid, id) as the outbox is (`activity.tables`): on PostgreSQL ids are
handed out at insert, so a row with a smaller id can commit after one with a larger
id, and an id ceiling would let it into a walk that began before it committed. The
first page fixes a `Ceiling`: the newest key the player has in that page's snapshot,
and the transactions that were still running below it (a PostgreSQL snapshot's
in-progress list, at most `MAX_RUNNING` of them; with more, the ceiling falls back to
the newest key older than every running transaction). The rows of a walk are those at
or below the key and not written by those transactions: exactly what the first page
saw. Its continuation token carries the ceiling and the sort key of the last item
served (keyset paging); every later page reads only that walk's rows after that key,
so an unlock that commits during a walk, in any order, neither appears in it nor moves
anything: a walk never repeats or skips an item, and `totalRecords` holds still.
Tokens are signed with HMAC-SHA256 under a key of their own (a token of the
achievement list is no token here); any change is a 400.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.errors import BadRequest
from laurels.sqlasync import AsyncConnection
from laurels.titles import (
    SECRET_NAME,
    AchievementConfig,
    Catalog,
    PublishedTitle,
    localized_strings,
)
from laurels.wire.context import RenderContext
from laurels.wire.principal import Principal
from laurels.wire.rarity import rarity
from laurels.wire.times import format_time, from_micros
from laurels.wire.tokens import query_digest, seal, unseal

DEFAULT_PAGE = 25
DEFAULT_PLATFORM = "PC"
MAC_BYTES = 16
# Transactions running when a walk began that its token may name (see Ceiling).
MAX_RUNNING = 64
Key = tuple[int | str, ...]
RowKey = tuple[int, int]  # (txid, id) of an activity row
Definition = tuple[PublishedTitle, AchievementConfig]


# --- continuation tokens ------------------------------------------------------------


@dataclass(frozen=True)
class Ceiling:
    """The activity rows a walk sees: keys (txid, id) up to `key`, less those of the
    transactions in `running` (running when the walk began, so not seen then)."""

    key: RowKey
    running: tuple[int, ...] = ()


NOTHING = Ceiling((0, 0))


@dataclass(frozen=True)
class Walk:
    """Where a walk is: which query it belongs to, the rows it sees, and the sort
    key of the last item served."""

    scope: str
    ceiling: Ceiling
    after: Key


def token_key(paging_key: bytes) -> bytes:
    # v2: walks are in (txid, id) order; a token of the id-ordered walks is no token
    return hashlib.sha256(b"laurels-activity-v2:" + paging_key).digest()


def encode_walk(walk: Walk, key: bytes) -> str:
    ceiling = walk.ceiling
    body = [walk.scope, list(ceiling.key), list(ceiling.running), list(walk.after)]
    return seal(json.dumps(body, separators=(",", ":")).encode(), key)


def decode_walk(token: str, key: bytes) -> Walk:
    """The walk a token carries; BadRequest when it was altered or is not ours."""
    try:
        scope, top, running, after = json.loads(unseal(token, key))
        txid, row = top
        ceiling = Ceiling((int(txid), int(row)), tuple(int(x) for x in running))
        return Walk(str(scope), ceiling, tuple(after))
    except (TypeError, ValueError):  # signed by us, so only ever an older shape
        raise BadRequest("continuationToken is not valid") from None


def resume(token: str | None, key: bytes, scope: str) -> Walk | None:
    """The walk to continue (None: start one); BadRequest for another query's token."""
    if token is None:
        return None
    walk = decode_walk(token, key)
    if walk.scope != scope:
        raise BadRequest("continuationToken belongs to another query")
    return walk


def _row_key(after: Key) -> RowKey:
    """The feed key a token's `after` holds; BadRequest for another shape."""
    if len(after) != 2 or not all(isinstance(part, int) for part in after):
        raise BadRequest("continuationToken is not valid")
    return int(after[0]), int(after[1])


# --- who sees what ---------------------------------------------------------------------


def reading_scope(principal: Principal, *, xuid: str, title_id: int | None) -> int | None:
    """The one title a reader is held to, or None for every title of its sandbox.
    A player reads only its own feed, a game server any player's of its own title
    only; raises Forbidden otherwise (and always for a delivery credential)."""
    principal.require_read_access(
        xuid=xuid, title_id=principal.title_id if title_id is None else title_id
    )
    return principal.title_id if principal.kind == "server" else title_id


# --- queries --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActivityRow:
    txid: int
    id: int
    scid: str
    title_id: int
    achievement_id: str
    time_unlocked: int  # microseconds

    @property
    def key(self) -> RowKey:
        return self.txid, self.id


_key_column = tuple_(activity.c.txid, activity.c.id)
_PG_SNAPSHOT = literal_column("pg_current_snapshot()::text", String).label("snapshot")


def _key_literal(key: RowKey) -> Any:
    return tuple_(literal(key[0], BigInteger), literal(key[1], BigInteger))


def _player_rows(sandbox: str, xuid: str, ceiling: Ceiling) -> Select[Any]:
    query = select(
        activity.c.txid,
        activity.c.id,
        activity.c.scid,
        activity.c.title_id,
        activity.c.achievement_id,
        activity.c.time_unlocked,
    ).where(
        activity.c.sandbox == sandbox,
        activity.c.xuid == xuid,
        _key_column <= _key_literal(ceiling.key),
    )
    if ceiling.running:
        query = query.where(activity.c.txid.not_in(ceiling.running))
    return query


def _newest(sandbox: str, xuid: str) -> Select[Any]:
    return (
        select(activity.c.txid, activity.c.id)
        .where(activity.c.sandbox == sandbox, activity.c.xuid == xuid)
        .order_by(activity.c.txid.desc(), activity.c.id.desc())
        .limit(1)
    )


async def walk_ceiling(conn: AsyncConnection, *, sandbox: str, xuid: str) -> Ceiling:
    """The rows of the player's activity in the sandbox that a walk starting now
    sees: every committed one (NOTHING when there is none)."""
    if conn.dialect.name != "postgresql":  # one writer at a time: ids are commit order
        row = (await conn.execute(_newest(sandbox, xuid))).first()
        return NOTHING if row is None else Ceiling((int(row.txid), int(row.id)))
    newest = _newest(sandbox, xuid).subquery()
    # One statement, so the snapshot is the one the newest row was read in.
    query = select(_PG_SNAPSHOT, newest.c.txid, newest.c.id)
    row = (await conn.execute(query.select_from(newest))).first()
    if row is None:
        return NOTHING
    return await _settle(conn, (int(row.txid), int(row.id)), row.snapshot, sandbox, xuid)


async def _settle(
    conn: AsyncConnection, key: RowKey, snapshot: str, sandbox: str, xuid: str
) -> Ceiling:
    """The ceiling at `key` for a PostgreSQL snapshot ("xmin:xmax:xip,..."): the
    transactions running below the key are left out; when there are more than a
    token may carry, the ceiling drops to the newest key of a settled transaction."""
    xmin, _, listed = snapshot.split(":")
    running = tuple(sorted(x for x in map(int, filter(None, listed.split(","))) if x < key[0]))
    if len(running) <= MAX_RUNNING:
        return Ceiling(key, running)
    query = _newest(sandbox, xuid).where(activity.c.txid < literal(int(xmin), BigInteger))
    row = (await conn.execute(query)).first()
    return NOTHING if row is None else Ceiling((int(row.txid), int(row.id)))


async def read_feed(
    conn: AsyncConnection,
    *,
    sandbox: str,
    xuid: str,
    ceiling: Ceiling,
    before: RowKey | None,
    title_id: int | None,
    limit: int,
) -> tuple[list[ActivityRow], int]:
    """Up to `limit` unlocks of the walk under `ceiling` with keys below `before`,
    newest first, and how many the walk has in all."""
    query = _player_rows(sandbox, xuid, ceiling)
    if title_id is not None:
        query = query.where(activity.c.title_id == title_id)
    total = await conn.scalar(select(func.count()).select_from(query.subquery()))
    if before is not None:
        query = query.where(_key_column < _key_literal(before))
    newest_first = query.order_by(activity.c.txid.desc(), activity.c.id.desc())
    rows = await conn.execute(newest_first.limit(limit))
    return [ActivityRow(*row) for row in rows], int(total or 0)


async def read_unlocks(
    conn: AsyncConnection, *, sandbox: str, xuid: str, ceiling: Ceiling, scid: str | None
) -> dict[str, dict[str, int]]:
    """scid → {achievement id → time unlocked} of the walk's unlocks under `ceiling`."""
    query = _player_rows(sandbox, xuid, ceiling)
    if scid is not None:
        query = query.where(activity.c.scid == scid)
    found: dict[str, dict[str, int]] = {}
    for row in await conn.execute(query):
        found.setdefault(row.scid, {})[row.achievement_id] = row.time_unlocked
    return found


# --- shapes ------------------------------------------------------------------------------


def feed_item(
    row: ActivityRow,
    definition: Definition | None,
    stats: tuple[int, int],
    ctx: RenderContext,
    *,
    owner: bool,
) -> dict[str, Any]:
    """One activity item. Only the owner sees a secret achievement's name, unlocked
    description and icon. An achievement no published version defines any more
    still has its item, named by its id."""
    name, locked, unlocked, icon, gamerscore = row.achievement_id, "", "", None, 0
    if definition is not None:
        achievement = definition[1]
        name, locked, unlocked = localized_strings(achievement, ctx.locale)
        icon, gamerscore = ctx.media_url(achievement.icon), achievement.gamerscore
        if achievement.secret and not owner:
            name, unlocked, icon = SECRET_NAME, locked, None
    return {
        "id": str(row.id),
        "activityItemType": "Achievement",
        "date": format_time(from_micros(row.time_unlocked)),
        "titleId": row.title_id,
        "serviceConfigId": row.scid,
        "achievementId": row.achievement_id,
        "achievementName": name,
        "achievementDescription": unlocked,
        "achievementIcon": icon,
        "gamerscore": gamerscore,
        "rarityPercentage": rarity(*stats)[1],
    }


def platform_of(title: PublishedTitle) -> str:
    """The first platform the configuration names, else PC."""
    return next((p for a in title.achievements for p in a.platforms), DEFAULT_PLATFORM)


def history_entry(title: PublishedTitle, unlocks: Mapping[str, int]) -> dict[str, Any]:
    """One title of the history; only achievements the published version defines
    count towards the totals."""
    earned = [a for a in title.achievements if a.id in unlocks]
    last = max(unlocks.values(), default=None)
    return {
        "lastUnlock": None if last is None else format_time(from_micros(last)),
        "titleId": title.title_id,
        "serviceConfigId": title.scid,
        "titleType": "Game",
        "platform": platform_of(title),
        "name": title.name,
        "earnedAchievements": len(earned),
        "currentGamerscore": sum(a.gamerscore for a in earned),
        "maxGamerscore": sum(a.gamerscore for a in title.achievements),
    }


def history_key(scid: str, first_seen: int, unlocks: Mapping[str, int]) -> Key:
    """Most recently unlocked first; titles without an unlock last, newest first."""
    if unlocks:
        return (0, -max(unlocks.values()), scid)
    return (1, -first_seen, scid)


def page_info(token: str | None, total: int) -> dict[str, Any]:
    return {"continuationToken": token, "totalRecords": total}


# --- the reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageQuery:
    max_items: int = DEFAULT_PAGE
    title_id: int | None = None
    continuation_token: str | None = None


ContextFor = Callable[[Sequence[PublishedTitle]], RenderContext]


class RarityCounts(Protocol):
    def of(self, scid: str, achievement_id: str) -> tuple[int, int]:
        """(unlocks of the achievement, players of the title) in one sandbox."""
        ...


class ProgressReads(Protocol):
    """What the feed and the history read of players' progress, inside their own
    read transaction. `laurels.progress.service` is one: the assembly hands it in,
    so that activity, whose table the update path writes, never imports progress."""

    async def read_stats(
        self, conn: AsyncConnection, *, sandbox: str, scids: Sequence[str]
    ) -> RarityCounts: ...

    async def read_titles_played(
        self, conn: AsyncConnection, *, sandbox: str, xuid: str, scid: str | None
    ) -> dict[str, int]: ...


class ActivityReader:
    """The feed and the history of spec/wire.md's players, for one principal."""

    def __init__(
        self, db: Database, catalog: Catalog, paging_key: bytes, *, progress: ProgressReads
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._key = token_key(paging_key)
        self._progress = progress

    async def feed(
        self, principal: Principal, xuid: str, query: PageQuery, context_for: ContextFor
    ) -> dict[str, Any]:
        """A page of the player's unlocks, newest first. Raises Forbidden when the
        principal may not read them, BadRequest for a token of another walk."""
        title_id = reading_scope(principal, xuid=xuid, title_id=query.title_id)
        scope = query_digest("activity", xuid, principal.sandbox, title_id)
        walk = resume(query.continuation_token, self._key, scope)
        async with self._db.read() as conn:
            ceiling = (
                walk.ceiling
                if walk
                else await walk_ceiling(conn, sandbox=principal.sandbox, xuid=xuid)
            )
            rows, total = await read_feed(
                conn,
                sandbox=principal.sandbox,
                xuid=xuid,
                ceiling=ceiling,
                before=_row_key(walk.after) if walk else None,
                title_id=title_id,
                limit=query.max_items + 1,
            )
            page = rows[: query.max_items]
            scids = sorted({row.scid for row in page})
            stats = await self._progress.read_stats(conn, sandbox=principal.sandbox, scids=scids)
        token = None
        if len(rows) > query.max_items:
            token = encode_walk(Walk(scope, ceiling, page[-1].key), self._key)
        items = await self._render(principal, xuid, page, stats, context_for)
        return {"activityItems": items, "pagingInfo": page_info(token, total)}

    async def _render(
        self,
        principal: Principal,
        xuid: str,
        rows: Sequence[ActivityRow],
        stats: RarityCounts,
        context_for: ContextFor,
    ) -> list[dict[str, Any]]:
        definitions = {
            (row.scid, row.achievement_id): await self._definition(principal.sandbox, row)
            for row in rows
        }
        titles = {id(d[0]): d[0] for d in definitions.values() if d is not None}
        ctx = context_for(list(titles.values()))
        owner = principal.kind == "player" and principal.xuid == xuid
        return [
            feed_item(
                row,
                definitions[(row.scid, row.achievement_id)],
                stats.of(row.scid, row.achievement_id),
                ctx,
                owner=owner,
            )
            for row in rows
        ]

    async def _definition(self, sandbox: str, row: ActivityRow) -> Definition | None:
        """The newest published definition of an unlocked achievement, looking in
        older versions when the latest no longer has it."""
        latest = await self._catalog.by_scid(sandbox, row.scid)
        if latest is None:
            return None
        for version in range(latest.version, 0, -1):
            title = (
                latest
                if version == latest.version
                else await self._catalog.version(sandbox, latest.title_id, version)
            )
            found = None if title is None else title.achievement(row.achievement_id)
            if title is not None and found is not None:
                return title, found
        return None

    async def history(self, principal: Principal, xuid: str, query: PageQuery) -> dict[str, Any]:
        """A page of the titles the player touched in the principal's sandbox, most
        recently unlocked first. Raises Forbidden when the principal may not read
        them, BadRequest for a token of another walk."""
        title_id = reading_scope(principal, xuid=xuid, title_id=None)
        scope = query_digest("history", xuid, principal.sandbox, title_id)
        walk = resume(query.continuation_token, self._key, scope)
        only = await self._scid_of(principal.sandbox, title_id)
        if only == "":
            return {"titles": [], "pagingInfo": page_info(None, 0)}
        ceiling, unlocks, touched = await self._history_rows(principal.sandbox, xuid, walk, only)
        ordered = await self._ordered_titles(principal.sandbox, unlocks, touched)
        remaining = [e for e in ordered if walk is None or e[0] > walk.after]
        page = remaining[: query.max_items]
        token = None
        if len(remaining) > query.max_items:
            token = encode_walk(Walk(scope, ceiling, page[-1][0]), self._key)
        return {
            "titles": [history_entry(title, unlocks.get(title.scid, {})) for _, title in page],
            "pagingInfo": page_info(token, len(ordered)),
        }

    async def _scid_of(self, sandbox: str, title_id: int | None) -> str | None:
        """The SCID a reader is held to: None for any, "" for a title not published."""
        if title_id is None:
            return None
        title = await self._catalog.by_title(sandbox, title_id)
        return "" if title is None else title.scid

    async def _history_rows(
        self, sandbox: str, xuid: str, walk: Walk | None, scid: str | None
    ) -> tuple[Ceiling, dict[str, dict[str, int]], dict[str, int]]:
        async with self._db.read() as conn:
            ceiling = walk.ceiling if walk else await walk_ceiling(conn, sandbox=sandbox, xuid=xuid)
            unlocks = await read_unlocks(
                conn, sandbox=sandbox, xuid=xuid, ceiling=ceiling, scid=scid
            )
            touched = await self._progress.read_titles_played(
                conn, sandbox=sandbox, xuid=xuid, scid=scid
            )
        return ceiling, unlocks, touched

    async def _ordered_titles(
        self, sandbox: str, unlocks: dict[str, dict[str, int]], touched: dict[str, int]
    ) -> list[tuple[Key, PublishedTitle]]:
        """The published titles among those touched, in the history's order."""
        entries = []
        for scid in touched.keys() | unlocks.keys():
            title = await self._catalog.by_scid(sandbox, scid)
            if title is not None:
                key = history_key(scid, touched.get(scid, 0), unlocks.get(scid, {}))
                entries.append((key, title))
        return sorted(entries, key=lambda entry: entry[0])
