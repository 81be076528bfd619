"""The achievements manager's decisions, without I/O: how what the service says
merges into the cached achievement (progress is a maximum, an unlock is final),
which events a merge raises, the reference manager's update rules, and sorting.

Because a merge only ever moves an achievement forward, applying the same news
twice (a replay after a reconnect, a refetch after a resync) raises nothing the
second time."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from laurels.sdk._models import NEVER, Achievement, ProgressChange, UnlockNotification
from laurels.sdk._policy import E_BOUNDS, E_INVALIDARG, E_NOT_SUPPORTED, E_UNEXPECTED

SortBy = Literal["UnlockTime", "Title"]
State = Literal["Achieved", "NotStarted", "InProgress"]
SORTS = (None, "UnlockTime", "Title")
STATES = (None, "Achieved", "NotStarted", "InProgress")


class ManagerEventType(enum.Enum):
    LOCAL_USER_INITIAL_STATE_SYNCED = "LocalUserInitialStateSynced"
    ACHIEVEMENT_PROGRESS_UPDATED = "AchievementProgressUpdated"
    ACHIEVEMENT_UNLOCKED = "AchievementUnlocked"
    # An update the manager sent was refused by the service (`hresult` says why);
    # the reference manager logs these, a game may want to know.
    ACHIEVEMENT_UPDATE_FAILED = "AchievementUpdateFailed"


@dataclass(frozen=True)
class ManagerEvent:
    """What `do_work()` returns. `achievement` is the cached achievement after the
    change (None for LOCAL_USER_INITIAL_STATE_SYNCED); `hresult` is 0 except for
    ACHIEVEMENT_UPDATE_FAILED."""

    event_type: ManagerEventType
    xuid: str
    achievement_id: str | None = None
    achievement: Achievement | None = None
    hresult: int = 0


@dataclass(frozen=True)
class Observation:
    """What the service said about one achievement. `fetched` is a whole object
    read from the service, whose other fields (strings, rarity) are newer too."""

    percent: int
    unlocked: bool
    time_unlocked: str = NEVER
    name: str | None = None
    description: str | None = None
    fetched: Achievement | None = None
    # The stat requirements an event-based achievement's news carries (None: none).
    requirements: tuple[dict[str, Any], ...] | None = None


def observed_fetch(achievement: Achievement) -> Observation:
    return Observation(
        achievement.percent or 0,
        achievement.unlocked,
        achievement.time_unlocked,
        fetched=achievement,
        requirements=tuple(achievement.requirements),
    )


def observed_change(change: ProgressChange) -> Observation:
    found = change.raw.get("requirements") if isinstance(change.raw, dict) else None
    requirements = tuple(dict(r) for r in found) if isinstance(found, list) else None
    return Observation(
        change.percent or 0, change.unlocked, change.time_unlocked, requirements=requirements
    )


def observed_unlock(notification: UnlockNotification) -> Observation:
    return Observation(
        100, True, notification.unlock_time, notification.name, notification.description
    )


def merge(
    cached: Achievement, seen: Observation
) -> tuple[Achievement, tuple[ManagerEventType, ...]]:
    """The cached achievement after `seen`, and the events that raises: progress
    when the percentage rose, unlocked when it became unlocked. Never moves
    backwards (a stale read or an old event changes nothing). An event-based
    achievement: `merge_event_based`."""
    if cached.event_based:
        return merge_event_based(cached, seen)
    before = _percent(cached)
    unlocked = cached.unlocked or seen.unlocked
    percent = 100 if unlocked else max(before, seen.percent)
    if cached.unlocked:
        when = cached.time_unlocked
    else:
        when = seen.time_unlocked if seen.unlocked else NEVER
    base = cached
    if seen.fetched is not None and seen.unlocked >= cached.unlocked and seen.percent >= before:
        base = seen.fetched  # at least as new as the cache: take its strings too
    merged = _with_progress(base, percent, unlocked, when)
    if seen.name is not None and unlocked:  # a secret's revealed strings
        merged = _with_strings(merged, seen.name, seen.description or merged.description)
    events: list[ManagerEventType] = []
    if percent > before:
        events.append(ManagerEventType.ACHIEVEMENT_PROGRESS_UPDATED)
    if unlocked and not cached.unlocked:
        events.append(ManagerEventType.ACHIEVEMENT_UNLOCKED)
    return (cached if merged == cached else merged), tuple(events)


def merge_event_based(
    cached: Achievement, seen: Observation
) -> tuple[Achievement, tuple[ManagerEventType, ...]]:
    """`merge` for an event-based achievement: an unlock is final (its
    requirements stay as they were then); before it, the requirements are what
    the service said last (a stat may go down: a `min` stat, a negative sum),
    raising progress when they changed. Applying the same news twice raises
    nothing the second time."""
    if cached.unlocked:
        merged = cached
        if seen.name is not None:
            merged = _with_strings(cached, seen.name, seen.description or cached.description)
        return merged, ()
    base = seen.fetched if seen.fetched is not None else cached
    requirements = list(seen.requirements) if seen.requirements is not None else None
    before = cached.requirements
    after = before if requirements is None else requirements
    state = "Achieved" if seen.unlocked else _state_of(after)
    when = seen.time_unlocked if seen.unlocked else NEVER
    progression = {**(base.raw.get("progression") or {}), "requirements": after}
    raw = {**base.raw, "progressState": state, "progression": {**progression, "timeUnlocked": when}}
    merged = dataclasses.replace(
        base,
        progress_state=state,
        percent=100 if seen.unlocked else None,
        time_unlocked=when,
        raw=raw,
    )
    if seen.name is not None and seen.unlocked:
        merged = _with_strings(merged, seen.name, seen.description or merged.description)
    events: list[ManagerEventType] = []
    if _currents(after) != _currents(before):
        events.append(ManagerEventType.ACHIEVEMENT_PROGRESS_UPDATED)
    if seen.unlocked:
        events.append(ManagerEventType.ACHIEVEMENT_UNLOCKED)
    return (cached if merged == cached else merged), tuple(events)


def _currents(requirements: list[dict[str, Any]]) -> list[tuple[object, object]]:
    return [(r.get("id"), r.get("current")) for r in requirements]


def _state_of(requirements: list[dict[str, Any]]) -> str:
    return "InProgress" if any(r.get("current") is not None for r in requirements) else "NotStarted"


def _percent(achievement: Achievement) -> int:
    return 100 if achievement.unlocked else achievement.percent or 0


def _with_progress(a: Achievement, percent: int, unlocked: bool, when: str) -> Achievement:
    state = "Achieved" if unlocked else "InProgress" if percent > 0 else "NotStarted"
    current = str(percent) if percent > 0 else None
    if (a.progress_state, a.percent, a.time_unlocked) == (state, percent or None, when):
        return a
    raw: dict[str, Any] = {**a.raw, "progressState": state}
    progression = dict(raw.get("progression") or {})
    requirements = [dict(r) for r in progression.get("requirements") or [{}]]
    requirements[0]["current"] = current
    raw["progression"] = {**progression, "requirements": requirements, "timeUnlocked": when}
    return dataclasses.replace(
        a, progress_state=state, percent=percent or None, time_unlocked=when, raw=raw
    )


def _with_strings(a: Achievement, name: str, description: str) -> Achievement:
    if (a.name, a.description) == (name, description):
        return a
    raw = {**a.raw, "name": name, "description": description}
    return dataclasses.replace(a, name=name, description=description, raw=raw)


# -- rules ---------------------------------------------------------------------------


def is_event_based(achievement: Achievement) -> bool:
    """Whether the service drives it by events, as the service says in the
    Achievement object (`progressionKind`), never guessed from the shape of its
    requirements."""
    return achievement.event_based


def update_refusal(
    cached: Achievement | None, percent: int, *, event_based: bool
) -> tuple[int, str] | None:
    """(hresult, why) when the reference manager's rules refuse setting `cached`
    to `percent` (already clamped to 100), None when the update may be sent."""
    if cached is None:
        return E_BOUNDS, "unknown local user or achievement id"
    if cached.unlocked:
        return E_UNEXPECTED, f"achievement {cached.id} is already unlocked"
    if event_based:
        return E_NOT_SUPPORTED, f"achievement {cached.id} is driven by events"
    if percent <= _percent(cached):
        return E_INVALIDARG, f"{percent} is not above the cached {_percent(cached)}"
    return None


def select(
    achievements: Iterable[Achievement],
    *,
    sort_by: SortBy | None,
    descending: bool,
    state: State | None,
) -> list[Achievement]:
    """Filter by `state`, then sort: None keeps the service's order; "Title" by
    name; "UnlockTime" puts unlocked ones first, by time, then the others in the
    service's order. ValueError for an unknown sort or state."""
    if sort_by not in SORTS:
        raise ValueError(f"sort_by must be one of {SORTS}")
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}")
    chosen = [a for a in achievements if state is None or a.progress_state == state]
    if sort_by == "Title":
        return sorted(chosen, key=lambda a: a.name.casefold(), reverse=descending)
    if sort_by == "UnlockTime":
        unlocked = [a for a in chosen if a.unlocked]
        unlocked.sort(key=lambda a: a.time_unlocked, reverse=descending)
        return unlocked + [a for a in chosen if not a.unlocked]
    return chosen
