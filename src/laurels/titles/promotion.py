"""What publishing changes, and promoting a tested version to RETAIL.

`diff_documents` compares two configuration documents (a draft, a published
version) achievement by achievement, and event by event and stat by stat for an
event-based title: pure, no I/O. `promote` stores an exact version already
published in a development sandbox as RETAIL's next version (what was tested is
what ships), refusing the changes players would notice unless confirmed
(`risky_changes`) and always refusing what the publish rules forbid
(`service.publish_problems`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from laurels.errors import Conflict, InvalidConfig, NotFound
from laurels.sqlasync import AsyncConnection
from laurels.titles.schemas import is_sandbox_name
from laurels.titles.service import (
    canonical_json,
    load_version,
    publish_problems,
    store_version,
)
from laurels.titles.tables import config_versions, title_drafts

RETAIL = "RETAIL"
# Shown for a field a document does not have (a default left out, a new section).
ABSENT = "—"
Status = Literal["added", "removed", "changed"]
# The sections compared item by item, and the field that names an item in each.
SECTIONS = (("achievements", "id"), ("events", "name"), ("stats", "name"))


@dataclass(frozen=True)
class FieldChange:
    """One field of an item: its path inside the item (`localized.fr-FR.name`,
    `display order`) and its old and new values as shown."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class ItemChange:
    """An achievement, event or stat added, removed or changed (with its fields)."""

    section: str
    key: str
    label: str
    status: Status
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class ConfigDiff:
    """From one document to another: the title section's fields, then every item."""

    title: tuple[FieldChange, ...]
    items: tuple[ItemChange, ...]

    @property
    def empty(self) -> bool:
        return not self.title and not self.items

    def section(self, name: str) -> list[ItemChange]:
        return [item for item in self.items if item.section == name]


@dataclass(frozen=True)
class Risk:
    """A change to RETAIL that players who unlocked the achievement would notice."""

    achievement_id: str
    name: str
    unlocks: int
    change: str


@dataclass(frozen=True)
class PublishedVersion:
    sandbox: str
    version: int
    published_at: int


@dataclass(frozen=True)
class Promotion:
    """RETAIL's version after a promotion of `source_sandbox` v`source_version`;
    `unchanged` when RETAIL already had that document (nothing stored)."""

    title_id: int
    source_sandbox: str
    source_version: int
    version: int
    unchanged: bool
    confirmed_risks: tuple[Risk, ...]


class ConfirmationNeeded(Conflict):
    """The promotion would remove an unlocked achievement or change its gamerscore;
    nothing was stored. Promote again with `confirmed=True`."""

    def __init__(self, risks: list[Risk]) -> None:
        super().__init__("; ".join(_risk_text(risk) for risk in risks))
        self.risks = risks


def _risk_text(risk: Risk) -> str:
    players = f"{risk.unlocks} player{'s' if risk.unlocks != 1 else ''}"
    return f"achievement {risk.achievement_id} ({risk.name}), unlocked by {players}: {risk.change}"


# --- the diff (pure) --------------------------------------------------------------------


