"""The configuration file of spec/config.md, with Xbox's limits.

Every error names the path of its field (`achievements[3].gamerscore: ...`).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SANDBOX = re.compile(r"^(RETAIL|DEV\.[A-Za-z0-9_-]{1,32})$")
ESTIMATED_TIME = re.compile(r"^\d{2}:[0-5]\d:[0-5]\d$")
# What a viewer sees instead of the name of a secret achievement still locked to them.
SECRET_NAME = "Secret achievement"

AchievementId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]
Text44 = Annotated[str, StringConstraints(min_length=1, max_length=44)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class NestedError(ValueError):
    """A validator's error about one part of its field: `where` is the path below the
    field (`(2, "id")` under `achievements` names `achievements[2].id`)."""

    def __init__(self, where: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Localized(_Strict):
    name: Text44 | None = None
    lockedDescription: Text100 | None = None
    description: Text100 | None = None


class Reward(_Strict):
    type: Literal["InApp", "Art"]
    name: Annotated[str, StringConstraints(min_length=1, max_length=57)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=90)]
    value: Annotated[str, StringConstraints(max_length=256)] = ""
    # Art rewards show a picture: a URL or a PNG path, like an icon.
    image: str | None = None


class TimeWindow(_Strict):
    startDate: str
    endDate: str


class AchievementConfig(_Strict):
    id: AchievementId
    name: Text44
    lockedDescription: Text100
    description: Text100
    gamerscore: Annotated[int, Field(ge=0, le=200)]
    secret: bool = False
    icon: str | None = None
    estimatedTime: str = "00:00:00"
    deeplink: Annotated[str, StringConstraints(max_length=2048)] = ""
    serverOnly: bool = False
    type: Literal["Persistent", "Challenge"] = "Persistent"
    timeWindow: Annotated[TimeWindow | None, Field(validate_default=True)] = None
    productId: Annotated[str, StringConstraints(max_length=64)] = ""
    platforms: list[Annotated[str, StringConstraints(min_length=1, max_length=32)]] = Field(
        default_factory=list
    )
    rewards: Annotated[list[Reward], Field(max_length=2)] = Field(default_factory=list)
    localized: dict[str, Localized] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _addressable(cls, value: str) -> str:
        # `GET .../achievements/{scid}/{achievementId}` names the id in one path
        # segment: a "/" would split it and "." or ".." would be resolved away by
        # clients, so such an id could never be read back. Refused, not encoded.
        if "/" in value or value in (".", ".."):
            raise ValueError("must not contain '/' nor be '.' or '..' (it is a URL path segment)")
        return value

    @field_validator("estimatedTime")
    @classmethod
    def _estimated_time(cls, value: str) -> str:
        if not ESTIMATED_TIME.match(value):
            raise ValueError("must be HH:MM:SS")
        return value

    @field_validator("localized")
    @classmethod
    def _locales(cls, value: dict[str, Localized]) -> dict[str, Localized]:
        for locale in value:
            if not LOCALE.match(locale.lower()):
                raise NestedError((locale,), "is not a locale such as fr-FR")
        return value

    @field_validator("rewards")
    @classmethod
    def _one_of_each(cls, value: list[Reward]) -> list[Reward]:
        first: dict[str, int] = {}
        for index, reward in enumerate(value):
            if reward.type in first:
                raise NestedError(
                    (index, "type"),
                    f"at most one {reward.type} reward: rewards[{first[reward.type]}] is one",
                )
            first[reward.type] = index
        return value

    @field_validator("timeWindow")
    @classmethod
    def _challenge_window(cls, value: TimeWindow | None, info: ValidationInfo) -> TimeWindow | None:
        if value is None and info.data.get("type") == "Challenge":
            raise ValueError("a Challenge needs a timeWindow")
        return value


class TitleSection(_Strict):
    id: Annotated[int, Field(ge=1, le=0xFFFFFFFF)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    scid: str | None = None
    defaultLocale: str = "en-US"
    kind: Literal["title-managed", "event-based"] = "title-managed"

    @field_validator("scid")
    @classmethod
    def _scid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value)).lower()
        except ValueError:
            raise ValueError(
                "must be a GUID such as 6a2e0100-0000-0000-0000-00005f1d2c3b"
            ) from None

    @field_validator("defaultLocale")
    @classmethod
    def _default_locale(cls, value: str) -> str:
        if not LOCALE.match(value.lower()):
            raise ValueError(f"{value!r} is not a locale such as en-US")
        return value


class ConfigFile(_Strict):
    title: TitleSection
    achievements: Annotated[list[AchievementConfig], Field(min_length=1, max_length=1000)]

    @field_validator("achievements")
    @classmethod
    def _unique_ids(cls, value: list[AchievementConfig]) -> list[AchievementConfig]:
        first: dict[str, int] = {}
        for index, achievement in enumerate(value):
            earlier = first.get(achievement.id)
            if earlier is not None:
                message = f"{achievement.id!r} is already the id of achievements[{earlier}]"
                raise NestedError((index, "id"), message)
            first[achievement.id] = index
        return value


def is_sandbox_name(name: str) -> bool:
    return bool(SANDBOX.match(name))


def localized_strings(achievement: AchievementConfig, locale: str) -> tuple[str, str, str]:
    """(name, locked description, unlocked description) in `locale` (matched
    exactly, then case-insensitively), each falling back to the default language."""
    localized = achievement.localized.get(locale)
    if localized is None:
        lowered = locale.lower()
        localized = next(
            (v for k, v in achievement.localized.items() if k.lower() == lowered), None
        )
    name, locked, unlocked = (
        achievement.name,
        achievement.lockedDescription,
        achievement.description,
    )
    if localized is not None:
        name = localized.name or name
        locked = localized.lockedDescription or locked
        unlocked = localized.description or unlocked
    return name, locked, unlocked
