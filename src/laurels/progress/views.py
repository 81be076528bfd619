"""The Achievement object of spec/wire.md, built as a plain dict with every key.

A secret achievement its viewer has not unlocked shows only its locked
description: no name, unlocked description, icon, deeplink or non-gamerscore reward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from laurels.progress.rules import OPERATION_TYPES
from laurels.titles import SECRET_NAME, PublishedTitle, Reward, localized_strings
from laurels.wire.context import RenderContext
from laurels.wire.rarity import rarity
from laurels.wire.times import NEVER, format_time, from_micros


@dataclass(frozen=True, slots=True)
class Progress:
    percent: int
    time_unlocked: int | None  # microseconds

    @property
    def unlocked(self) -> bool:
        return self.percent >= 100


def _state(progress: Progress | None) -> str:
    if progress is None:
        return "NotStarted"
    return "Achieved" if progress.unlocked else "InProgress"


def _percent_requirements(
    title: PublishedTitle, position: int, progress: Progress | None
) -> list[dict[str, Any]]:
    """A title-managed achievement: one requirement, the percent towards 100."""
    return [
        {
            "id": title.requirement_ids[position],
            "current": None if progress is None else str(progress.percent),
            "target": "100",
            "operationType": "Sum",
            "valueType": "Integer",
            "ruleParticipationType": "Individual",
        }
    ]


def stat_requirements(
    title: PublishedTitle, position: int, values: Mapping[str, int]
) -> list[dict[str, Any]]:
    """An event-based achievement: one requirement per required stat, its value as
    the player has it (it may pass the target; null while unset)."""
    achievement = title.achievements[position]
    return [
        {
            "id": requirement_id,
            "current": str(values[r.stat]) if r.stat in values else None,
            "target": str(r.target),
            "operationType": OPERATION_TYPES[title.stats[r.stat].aggregate],
            "valueType": "Integer",
            "ruleParticipationType": "Individual",
        }
        for r, requirement_id in zip(
            achievement.requirements, title.stat_requirement_ids[position], strict=True
        )
    ]


def _event_state(
    title: PublishedTitle, position: int, progress: Progress | None, values: Mapping[str, int]
) -> str:
    if progress is not None and progress.unlocked:
        return "Achieved"
    required = title.achievements[position].requirements
    return "InProgress" if any(r.stat in values for r in required) else "NotStarted"


def _reward(reward: Reward, ctx: RenderContext) -> dict[str, Any]:
    image = ctx.media_url(reward.image) if reward.type == "Art" else None
    return {
        "name": reward.name,
        "description": reward.description,
        "value": reward.value,
        "type": reward.type,
        "valueType": "String",
        "mediaAsset": {"name": reward.name, "type": "Art", "url": image} if image else None,
    }


def _gamerscore(value: int) -> dict[str, Any]:
    return {
        "name": "",
        "description": "",
        "value": str(value),
        "type": "Gamerscore",
        "valueType": "Int",
        "mediaAsset": None,
    }


def render(
    title: PublishedTitle,
    position: int,
    progress: Progress | None,
    stats: tuple[int, int],
    ctx: RenderContext,
    *,
    owner: bool = True,
    values: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """One Achievement object; `stats` is (unlocks, players) for rarity, `values` the
    player's stats of an event-based title. A secret achievement shows itself only
    to its owner (`owner`), once unlocked."""
    achievement = title.achievements[position]
    hidden = achievement.secret and not (owner and progress is not None and progress.unlocked)
    name, locked, unlocked = localized_strings(achievement, ctx.locale)
    icon = None if hidden else ctx.media_url(achievement.icon)
    category, percent = rarity(*stats)
    rewards = [_gamerscore(achievement.gamerscore)]
    if not hidden:
        rewards += [_reward(reward, ctx) for reward in achievement.rewards]
    window = achievement.timeWindow
    if title.event_based:
        values = values or {}
        state = _event_state(title, position, progress, values)
        requirements = stat_requirements(title, position, values)
    else:
        state = _state(progress)
        requirements = _percent_requirements(title, position, progress)
    return {
        "id": achievement.id,
        "serviceConfigId": title.scid,
        "name": SECRET_NAME if hidden else name,
        "titleAssociations": [
            {"name": title.name, "id": title.title_id, "version": str(title.version)}
        ],
        "progressState": state,
        "progressionKind": "EventBased" if title.event_based else "TitleManaged",
        "progression": {
            "requirements": requirements,
            "timeUnlocked": NEVER
            if progress is None or not progress.unlocked
            else format_time(from_micros(progress.time_unlocked)),
        },
        "mediaAssets": [{"name": f"{achievement.id}.png", "type": "Icon", "url": icon}]
        if icon
        else [],
        "platforms": list(achievement.platforms),
        "isSecret": achievement.secret,
        "description": locked if hidden else unlocked,
        "lockedDescription": locked,
        "productId": achievement.productId,
        "achievementType": achievement.type,
        "participationType": "Individual",
        "timeWindow": None
        if window is None
        else {"startDate": window.startDate, "endDate": window.endDate},
        "rewards": rewards,
        "estimatedTime": achievement.estimatedTime,
        "deeplink": "" if hidden else achievement.deeplink,
        "isRevoked": False,
        "rarity": {"currentCategory": category, "currentPercentage": percent},
    }
