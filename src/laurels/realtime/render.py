"""Event data as devices receive it (spec/wire.md, "Real-time activity"), rendered
once per event for every device that shares a language and a service address."""

from __future__ import annotations

from typing import Any

import orjson

from laurels.outbox import OutboxEntry
from laurels.progress.service import stat_requirements
from laurels.titles import PublishedTitle, localized_strings
from laurels.wire.context import RenderContext
from laurels.wire.rarity import rarity
from laurels.wire.times import NEVER, format_time, from_micros


def _dump(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()


def _requirements(
    title: PublishedTitle, position: int | None, item: dict[str, Any]
) -> list[dict[str, Any]]:
    """A title-managed achievement's percent; an event-based one's required stats
    (an entry written by the event plan carries their values as `current`)."""
    if "current" in item and title.event_based and position is not None:
        return stat_requirements(title, position, item["current"])
    return [
        {
            "id": None if position is None else title.requirement_ids[position],
            "current": str(int(item["percent"])),
            "target": "100",
        }
    ]


def _progression(title: PublishedTitle, item: dict[str, Any]) -> dict[str, Any]:
    position = title.index.get(item["id"])
    unlocked_at = item.get("timeUnlocked")
    return {
        "id": item["id"],
        "progressState": "Achieved" if int(item["percent"]) >= 100 else "InProgress",
        "timeUnlocked": NEVER if unlocked_at is None else format_time(from_micros(unlocked_at)),
        "requirements": _requirements(title, position, item),
    }


def progress_data(event: OutboxEntry, title: PublishedTitle) -> str:
    """The progress resource's event: every achievement the update moved."""
    return _dump(
        {
            "serviceConfigId": event.scid,
            "eventId": event.wire_id,
            "progression": [_progression(title, item) for item in event.payload["progression"]],
        }
    )


def notification_data(
    event: OutboxEntry, title: PublishedTitle, stats: tuple[int, int], ctx: RenderContext, base: str
) -> str | None:
    """The "Achievement Unlocked" notification, for the achievement's owner (who
    may see a secret achievement's name once it is theirs); None when the published
    configuration no longer has the achievement."""
    achievement = title.achievement(event.achievement_id)
    if achievement is None:
        return None
    name, _, unlocked = localized_strings(achievement, ctx.locale)
    category, percent = rarity(*stats)
    extended = (
        f"{base.rstrip('/')}/users/xuid({event.xuid})/achievements/{event.scid}/{achievement.id}"
    )
    return _dump(
        {
            "service": "achievements",
            "eventId": event.wire_id,
            "achievementId": achievement.id,
            "achievementName": name,
            "achievementDescription": unlocked,
            "achievementIcon": ctx.media_url(achievement.icon),
            "titleId": str(event.title_id),
            "gamerscore": achievement.gamerscore,
            "xuid": event.xuid,
            "extendedInfoUrl": extended,
            "rarityPercentage": round(percent / 100.0, 4),
            "rarityCategory": category,
            "unlockTime": event.payload["unlockTime"],
        }
    )
