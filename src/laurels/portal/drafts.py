"""The draft forms of the portal, pure: a form's fields read into a part of the
configuration document (title, achievement, event, stat) and a part written back as
fields; a validation problem's path tied to the input it names; the difference of
two drafts; a new title's first draft. No I/O: the pages (`pages/titles.py`) read
forms, save and render.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

WHOLE = re.compile(r"^[+-]?\d{1,20}$")
LOCALE_FIELDS = ("name", "lockedDescription", "description")
REWARD_FIELDS = ("name", "description", "value", "image")
MAX_REQUIREMENTS = 5

# --- form fields ⇄ document -----------------------------------------------------------


class Fields:
    """A submitted form's text fields, remembering which were read (the inputs a
    problem can be shown next to)."""

    def __init__(self, form: FormData) -> None:
        self.form = form
        self.names: set[str] = set()

    def text(self, name: str) -> str:
        self.names.add(name)
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def flag(self, name: str) -> bool:
        return bool(self.text(name))

    def whole(self, name: str) -> int | str:
        """A whole number, or the text as given (validation then names its field)."""
        value = self.text(name)
        return int(value) if WHOLE.match(value) else value

    def words(self, name: str) -> list[str]:
        return [word.strip() for word in self.text(name).split(",") if word.strip()]

    def values(self) -> dict[str, str]:
        return {k: v for k, v in self.form.items() if isinstance(v, str)}


@dataclass
class Built:
    """An item built from a form, and where its document paths are in the form
    (`achievements[0].rewards[0]` → `achievements[0].rewards[1]` when the first slot
    was left empty)."""

    item: dict[str, Any]
    aliases: dict[str, str] = field(default_factory=dict)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def achievement_values(a: dict[str, Any], p: str) -> dict[str, str]:
    """The form fields showing achievement `a` under the prefix `p`."""
    keys = (
        *("id", "name", "lockedDescription", "description", "gamerscore", "icon"),
        *("estimatedTime", "deeplink", "type", "productId"),
    )
    values = {f"{p}.{k}": _text(a.get(k)) for k in keys}
    values.update({f"{p}.{k}": "on" for k in ("secret", "serverOnly") if a.get(k)})
    values[f"{p}.platforms"] = ", ".join(a.get("platforms", []))
    window = a.get("timeWindow") or {}
    for k in ("startDate", "endDate"):
        values[f"{p}.timeWindow.{k}"] = _text(window.get(k))
    for slot, reward in enumerate(a.get("rewards", [])):
        for k in ("type", *REWARD_FIELDS):
            values[f"{p}.rewards[{slot}].{k}"] = _text(reward.get(k))
    for row, (locale, texts) in enumerate(sorted(a.get("localized", {}).items())):
        values[f"{p}.localized[{row}].locale"] = locale
        for k in LOCALE_FIELDS:
            values[f"{p}.localized[{row}].{k}"] = _text(texts.get(k))
    for row, requirement in enumerate(a.get("requirements", [])):
        values[f"{p}.requirements[{row}].stat"] = requirement["stat"]
        values[f"{p}.requirements[{row}].target"] = str(requirement["target"])
    return values


def achievement_from(fields: Fields, p: str, kind: str) -> Built:
    """The achievement the form under `p` describes (not yet validated)."""
    a: dict[str, Any] = {k: fields.text(f"{p}.{k}") for k in ("id", "name", "lockedDescription")}
    a |= {k: fields.text(f"{p}.{k}") for k in ("description", "deeplink", "productId")}
    a |= {"gamerscore": fields.whole(f"{p}.gamerscore"), "secret": fields.flag(f"{p}.secret")}
    a |= {"icon": fields.optional(f"{p}.icon"), "platforms": fields.words(f"{p}.platforms")}
    a |= {"estimatedTime": fields.text(f"{p}.estimatedTime") or "00:00:00"}
    a["type"] = fields.text(f"{p}.type") or "Persistent"
    if kind == "title-managed":
        a["serverOnly"] = fields.flag(f"{p}.serverOnly")
    built = Built(a, {f"{p}.timeWindow": f"{p}.timeWindow.startDate"})
    start, end = (fields.text(f"{p}.timeWindow.{k}") for k in ("startDate", "endDate"))
    if start or end:
        a["timeWindow"] = {"startDate": start, "endDate": end}
    a["rewards"] = _rewards(fields, p, built)
    a["localized"] = _localized(fields, p, built)
    if kind == "event-based":
        a["requirements"] = _requirements(fields, p, built)
    return built


def _rewards(fields: Fields, p: str, built: Built) -> list[dict[str, Any]]:
    rewards: list[dict[str, Any]] = []
    built.aliases[f"{p}.rewards"] = f"{p}.rewards[0].type"
    for slot in range(2):
        at = f"{p}.rewards[{slot}]"
        reward: dict[str, Any] = {k: fields.text(f"{at}.{k}") for k in ("type", *REWARD_FIELDS)}
        if not any(reward.values()):
            continue
        reward["image"] = reward["image"] or None
        built.aliases[f"{p}.rewards[{len(rewards)}]"] = at
        rewards.append(reward)
    return rewards


def _localized(fields: Fields, p: str, built: Built) -> dict[str, dict[str, str]]:
    localized: dict[str, dict[str, str]] = {}
    row = 0
    while f"{p}.localized[{row}].locale" in fields.form:
        at = f"{p}.localized[{row}]"
        locale = fields.text(f"{at}.locale")
        texts = {k: fields.text(f"{at}.{k}") for k in LOCALE_FIELDS}
        row += 1
        if not locale and not any(texts.values()):
            continue  # an empty row: no language added (or one removed)
        built.aliases[f"{p}.localized.{locale}"] = f"{at}.locale"
        for k in LOCALE_FIELDS:
            built.aliases[f"{p}.localized.{locale}.{k}"] = f"{at}.{k}"
        localized[locale] = {k: v for k, v in texts.items() if v}
    return localized


def _requirements(fields: Fields, p: str, built: Built) -> list[dict[str, Any]]:
    requirements: list[dict[str, Any]] = []
    built.aliases[f"{p}.requirements"] = f"{p}.requirements[0].stat"
    for row in range(MAX_REQUIREMENTS):
        at = f"{p}.requirements[{row}]"
        stat, target = fields.text(f"{at}.stat"), fields.whole(f"{at}.target")
        if stat or target != "":
            built.aliases[f"{p}.requirements[{len(requirements)}]"] = at
            requirements.append({"stat": stat, "target": target})
    return requirements


def event_values(e: dict[str, Any], p: str) -> dict[str, str]:
    return {
        f"{p}.name": e.get("name", ""),
        f"{p}.dimensions": ", ".join(e.get("dimensions", [])),
        f"{p}.measurements": ", ".join(e.get("measurements", [])),
        f"{p}.sentBy": e.get("sentBy", "client"),
    }


def event_from(fields: Fields, p: str, kind: str) -> Built:
    return Built(
        {
            "name": fields.text(f"{p}.name"),
            "dimensions": fields.words(f"{p}.dimensions"),
            "measurements": fields.words(f"{p}.measurements"),
            "sentBy": fields.text(f"{p}.sentBy") or "client",
        }
    )


def stat_values(s: dict[str, Any], p: str) -> dict[str, str]:
    values = {f"{p}.{k}": _text(s.get(k)) for k in ("name", "event", "measurement", "maxChange")}
    values[f"{p}.aggregate"] = s.get("aggregate", "sum")
    values[f"{p}.where"] = "\n".join(f"{k}={v}" for k, v in s.get("where", {}).items())
    return values


def stat_from(fields: Fields, p: str, kind: str) -> Built:
    stat: dict[str, Any] = {k: fields.text(f"{p}.{k}") for k in ("name", "event", "aggregate")}
    stat["measurement"] = fields.optional(f"{p}.measurement")
    change = fields.whole(f"{p}.maxChange")
    stat["maxChange"] = None if change == "" else change
    where: dict[str, str] = {}
    for line in fields.text(f"{p}.where").splitlines():
        key, _, value = line.partition("=")
        if key.strip():
            where[key.strip()] = value.strip()
    stat["where"] = where
    return Built(stat)


@dataclass(frozen=True)
class Section:
    """One list of the document the portal edits item by item."""

    key: str
    noun: str
    values: Callable[[dict[str, Any], str], dict[str, str]]
    build: Callable[[Fields, str, str], Built]
    event_based_only: bool

    def label(self, item: dict[str, Any]) -> str:
        return repr(item.get("id", item.get("name", "?")))


SECTIONS = {
    "achievements": Section(
        "achievements", "achievement", achievement_values, achievement_from, False
    ),
    "events": Section("events", "event", event_values, event_from, True),
    "stats": Section("stats", "stat", stat_values, stat_from, True),
}
BLANK: dict[str, dict[str, Any]] = {
    "achievements": {"gamerscore": 10, "type": "Persistent", "estimatedTime": "00:00:00"},
    "events": {"sentBy": "client"},
    "stats": {"aggregate": "sum"},
}


def tie(
    problems: list[str], inputs: set[str], aliases: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Each `path: message` problem next to the input of the form it names (the path
    itself, through an alias, or the nearest enclosing input); the others apart."""
    errors: dict[str, str] = {}
    elsewhere: list[str] = []
    for problem in problems:
        path, _, message = problem.partition(": ")
        name = _input_of(path, inputs, aliases)
        if name is None:
            elsewhere.append(problem)
        else:
            errors[name] = f"{errors[name]}; {message}" if name in errors else message
    return errors, elsewhere


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


