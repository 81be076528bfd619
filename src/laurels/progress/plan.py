"""The update plan: which statements apply a batch of updates in one transaction.

Pure: `update_plan` is a generator that yields each statement to run (a `Step`) and
receives the rows it returned, so it does no I/O; a driver per database runs it
(`drivers.py`). Every request that changed something gets one PROGRESS_CHANGED row in
the outbox, every unlock one UNLOCKED row, one feed item and one count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from laurels import activity, outbox
from laurels.progress.statements import (
    FEED_INSERT,
    OUTBOX_INSERT,
    PLAYER_COUNT,
    PLAYER_INSERT,
    PROGRESS_UPSERT,
    UNLOCK_COUNT,
)


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    achievement_id: str
    percent: int  # already clamped to 1..100
    unlock_time: int  # microseconds: recorded as timeUnlocked if this unlocks


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """One POST .../update: applied as a whole; changed if any item changed."""

    sandbox: str
    xuid: str
    scid: str
    title_id: int
    version: int
    items: tuple[ItemUpdate, ...]


class PlayerTitle(Protocol):
    """Whose request it is, and the configuration version it was judged by."""

    @property
    def sandbox(self) -> str: ...
    @property
    def xuid(self) -> str: ...
    @property
    def scid(self) -> str: ...
    @property
    def title_id(self) -> int: ...
    @property
    def version(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Unlock:
    request: PlayerTitle
    achievement_id: str
    time_unlocked: int


class ProgressKey(NamedTuple):
    sandbox: str
    xuid: str
    scid: str
    achievement_id: str


class StoredProgress(NamedTuple):
    """A row the max-register returned: it changed, and this is it now."""

    sandbox: str
    xuid: str
    scid: str
    achievement_id: str
    percent: int
    time_unlocked: int | None

    @property
    def key(self) -> ProgressKey:
        return ProgressKey(self.sandbox, self.xuid, self.scid, self.achievement_id)


class NewPlayer(NamedTuple):
    """A row the player insert returned: the player's first update of the title."""

    sandbox: str
    xuid: str
    scid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    """One statement of a plan, by name (see `statements.statements()`), with one
    parameter set per row. The driver sends back the rows it returned, if any."""

    statement: str
    params: list[dict[str, Any]]
    returns: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    """What a committed plan did: per request, whether anything changed (and for an
    event request, how many of its events were applied), and how many achievements
    it unlocked."""

    changed: list[bool]
    unlocks: int
    accepted: list[int] | None = None


Plan = Generator[Step, list[tuple[Any, ...]], Applied]
Op = tuple[UpdateRequest, ItemUpdate]


def _key(op: Op) -> ProgressKey:
    request, item = op
    return ProgressKey(request.sandbox, request.xuid, request.scid, item.achievement_id)


def rounds(ops: Sequence[Op]) -> list[list[Op]]:
    """Round n holds the n-th update of each key, so a round touches a key once
    and one key's updates keep their order of arrival."""
    found: list[list[Op]] = []
    seen: Counter[ProgressKey] = Counter()
    for op in ops:
        key = _key(op)
        if seen[key] == len(found):
            found.append([])
        found[seen[key]].append(op)
        seen[key] += 1
    return found


def progress_params(request: UpdateRequest, item: ItemUpdate, *, now_us: int) -> dict[str, Any]:
    """The max-register's parameters for one item: `timeUnlocked` only at 100."""
    return {
        "sandbox": request.sandbox,
        "xuid": request.xuid,
        "scid": request.scid,
        "achievement_id": item.achievement_id,
        "percent": item.percent,
        "time_unlocked": item.unlock_time if item.percent >= 100 else None,
        "now": now_us,
    }


