"""The configuration file of spec/config.md, with Xbox's limits, and the `events`,
`stats` and `requirements` of an event-based title (spec/events.md).

Every error names the path of its field (`achievements[3].gamerscore: ...`,
`stats[2].event: no event 'Foo'`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
SANDBOX = re.compile(r"^(RETAIL|DEV\.[A-Za-z0-9_-]{1,32})$")
ESTIMATED_TIME = re.compile(r"^\d{2}:[0-5]\d:[0-5]\d$")
# What a viewer sees instead of the name of a secret achievement still locked to them.
SECRET_NAME = "Secret achievement"

# Events, their fields and stats are named alike (spec/events.md).
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_FIELDS = 20  # dimensions, and measurements, of one event
# The validation context of a document read back from the database.
STORED = {"stored": True}

Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
AchievementId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S+$")]
Text44 = Annotated[str, StringConstraints(min_length=1, max_length=44)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class NestedError(ValueError):
    """A validator's error about one part of its field: `where` is the path below the
    field (`(2, "id")` under `achievements` names `achievements[2].id`)."""

    def __init__(self, where: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.where = where


class NestedErrors(ValueError):
    """Several NestedErrors found at once by one validator, each reported alone."""

    def __init__(self, errors: list[NestedError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def _repeated(names: list[str]) -> Iterator[tuple[int, str, int]]:
    """(index, name, index of its first use) for each name used earlier in `names`."""
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in first:
            yield index, name, first[name]
        else:
            first[name] = index


def _path(where: tuple[int | str, ...]) -> str:
    """("requirements", 0, "stat") → "requirements[0].stat" (names, not mapping keys)."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


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


class Requirement(_Strict):
    """Met when the stat reaches the target: at or above it for sum and max, at or
    below it for min."""

    stat: Name
    target: Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


class EventConfig(_Strict):
    name: Name
    dimensions: Annotated[list[Name], Field(max_length=MAX_FIELDS)] = Field(default_factory=list)
    measurements: Annotated[list[Name], Field(max_length=MAX_FIELDS)] = Field(default_factory=list)
    sentBy: Literal["client", "server"] = "client"

    @model_validator(mode="after")
    def _unique_fields(self) -> EventConfig:
        """A field name names one field of the event: a dimension or a measurement."""
        places: list[tuple[int | str, ...]] = [
            ("dimensions", i) for i in range(len(self.dimensions))
        ]
        places += [("measurements", i) for i in range(len(self.measurements))]
        errors = [
            NestedError(places[index], f"{name!r} is already {_path(places[earlier])}")
            for index, name, earlier in _repeated([*self.dimensions, *self.measurements])
        ]
        if errors:
            raise NestedErrors(errors)
        return self


class StatConfig(_Strict):
    name: Name
    event: Name
    # Omitted: each event counts 1.
    measurement: Name | None = None
    aggregate: Literal["sum", "min", "max"]
    # Every listed dimension must equal its value for an event to count.
    where: dict[Name, str] = Field(default_factory=dict)
    maxChange: Annotated[int, Field(ge=1, le=INT64_MAX)] | None = None

    @field_validator("maxChange")
    @classmethod
    def _sum_only(cls, value: int | None, info: ValidationInfo) -> int | None:
        # spec/events.md: maxChange bounds one contribution to a sum. A min or max
        # stat has no contribution to bound, so a maxChange there is a mistake.
        aggregate = info.data.get("aggregate")
        if value is not None and aggregate is not None and aggregate != "sum":
            raise ValueError(f"only a sum stat has a maxChange (this one is {aggregate})")
        return value


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
    # Event-based titles only (checked by ConfigFile): the stats to reach.
    requirements: Annotated[list[Requirement], Field(max_length=5)] = Field(default_factory=list)

    @field_validator("requirements")
    @classmethod
    def _one_per_stat(cls, value: list[Requirement]) -> list[Requirement]:
        for index, stat, earlier in _repeated([r.stat for r in value]):
            raise NestedError(
                (index, "stat"), f"{stat!r} is already required by requirements[{earlier}]"
            )
        return value

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
    # Event-based titles only (spec/events.md).
    events: list[EventConfig] = Field(default_factory=list)
    stats: list[StatConfig] = Field(default_factory=list)
    achievements: Annotated[list[AchievementConfig], Field(min_length=1, max_length=1000)]

    @field_validator("events", "stats")
    @classmethod
    def _unique_names(
        cls, value: list[EventConfig] | list[StatConfig], info: ValidationInfo
    ) -> list[EventConfig] | list[StatConfig]:
        errors = [
            NestedError(
                (index, "name"), f"{name!r} is already the name of {info.field_name}[{earlier}]"
            )
            for index, name, earlier in _repeated([item.name for item in value])
        ]
        if errors:
            raise NestedErrors(errors)
        return value

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

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ConfigFile:
        """What one part of the file says about another: the title's kind, and the
        names stats and requirements refer to. Reports every such problem. Not for a
        STORED document: it was checked when imported, and a rule added since (an
        event-based title published before requirements existed) must not make a
        published version unreadable."""
        if info.context == STORED:
            return self
        errors = [*self._kind_errors(), *self._stat_errors(), *self._requirement_errors()]
        if errors:
            raise NestedErrors(errors)
        return self

    @property
    def event_based(self) -> bool:
        return self.title.kind == "event-based"

    def _kind_errors(self) -> Iterator[NestedError]:
        if not self.event_based:
            for section in ("events", "stats"):
                if getattr(self, section):
                    yield NestedError((section,), f"only an event-based title has {section}")
        for index, achievement in enumerate(self.achievements):
            where: tuple[int | str, ...] = ("achievements", index)
            if not self.event_based and achievement.requirements:
                message = "only an event-based title's achievements have requirements"
                yield NestedError((*where, "requirements"), message)
            if self.event_based and not achievement.requirements:
                message = "is required on an event-based title (1..5 stats to reach)"
                yield NestedError((*where, "requirements"), message)
            if self.event_based and achievement.serverOnly:
                message = "not on an event-based title: declare its events sentBy: server"
                yield NestedError((*where, "serverOnly"), message)

    def _stat_errors(self) -> Iterator[NestedError]:
        events = {event.name: event for event in self.events}
        for index, stat in enumerate(self.stats):
            event = events.get(stat.event)
            if event is None:
                yield NestedError(("stats", index, "event"), f"no event {stat.event!r}")
                continue
            if stat.measurement is not None and stat.measurement not in event.measurements:
                message = f"event {event.name!r} has no measurement {stat.measurement!r}"
                yield NestedError(("stats", index, "measurement"), message)
            for key in stat.where:
                if key not in event.dimensions:
                    message = f"event {event.name!r} has no dimension {key!r}"
                    yield NestedError(("stats", index, "where", key), message)

    def _requirement_errors(self) -> Iterator[NestedError]:
        stats = {stat.name for stat in self.stats}
        for index, achievement in enumerate(self.achievements):
            for position, requirement in enumerate(achievement.requirements):
                if requirement.stat not in stats:
                    where = ("achievements", index, "requirements", position, "stat")
                    yield NestedError(where, f"no stat {requirement.stat!r}")


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