def shown(value: Any) -> str:
    """A field's value as the diff shows it: strings as they are, the rest as JSON."""
    if value is None:
        return ABSENT
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _flat(item: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Mappings are compared key by key (`localized.fr-FR.name`; an empty one is no
    field at all); lists whole."""
    for key, value in item.items():
        if isinstance(value, Mapping):
            yield from _flat(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Every field whose value differs, in the order of the new item then the old."""
    before, after = dict(_flat(old)), dict(_flat(new))
    names = list(dict.fromkeys([*after, *before]))
    return tuple(
        FieldChange(name, shown(before.get(name)), shown(after.get(name)))
        for name in names
        if before.get(name) != after.get(name)
    )


def _label(item: Mapping[str, Any]) -> str:
    return str(item.get("name", ""))


def _section_changes(
    section: str, key: str, old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> Iterator[ItemChange]:
    before = {str(item[key]): (index, item) for index, item in enumerate(old)}
    after = {str(item[key]): (index, item) for index, item in enumerate(new)}
    for name, (index, item) in after.items():
        if name not in before:
            yield ItemChange(section, name, _label(item), "added")
            continue
        was_index, was = before[name]
        fields = field_changes(was, item)
        if section == "achievements" and was_index != index:
            fields += (FieldChange("display order", str(was_index + 1), str(index + 1)),)
        if fields:
            yield ItemChange(section, name, _label(item), "changed", fields)
    for name, (_, item) in before.items():
        if name not in after:
            yield ItemChange(section, name, _label(item), "removed")


def diff_documents(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> ConfigDiff:
    """What changes from `old` (None: nothing published yet) to `new`: the title's
    fields, then achievements (added, changed with old → new values, removed; a
    moved one shows its display order), events and stats the same way."""
    old = old or {"title": {}}
    items = [
        change
        for section, key in SECTIONS
        for change in _section_changes(
            section, key, list(old.get(section, [])), list(new.get(section, []))
        )
    ]
    return ConfigDiff(field_changes(old["title"], new["title"]), tuple(items))


def risky_changes(
    retail: Mapping[str, Any] | None, new: Mapping[str, Any], unlocks: Mapping[str, int]
) -> list[Risk]:
    """Achievements of `retail` that players unlocked (`unlocks`: achievement id →
    count) which `new` removes or gives another gamerscore."""
    if retail is None:
        return []
    kept = {str(a["id"]): a for a in new["achievements"]}
    risks = []
    for achievement in retail["achievements"]:
        achievement_id = str(achievement["id"])
        count = unlocks.get(achievement_id, 0)
        if count <= 0:
            continue
        now = kept.get(achievement_id)
        if now is None:
            change = "removed"
        elif now["gamerscore"] != achievement["gamerscore"]:
            change = f"gamerscore {achievement['gamerscore']} → {now['gamerscore']}"
        else:
            continue
        risks.append(Risk(achievement_id, _label(achievement), count, change))
    return risks


# --- reading and promoting --------------------------------------------------------------


async def list_versions(conn: AsyncConnection, *, title_id: int) -> list[PublishedVersion]:
    """Every published version of the title, by sandbox, newest first."""
    rows = await conn.execute(
        select(config_versions.c.sandbox, config_versions.c.version, config_versions.c.published_at)
        .where(config_versions.c.title_id == title_id)
        .order_by(config_versions.c.sandbox, config_versions.c.version.desc())
    )
    return [PublishedVersion(r.sandbox, r.version, r.published_at) for r in rows]


async def current_version(
    conn: AsyncConnection, *, title_id: int, sandbox: str
) -> tuple[int, dict[str, Any]] | None:
    """The sandbox's newest version of the title and its document; None if none."""
    newest = (
        await conn.execute(
            select(config_versions.c.version)
            .where(config_versions.c.title_id == title_id, config_versions.c.sandbox == sandbox)
            .order_by(config_versions.c.version.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if newest is None:
        return None
    document = await load_version(conn, sandbox=sandbox, title_id=title_id, version=newest)
    assert document is not None  # read in the same transaction
    return newest, document


async def draft_revision(conn: AsyncConnection, *, title_id: int) -> int:
    """The draft's revision (bumped by every save); NotFound without a draft."""
    revision = (
        await conn.execute(
            select(title_drafts.c.revision).where(title_drafts.c.title_id == title_id)
        )
    ).scalar_one_or_none()
    if revision is None:
        raise NotFound(f"title {title_id} has no configuration; import one first")
    return int(revision)


def is_development(sandbox: str) -> bool:
    return sandbox != RETAIL and is_sandbox_name(sandbox)


async def promote(
    conn: AsyncConnection,
    *,
    title_id: int,
    sandbox: str,
    version: int,
    unlocks: Mapping[str, int],
    confirmed: bool,
    now_us: int,
) -> Promotion:
    """Store version `version` of development sandbox `sandbox`, exactly, as RETAIL's
    next version (`unlocks`: RETAIL's unlock count per achievement id). Raises, with
    nothing stored: InvalidConfig for a source that is not a development sandbox or
    a change the publish rules forbid (no confirmation overrides those); NotFound for
    a version that does not exist; ConfirmationNeeded when the change removes an
    unlocked achievement or changes its gamerscore and `confirmed` is false. When
    RETAIL already has the document, nothing is stored (`unchanged`)."""
    if not is_development(sandbox):
        raise InvalidConfig([f"sandbox: {sandbox!r} is not a development sandbox (DEV.<name>)"])
    document = await load_version(conn, sandbox=sandbox, title_id=title_id, version=version)
    if document is None:
        raise NotFound(f"{sandbox} has no version {version} of title {title_id}")
    retail = await current_version(conn, title_id=title_id, sandbox=RETAIL)
    text = canonical_json(document)
    if retail is not None and canonical_json(retail[1]) == text:
        return Promotion(title_id, sandbox, version, retail[0], unchanged=True, confirmed_risks=())
    if retail is not None and (problems := publish_problems(retail[1], document, RETAIL)):
        raise InvalidConfig(problems)
    risks = risky_changes(retail[1] if retail else None, document, unlocks)
    if risks and not confirmed:
        raise ConfirmationNeeded(risks)
    next_version = 1 if retail is None else retail[0] + 1
    await store_version(
        conn, title_id=title_id, sandbox=RETAIL, version=next_version, document=text, now_us=now_us
    )
    return Promotion(title_id, sandbox, version, next_version, False, tuple(risks))
