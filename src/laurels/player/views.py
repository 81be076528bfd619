"""What the player page shows of the V2 objects the API renders: pure functions from
an Achievement object, an activity item or a title of the history to the rows the
templates print. A hidden secret achievement keeps the list's "Secret achievement"
(localized here) and never gets a name, description, icon or reward of its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SHOWS = ("all", "unlocked", "locked")
SORTS = ("unlocktime", "rarity", "title")
# The list's order for each sort of the page (rarity is sorted here, from title order).
LIST_ORDERS = {"unlocktime": "UnlockTime", "rarity": "Title", "title": "Title"}

IsSameOrigin = Callable[[str], bool]


@dataclass(frozen=True)
class Reward:
    name: str
    description: str


@dataclass(frozen=True)
class ShownAchievement:
    id: str
    name: str
    description: str
    icon: str | None
    state: str  # Achieved, InProgress or NotStarted
    secret: bool  # a secret not unlocked: shown without its name
    percent: int | None  # the progress bar's value, for an achievement in progress
    unlocked_at: str | None  # the wire's time, when achieved
    gamerscore: int
    rewards: tuple[Reward, ...]
    rarity: float
    rare: bool


@dataclass(frozen=True)
class FeedEntry:
    name: str
    date: str
    icon: str | None
    gamerscore: int


@dataclass(frozen=True)
class TitleRow:
    title_id: int
    scid: str
    name: str
    earned: int
    total: int
    gamerscore: int
    max_gamerscore: int
    last_unlock: str | None

    @property
    def percent(self) -> int:
        return 0 if self.total == 0 else round(100 * self.earned / self.total)


def percent_of(requirements: Sequence[Mapping[str, Any]]) -> int:
    """How far the requirements are: each one's current/target (at most 1), averaged,
    as a whole percent (0 while none is started)."""
    shares = []
    for requirement in requirements:
        try:
            current = float(requirement.get("current") or 0)
            target = float(requirement.get("target") or 0)
        except (TypeError, ValueError):
            shares.append(0.0)  # not a number: counted as not started
            continue
        shares.append(1.0 if target <= 0 else max(0.0, min(1.0, current / target)))
    return int(100 * sum(shares) / len(shares)) if shares else 0


def _icon(assets: Sequence[Mapping[str, Any]], same_origin: IsSameOrigin) -> str | None:
    url = next((a.get("url") for a in assets if a.get("type") == "Icon"), None)
    return url if isinstance(url, str) and url and same_origin(url) else None


def _description(item: Mapping[str, Any], state: str) -> str:
    """What it says once earned, or before: the locked description."""
    return str(item["description"] if state == "Achieved" else item["lockedDescription"])


def shown_achievement(
    item: Mapping[str, Any], words: Mapping[str, str], same_origin: IsSameOrigin
) -> ShownAchievement:
    """One achievement of the list, as the page shows it."""
    state = str(item["progressState"])
    secret = bool(item["isSecret"]) and state != "Achieved"
    progression = item["progression"]
    rewards = item.get("rewards") or []
    gamerscore = sum(int(r["value"]) for r in rewards if r.get("type") == "Gamerscore")
    others = tuple(
        Reward(str(r.get("name") or ""), str(r.get("description") or ""))
        for r in rewards
        if r.get("type") != "Gamerscore"
    )
    return ShownAchievement(
        id=str(item["id"]),
        name=words["secret_name"] if secret else str(item["name"]),
        description=words["secret_description"] if secret else _description(item, state),
        icon=None if secret else _icon(item.get("mediaAssets") or [], same_origin),
        state=state,
        secret=secret,
        percent=percent_of(progression["requirements"]) if state == "InProgress" else None,
        unlocked_at=str(progression["timeUnlocked"]) if state == "Achieved" else None,
        gamerscore=gamerscore,
        rewards=() if secret else others,
        rarity=float(item["rarity"]["currentPercentage"]),
        rare=item["rarity"]["currentCategory"] == "Rare",
    )


def chosen(items: Sequence[ShownAchievement], *, show: str, sort: str) -> list[ShownAchievement]:
    """The achievements `show` keeps (all, unlocked or locked), in `sort`'s order (the
    list already comes in unlock-time or title order; rarity is rarest first)."""
    kept = [a for a in items if show == "all" or (a.state == "Achieved") == (show == "unlocked")]
    if sort == "rarity":
        return sorted(kept, key=lambda a: a.rarity)
    return kept


def feed_entry(item: Mapping[str, Any], same_origin: IsSameOrigin) -> FeedEntry:
    icon = item.get("achievementIcon")
    return FeedEntry(
        name=str(item["achievementName"]),
        date=str(item["date"]),
        icon=icon if isinstance(icon, str) and icon and same_origin(icon) else None,
        gamerscore=int(item.get("gamerscore") or 0),
    )


def title_row(entry: Mapping[str, Any], total: int) -> TitleRow:
    """A title of the history; `total` is how many achievements it has."""
    return TitleRow(
        title_id=int(entry["titleId"]),
        scid=str(entry["serviceConfigId"]),
        name=str(entry["name"]),
        earned=int(entry["earnedAchievements"]),
        total=total,
        gamerscore=int(entry["currentGamerscore"]),
        max_gamerscore=int(entry["maxGamerscore"]),
        last_unlock=entry.get("lastUnlock"),
    )


def shown_time(wire_time: str | None) -> str:
    """ "2026-11-29T04:30:12.1234567Z" as "2026-11-29 04:30 UTC"; "" for none."""
    if not wire_time:
        return ""
    return f"{wire_time[:10]} {wire_time[11:16]} UTC"