def _input_of(path: str, inputs: set[str], aliases: dict[str, str]) -> str | None:
    for alias in sorted(aliases, key=len, reverse=True):
        if _within(path, alias):
            path = aliases[alias] + path[len(alias) :]
            break
    enclosing = [name for name in inputs if _within(path, name)]
    return max(enclosing, key=len) if enclosing else None


def flatten(value: Any, prefix: str) -> dict[str, str]:
    """Every leaf of `value` by its path (`achievements[2].rewards[0].name`)."""
    if isinstance(value, dict):
        leaves: dict[str, str] = {}
        for key, item in value.items():
            leaves |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return leaves or {prefix: "(none)"}
    if isinstance(value, list):
        leaves = {}
        for index, item in enumerate(value):
            leaves |= flatten(item, f"{prefix}[{index}]")
        return leaves or {prefix: "(none)"}
    return {
        prefix: "(none)"
        if value is None
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    }


def differences(current: Any, theirs: Any, prefix: str) -> list[tuple[str, str, str]]:
    """(path, the current draft's value, theirs) for each value that differs."""
    now, mine = flatten(current, prefix), flatten(theirs, prefix)
    return [
        (path, now.get(path, "(none)"), mine.get(path, "(none)"))
        for path in sorted(set(now) | set(mine))
        if now.get(path, "(none)") != mine.get(path, "(none)")
    ]


# --- creating a title -----------------------------------------------------------------


def starter_config(fields: Fields) -> dict[str, Any]:
    """A new title's first draft: what the form gives and one achievement to edit
    (a configuration has at least one); an event-based title also gets one event
    and one stat that achievement requires."""
    kind = fields.text("title.kind")
    config: dict[str, Any] = {
        "title": {
            "id": fields.whole("title.id"),
            "name": fields.text("title.name"),
            "scid": fields.optional("title.scid"),
            "defaultLocale": fields.text("title.defaultLocale") or "en-US",
            "kind": kind,
        },
        "achievements": [
            {
                "id": "1",
                "name": "First achievement",
                "lockedDescription": "Describe how to unlock it.",
                "description": "Describe what the player did.",
                "gamerscore": 10,
            }
        ],
    }
    if kind == "event-based":
        config["events"] = [{"name": "Progress", "measurements": ["count"]}]
        config["stats"] = [
            {"name": "Count", "event": "Progress", "measurement": "count", "aggregate": "sum"}
        ]
        config["achievements"][0]["requirements"] = [{"stat": "Count", "target": 1}]
    return config