def update_plan(requests: Sequence[UpdateRequest], *, now_us: int) -> Plan:
    """The statements that apply `requests` in one transaction, as a generator
    that yields each statement and receives the rows it returned.

    Rows are touched in key order, so concurrent transactions never deadlock."""
    index = {id(request): i for i, request in enumerate(requests)}
    changed = [False] * len(requests)
    touched: set[NewPlayer] = set()
    unlocks: list[Unlock] = []
    moved: dict[int, list[outbox.AchievementProgress]] = {}
    ops = sorted(((r, item) for r in requests for item in r.items), key=_key)
    for round_ops in rounds(ops):
        params = [progress_params(r, item, now_us=now_us) for r, item in round_ops]
        rows = yield Step(statement=PROGRESS_UPSERT, params=params, returns=True)
        stored = {row.key: row for row in map(StoredProgress._make, rows)}
        for request, item in round_ops:
            row = stored.get(_key((request, item)))
            if row is None:
                continue
            changed[index[id(request)]] = True
            moved.setdefault(index[id(request)], []).append(
                outbox.AchievementProgress(item.achievement_id, row.percent, row.time_unlocked)
            )
            touched.add(NewPlayer(request.sandbox, request.xuid, request.scid))
            if row.time_unlocked is not None and row.percent >= 100:
                unlocks.append(Unlock(request, item.achievement_id, row.time_unlocked))
    new_players = yield from player_steps(sorted(touched), now_us)
    yield from unlock_steps(unlocks, now_us)
    if moved:
        yield Step(statement=OUTBOX_INSERT, params=_outbox_rows(requests, moved, unlocks, now_us))
    yield from counter_steps(new_players, unlocks)
    return Applied(changed, len(unlocks))


def player_steps(
    players: list[NewPlayer], now_us: int, *, statement: str = PLAYER_INSERT
) -> Generator[Step, Any, Counter[tuple[str, str]]]:
    """Insert the players (`statement` returns the new ones); returns how many are
    new per title (sandbox, scid), for `counter_steps`."""
    if not players:
        return Counter()
    params = [{**player._asdict(), "now": now_us} for player in players]
    rows = yield Step(statement=statement, params=params, returns=True)
    return Counter((row.sandbox, row.scid) for row in map(NewPlayer._make, rows))


def unlock_steps(unlocks: list[Unlock], now_us: int) -> Generator[Step, Any, None]:
    """The unlocks' feed items."""
    if unlocks:
        yield Step(statement=FEED_INSERT, params=[feed_row(u, now_us=now_us) for u in unlocks])


def counter_steps(
    new_players: Counter[tuple[str, str]], unlocks: list[Unlock]
) -> Generator[Step, Any, None]:
    """The counters rarity reads (players per title, unlocks per achievement), as the
    last statements of a transaction. Every batch with a new player of a title adds
    to the same row, and a row stays locked from its update to the commit: updated
    last, it holds concurrent batches (PostgreSQL) back for the commit only, not for
    the rest of the transaction. Rows are taken in key order (players' counts before
    unlocks'), so two batches never deadlock on them."""
    if new_players:
        yield Step(
            statement=PLAYER_COUNT,
            params=[
                {"sandbox": sandbox, "scid": scid, "amount": count}
                for (sandbox, scid), count in sorted(new_players.items())
            ],
        )
    counts = Counter((u.request.sandbox, u.request.scid, u.achievement_id) for u in unlocks)
    if counts:
        yield Step(
            statement=UNLOCK_COUNT,
            params=[
                {"sandbox": sandbox, "scid": scid, "achievement_id": achievement_id, "amount": n}
                for (sandbox, scid, achievement_id), n in sorted(counts.items())
            ],
        )


def outbox_player(request: PlayerTitle) -> outbox.Player:
    return outbox.Player(
        request.sandbox, request.xuid, request.scid, request.title_id, request.version
    )


def feed_row(unlock: Unlock, *, now_us: int) -> dict[str, Any]:
    request = unlock.request
    return activity.feed_row(
        sandbox=request.sandbox,
        xuid=request.xuid,
        scid=request.scid,
        title_id=request.title_id,
        achievement_id=unlock.achievement_id,
        time_unlocked=unlock.time_unlocked,
        now_us=now_us,
    )


def _outbox_rows(
    requests: Sequence[UpdateRequest],
    moved: dict[int, list[outbox.AchievementProgress]],
    unlocks: list[Unlock],
    now_us: int,
) -> list[dict[str, Any]]:
    """One PROGRESS_CHANGED row per request that changed (in request order), then
    one UNLOCKED row per unlock."""
    changes = [
        outbox.progress_changed(outbox_player(requests[i]), items, now_us=now_us)
        for i, items in sorted(moved.items())
    ]
    return changes + unlocked_rows(unlocks, now_us)


def unlocked_rows(unlocks: list[Unlock], now_us: int) -> list[dict[str, Any]]:
    """The outbox's UNLOCKED row of each unlock."""
    return [
        outbox.unlocked(
            outbox_player(u.request),
            achievement_id=u.achievement_id,
            time_unlocked=u.time_unlocked,
            now_us=now_us,
        )
        for u in unlocks
    ]
