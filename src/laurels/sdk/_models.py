"""What the SDK returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal

from laurels.sdk._queue import QueueStatus

Status = Literal["updated", "not_modified", "queued", "rejected"]

__all__ = ["Achievement", "AchievementsPage", "QueueStatus", "SyncAchievementsPage", "UpdateResult"]


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
class Achievement:
    """One achievement as the service shows it to this player."""

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

    @classmethod
    def from_wire(cls, item: dict[str, Any]) -> Achievement:
        requirement = (item.get("progression", {}).get("requirements") or [{}])[0]
        current = requirement.get("current")
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
