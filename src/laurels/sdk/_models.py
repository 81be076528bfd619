"""What the SDK returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from laurels.sdk._queue import QueueStatus

Status = Literal["updated", "not_modified", "queued", "rejected"]
EventStatus = Literal["sent", "queued", "rejected"]

__all__ = [
    "Achievement",
    "AchievementsPage",
    "EventResult",
    "ProgressChange",
    "ProgressEvent",
    "QueueStatus",
    "RealtimeEvent",
    "ResyncEvent",
    "SyncAchievementsPage",
    "UnlockNotification",
    "UpdateResult",
]
NEVER = "0001-01-01T00:00:00Z"  # the wire's "never unlocked"


@dataclass(frozen=True)
class UpdateResult:
    """The outcome of `update_achievement`. `hresult` is 0 when something changed,
    0x80190130 (HTTP_E_STATUS_NOT_MODIFIED, a success) when nothing did, and
    `0x80190000 | status` for a rejection. A queued update has hresult 0: it will
    be delivered when the service is reachable."""

    status: Status
    hresult: int
    http_status: int | None = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


@dataclass(frozen=True)
class EventResult:
    """The outcome of `write_event`. "sent": the service took it (hresult 0);
    "queued": it is on disk and will be delivered (hresult 0); "rejected": the
    service refused it for good (`0x80190000 | status`, its description), or the
    queue was full (hresult E_QUEUE_FULL, `description` "queue full",
    `http_status` None). `event_id` is the id the SDK gave the event."""

    status: EventStatus
    hresult: int
    event_id: str
    http_status: int | None = None
    description: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "rejected"


@dataclass(frozen=True)
class Achievement:
    """One achievement as the service shows it to this player. `percent` is the
    progress of a title-managed achievement; an event-based one
    (`event_based`) has None until unlocked (100), and its stat requirements
    (`current`, `target`, `operationType`) in `requirements`."""

    id: str
    name: str
    progress_state: str
    percent: int | None
    time_unlocked: str
    is_secret: bool
    description: str
    locked_description: str
    gamerscore: int
    raw: dict[str, Any] = field(repr=False)

    @property
    def unlocked(self) -> bool:
        return self.progress_state == "Achieved"

    @property
    def event_based(self) -> bool:
        """Whether the service drives it by events, as it says
        (`progressionKind`: "EventBased"; a service that does not say is
        title-managed)."""
        return self.raw.get("progressionKind") == "EventBased"

    @property
    def requirements(self) -> list[dict[str, Any]]:
        """The wire's `progression.requirements` (copies)."""
        found = (self.raw.get("progression") or {}).get("requirements") or []
        return [dict(r) for r in found]

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Achievement:
        requirement = (item.get("progression", {}).get("requirements") or [{}])[0]
        current = requirement.get("current")
        if item.get("progressionKind") == "EventBased":  # a stat's value, not a percentage
            current = 100 if item["progressState"] == "Achieved" else None
        gamerscore = next(
            (int(r["value"]) for r in item.get("rewards", []) if r.get("type") == "Gamerscore"), 0
        )
        return cls(
            id=item["id"],
            name=item["name"],
            progress_state=item["progressState"],
            percent=None if current is None else int(current),
            time_unlocked=item["progression"]["timeUnlocked"],
            is_secret=item["isSecret"],
            description=item["description"],
            locked_description=item["lockedDescription"],
            gamerscore=gamerscore,
            raw=item,
        )


@dataclass(frozen=True)
class _Page:
    items: list[Achievement]
    total: int
    continuation_token: str | None

    @property
    def has_next(self) -> bool:
        return self.continuation_token is not None

    def _next_token(self) -> str:
        if self.continuation_token is None:
            raise LookupError("this is the last page")
        return self.continuation_token


