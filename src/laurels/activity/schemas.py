"""Wire shapes of the activity feed and the title history (Xbox's achievement
activity items and title history V2). Documented here for /docs; the service builds
them as plain dicts with every key."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from laurels.wire.paging import PagingInfo


class ActivityItem(BaseModel):
    id: str = Field(description="Opaque and stable: one item per unlock, ever")
    activityItemType: Literal["Achievement"]
    date: str = Field(description="When it was unlocked (ISO-8601 UTC, 7 fractional digits)")
    titleId: int
    serviceConfigId: str
    achievementId: str
    achievementName: str = Field(description="Localized; hidden from others when secret")
    achievementDescription: str = Field(
        description="The unlocked description (a secret's locked one for others)"
    )
    achievementIcon: str | None
    gamerscore: int
    rarityPercentage: float = Field(
        ge=0.0, le=100.0, description="Percent of the title's players who unlocked it"
    )


class ActivityPage(BaseModel):
    activityItems: list[ActivityItem]
    pagingInfo: PagingInfo


class TitleHistoryEntry(BaseModel):
    lastUnlock: str | None = Field(description="The newest unlock, or null if none")
    titleId: int
    serviceConfigId: str
    titleType: Literal["Game"]
    platform: str
    name: str
    earnedAchievements: int
    currentGamerscore: int
    maxGamerscore: int


class TitleHistoryPage(BaseModel):
    titles: list[TitleHistoryEntry]
    pagingInfo: PagingInfo
