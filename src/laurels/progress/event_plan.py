"""The event plan: which statements apply a batch of event requests (spec/events.md)
in one transaction, written like the update plan (`plan.py`): a pure generator that
yields each statement and receives the rows it returned.

For the players of the batch, in key order: claim them (insert the new ones, which
are counted, and lock them all, so a player's events are applied one request at a
time, whichever process takes them), record the event ids (the unique key decides
which are new: a duplicate is skipped, not counted twice), read their stats and
unlocked achievements (one statement), apply the rules
(`rules.apply`), write the stats that changed, and unlock through the update's own
max-register, feed and outbox (`plan.py`): one `timeUnlocked`, one feed item, one
UNLOCKED row per unlock, and a PROGRESS_CHANGED row per request that moved any
achievement's requirements; last, the counters rarity reads (`counter_steps`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from laurels import outbox
from laurels.progress.plan import (
    Applied,
    NewPlayer,
    Step,
    StoredProgress,
    Unlock,
    counter_steps,
    outbox_player,
    player_steps,
    unlock_steps,
    unlocked_rows,
)
from laurels.progress.rules import Event, Outcome, apply
from laurels.progress.statements import (
    APPLIED_INSERT,
    OUTBOX_INSERT,
    PLAYER_CLAIM,
    PLAYER_READ,
    PROGRESS_UPSERT,
    STAT,
    STATS_WRITE,
)
from laurels.titles import PublishedTitle


@dataclass(frozen=True, slots=True)
class EventRequest:
    """One POST .../events, validated against `title` (the version it was judged
    by): applied as a whole."""

    sandbox: str
    xuid: str
    scid: str
    title: PublishedTitle
    events: tuple[Event, ...]

    @property
    def title_id(self) -> int:
        return self.title.title_id

    @property
    def version(self) -> int:
        return self.title.version

    @property
    def player(self) -> NewPlayer:
        return NewPlayer(self.sandbox, self.xuid, self.scid)


class AppliedEvent(NamedTuple):
    sandbox: str
    xuid: str
    scid: str
    event_id: str


def _players(players: list[NewPlayer]) -> list[dict[str, Any]]:
    return [player._asdict() for player in players]


def _fresh(requests: Sequence[EventRequest]) -> list[list[Event]]:
    """Per request, its events whose id no earlier event of the batch carries."""
    seen: set[AppliedEvent] = set()
    fresh: list[list[Event]] = []
    for request in requests:
        mine = []
        for event in request.events:
            key = AppliedEvent(*request.player, event.event_id)
            if key not in seen:
                seen.add(key)
                mine.append(event)
        fresh.append(mine)
    return fresh


def event_plan(requests: Sequence[EventRequest], *, now_us: int) -> Generator[Step, Any, Applied]:
    """The statements that apply `requests` in one transaction."""
    players = sorted({request.player for request in requests})
    # Claiming the players locks them (PostgreSQL) until commit.
    new_players = yield from player_steps(players, now_us, statement=PLAYER_CLAIM)
    fresh = _fresh(requests)
    rows = yield Step(
        statement=APPLIED_INSERT,
        params=[
            {**request.player._asdict(), "event_id": event.event_id, "now": now_us}
            for request, events in zip(requests, fresh, strict=True)
            for event in events
        ],
        returns=True,
    )
    applied = set(map(AppliedEvent._make, rows))
    accepted = [
        [e for e in events if AppliedEvent(*request.player, e.event_id) in applied]
        for request, events in zip(requests, fresh, strict=True)
    ]
    active = sorted({r.player for r, events in zip(requests, accepted, strict=True) if events})
    if not active:
        yield from counter_steps(new_players, [])
        return Applied([False] * len(requests), 0, [0] * len(requests))
    values: dict[NewPlayer, dict[str, int]] = {player: {} for player in active}
    unlocked: dict[NewPlayer, dict[str, int]] = {player: {} for player in active}
    for kind, sandbox, xuid, scid, key, value in (
        yield Step(statement=PLAYER_READ, params=_players(active), returns=True)
    ):
        found = values if kind == STAT else unlocked
        found[NewPlayer(sandbox, xuid, scid)][key] = value
    outcomes: list[Outcome | None] = []
    states: list[dict[str, int]] = []
    for request, events in zip(requests, accepted, strict=True):
        outcomes.append(_apply(request, events, values, unlocked))
        states.append(dict(unlocked.get(request.player, {})))
    return (yield from _write(requests, outcomes, states, accepted, new_players, now_us))


def _apply(
    request: EventRequest,
    events: list[Event],
    values: dict[NewPlayer, dict[str, int]],
    unlocked: dict[NewPlayer, dict[str, int]],
) -> Outcome | None:
    """Apply one request's accepted events to its player's running state (a later
    request of the same player in the batch starts where this one ended)."""
    if not events:
        return None
    title, player = request.title, request.player
    done = unlocked[player]
    outcome = apply(
        title,
        values[player],
        {p for p, a in enumerate(title.achievements) if a.id in done},
        events,
    )
    values[player] = outcome.values
    for position, time_us in outcome.unlocks:
        done[title.achievements[position].id] = time_us
    return outcome


def _write(
    requests: Sequence[EventRequest],
    outcomes: list[Outcome | None],
    states: list[dict[str, int]],
    accepted: list[list[Event]],
    new_players: Counter[tuple[str, str]],
    now_us: int,
) -> Generator[Step, Any, Applied]:
    stats: dict[tuple[NewPlayer, str], int] = {}
    unlocking: dict[tuple[NewPlayer, str], tuple[EventRequest, int]] = {}
    for request, outcome in zip(requests, outcomes, strict=True):
        if outcome is None:
            continue
        for name, value in outcome.changed.items():
            stats[(request.player, name)] = value
        for position, time_us in outcome.unlocks:
            achievement_id = request.title.achievements[position].id
            unlocking[(request.player, achievement_id)] = (request, time_us)
    if stats:
        yield Step(
            statement=STATS_WRITE,
            params=[
                {**player._asdict(), "stat": name, "value": value, "now": now_us}
                for (player, name), value in sorted(stats.items())
            ],
        )
    unlocks = yield from _unlock(unlocking, now_us)
    yield from unlock_steps(unlocks, now_us)
    rows = _progress_rows(requests, outcomes, states, now_us) + unlocked_rows(unlocks, now_us)
    if rows:
        yield Step(statement=OUTBOX_INSERT, params=rows)
    yield from counter_steps(new_players, unlocks)
    return Applied(
        [bool(events) for events in accepted], len(unlocks), [len(events) for events in accepted]
    )


def _unlock(
    unlocking: dict[tuple[NewPlayer, str], tuple[EventRequest, int]], now_us: int
) -> Generator[Step, Any, list[Unlock]]:
    """Move each unlocked achievement to 100 through the max-register: only the
    statement that changes the row unlocks (never twice, never re-locked)."""
    if not unlocking:
        return []
    params = [
        {
            **player._asdict(),
            "achievement_id": achievement_id,
            "percent": 100,
            "time_unlocked": time_us,
            "now": now_us,
        }
        for (player, achievement_id), (_, time_us) in sorted(unlocking.items())
    ]
    rows = yield Step(statement=PROGRESS_UPSERT, params=params, returns=True)
    stored = [StoredProgress._make(row) for row in rows]
    return [
        Unlock(
            unlocking[(NewPlayer(r.sandbox, r.xuid, r.scid), r.achievement_id)][0],
            r.achievement_id,
            r.time_unlocked if r.time_unlocked is not None else now_us,
        )
        for r in stored
        if r.percent >= 100
    ]


def _progress_rows(
    requests: Sequence[EventRequest],
    outcomes: list[Outcome | None],
    states: list[dict[str, int]],
    now_us: int,
) -> list[dict[str, Any]]:
    """One PROGRESS_CHANGED row per request that moved an achievement's requirements:
    those achievements, the values after the request of the stats they require, and
    when those unlocked by then were unlocked (`states`: achievement id → time)."""
    rows = []
    for request, outcome, state in zip(requests, outcomes, states, strict=True):
        if outcome is None or not outcome.moved:
            continue
        title, values = request.title, outcome.values
        moved = [title.achievements[position].id for position in outcome.moved]
        required = sorted({stat for p in outcome.moved for stat, _, _ in title.checks[p]})
        current = {stat: values[stat] for stat in required if stat in values}
        when = {achievement: state[achievement] for achievement in moved if achievement in state}
        player = outbox_player(request)
        rows.append(outbox.requirements_moved(player, moved, current, when, now_us=now_us))
    return rows