@dataclass(frozen=True)
class AchievementsPage(_Page):
    """One page of a player's achievements; `await get_next()` fetches the next."""

    _fetch_next: Callable[[str], Awaitable[AchievementsPage]] = field(repr=False)

    async def get_next(self) -> AchievementsPage:
        """The next page; raises LookupError on the last page."""
        return await self._fetch_next(self._next_token())


@dataclass(frozen=True)
class SyncAchievementsPage(_Page):
    """A page from SyncAchievementsClient: `get_next()` returns a Future."""

    _fetch_next: Callable[[str], Future[SyncAchievementsPage]] = field(repr=False)

    def get_next(self) -> Future[SyncAchievementsPage]:
        """The next page, as a Future; raises LookupError on the last page."""
        return self._fetch_next(self._next_token())


# -- real-time events (docs/realtime.md) ------------------------------------------


@dataclass(frozen=True)
class ProgressChange:
    """One achievement an accepted update moved, as a progress event carries it.
    `percent` is the requirement's `current` (None when the service sent none)."""

    id: str
    progress_state: str
    percent: int | None
    time_unlocked: str
    raw: dict[str, Any] = field(repr=False)

    @property
    def unlocked(self) -> bool:
        return self.progress_state == "Achieved"

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> ProgressChange:
        """Raises KeyError, TypeError or ValueError for an item not shaped as the wire's."""
        current = (item.get("requirements") or [{}])[0].get("current")
        return cls(
            id=str(item["id"]),
            progress_state=str(item["progressState"]),
            percent=None if current is None else int(current),
            time_unlocked=str(item.get("timeUnlocked") or NEVER),
            raw=item,
        )


@dataclass(frozen=True)
class ProgressEvent:
    """A player's accepted progress update: every achievement it moved."""

    xuid: str
    scid: str
    event_id: str | None
    changes: tuple[ProgressChange, ...]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_wire(cls, xuid: str, data: dict[str, Any]) -> ProgressEvent:
        """Raises KeyError, TypeError or ValueError for data not shaped as the wire's."""
        return cls(
            xuid=xuid,
            scid=str(data["serviceConfigId"]).lower(),
            event_id=_event_id(data),
            changes=tuple(ProgressChange.from_wire(i) for i in data["progression"]),
            raw=data,
        )


@dataclass(frozen=True)
class UnlockNotification:
    """ "Achievement unlocked", once per unlock. `rarity_percentage` is 0.0..1.0."""

    xuid: str
    event_id: str | None
    achievement_id: str
    name: str
    description: str
    icon: str | None
    gamerscore: int
    rarity_percentage: float
    rarity_category: str
    unlock_time: str
    title_id: int
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_wire(cls, xuid: str, data: dict[str, Any]) -> UnlockNotification:
        """Raises KeyError, TypeError or ValueError for data not shaped as the wire's."""
        return cls(
            xuid=str(data.get("xuid") or xuid),
            event_id=_event_id(data),
            achievement_id=str(data["achievementId"]),
            name=str(data["achievementName"]),
            description=str(data["achievementDescription"]),
            icon=data.get("achievementIcon") or None,
            gamerscore=int(data["gamerscore"]),
            rarity_percentage=float(data["rarityPercentage"]),
            rarity_category=str(data["rarityCategory"]),
            unlock_time=str(data["unlockTime"]),
            title_id=int(data["titleId"]),
            raw=data,
        )


@dataclass(frozen=True)
class ResyncEvent:
    """Events may have been missed: refetch the state. `reason` is "reconnected"
    (the connection was lost and is back, every subscription renewed) or "resync"
    (the service dropped events for a slow reader and sent `[4]`). Unlock
    notifications the service still keeps are replayed after it either way."""

    reason: Literal["reconnected", "resync"]


RealtimeEvent = ProgressEvent | UnlockNotification | ResyncEvent


def _event_id(data: dict[str, Any]) -> str | None:
    """The event's id; None from a service without Laurels' additions (Xbox Live)."""
    value = data.get("eventId")
    if value is not None and not isinstance(value, str):
        raise TypeError(f"eventId must be a string, not {value!r}")
    return value
