"""Wire shapes of spec/wire.md. The update body is parsed strictly (no coercion:
"50", 1.5, true and null are not percentages); responses are documented here and
built as plain dicts on the hot path."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from laurels.wire.identifiers import (
    CANONICAL_XUID_PATTERN,
    MAX_TITLE_ID,
    SCID_PATTERN,
)
from laurels.wire.paging import PagingInfo


class UpdateItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # 1..100; above 100 acts as 100 (policy.clamp_percent), so the schema sets no maximum.
    percentComplete: Annotated[
        int,
        Field(
            json_schema_extra={"minimum": 1},
            description=(
                "An integer literal (not 100.0) of 1..100; 100 unlocks; above 100 acts "
                "as 100; progress only increases"
            ),
        ),
    ]
    # Laurels extension: when the player earned it (offline deliveries); ISO-8601 UTC.
    timeAchieved: (
        Annotated[
            str,
            StringConstraints(max_length=40),
            Field(
                json_schema_extra={"format": "date-time"},
                description="When the player earned it, with its UTC offset (offline updates)",
            ),
        ]
        | None
    ) = None


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["progressUpdate"] = "progressUpdate"
    serviceConfigId: Annotated[
        str,
        StringConstraints(max_length=64),
        Field(json_schema_extra={"pattern": SCID_PATTERN}, description="The path's SCID"),
    ]
    titleId: Annotated[
        int,
        Field(
            json_schema_extra={"minimum": 1, "maximum": MAX_TITLE_ID},
            description="The title that owns the SCID",
        ),
    ]
    userId: Annotated[
        str,
        StringConstraints(max_length=24),
        Field(
            json_schema_extra={"pattern": CANONICAL_XUID_PATTERN, "maxLength": 20},
            description="The path's XUID, in decimal without leading zeros",
        ),
    ]
    # The service caps the count (settings.max_achievements_per_update); the published
    # schema states that cap as maxItems.
    achievements: Annotated[list[UpdateItem], Field(min_length=1)]


class TitleAssociation(BaseModel):
    name: str
    id: int
    version: str


class Requirement(BaseModel):
    id: str
    current: str | None
    target: str
    operationType: str
    valueType: str
    ruleParticipationType: str


class Progression(BaseModel):
    requirements: list[Requirement]
    timeUnlocked: str


class MediaAsset(BaseModel):
    name: str
    type: Literal["Icon", "Art"]
    url: str


class TimeWindow(BaseModel):
    startDate: str
    endDate: str


class Reward(BaseModel):
    name: str
    description: str
    value: str
    type: Literal["Gamerscore", "InApp", "Art"]
    valueType: str
    mediaAsset: MediaAsset | None


class Rarity(BaseModel):
    currentCategory: Literal["Rare", "Common"]
    currentPercentage: float


class Achievement(BaseModel):
    id: str
    serviceConfigId: str
    name: str
    titleAssociations: list[TitleAssociation]
    progressState: Literal["NotStarted", "InProgress", "Achieved"]
    # Laurels extension: how the achievement progresses (spec/events.md); a title's
    # kind, so a client knows which achievements a progress update may set.
    progressionKind: Literal["TitleManaged", "EventBased"]
    progression: Progression
    mediaAssets: list[MediaAsset]
    platforms: list[str]
    isSecret: bool
    description: str
    lockedDescription: str
    productId: str
    achievementType: Literal["Persistent", "Challenge"]
    participationType: Literal["Individual", "Group"]
    timeWindow: TimeWindow | None
    rewards: list[Reward]
    estimatedTime: str
    deeplink: str
    isRevoked: bool
    rarity: Rarity


class AchievementsPage(BaseModel):
    achievements: list[Achievement]
    pagingInfo: PagingInfo


# --- event-based titles (spec/events.md) ------------------------------------------------

MAX_EVENTS = 100
MAX_DIMENSION_LENGTH = 256
INT64 = {"minimum": -(2**63), "maximum": 2**63 - 1}


# A default `{}` is deep-copied for every event that omits the field; a factory is
# not. The schema still says what an omitted field means.
_EMPTY_DEFAULT: dict[str, Any] = {"default": {}}


class EventItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=64),
        Field(description="The caller's unique id of the event (the SDK sends a UUID)"),
    ]
    name: Annotated[
        str,
        StringConstraints(min_length=1, max_length=64),
        Field(description="An event the title declares"),
    ]
    time: (
        Annotated[
            str,
            StringConstraints(max_length=40),
            Field(
                json_schema_extra={"format": "date-time"},
                description="When it happened, with its UTC offset (honoured as an "
                "update's timeAchieved)",
            ),
        ]
        | None
    ) = None
    dimensions: Annotated[
        dict[str, Annotated[str, StringConstraints(max_length=MAX_DIMENSION_LENGTH)]],
        Field(description='String fields the event declares; a missing one is ""'),
    ] = Field(default_factory=dict, json_schema_extra=_EMPTY_DEFAULT)
    measurements: Annotated[
        dict[str, Annotated[int, Field(ge=INT64["minimum"], le=INT64["maximum"])]],
        Field(description="Integer (int64) fields the event declares; a missing one adds nothing"),
    ] = Field(default_factory=dict, json_schema_extra=_EMPTY_DEFAULT)


class EventsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    titleId: Annotated[
        int,
        Field(
            json_schema_extra={"minimum": 1, "maximum": MAX_TITLE_ID},
            description="An event-based title",
        ),
    ]
    events: Annotated[list[EventItem], Field(min_length=1, max_length=MAX_EVENTS)]


class EventsAnswer(BaseModel):
    accepted: int
    duplicates: int


class StatValue(BaseModel):
    name: str
    value: int


class StatsAnswer(BaseModel):
    stats: list[StatValue]
