"""Import, export and publish a title's configuration; store and serve icons.

A draft is the validated file as a JSON document, with every icon resolved to a
URL or a stored PNG (`media:<sha256>`). Publishing copies the draft into the next
immutable version of one sandbox. Everything here is all-or-nothing: a file with
any error changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from laurels.errors import Conflict, InvalidConfig, NotFound
from laurels.sqlasync import AsyncConnection
from laurels.titles.schemas import (
    INT64_MAX,
    NAME_PATTERN,
    AchievementConfig,
    ConfigFile,
    EventConfig,
    NestedError,
    NestedErrors,
    StatConfig,
    is_sandbox_name,
)
from laurels.titles.tables import config_versions, media, title_drafts, titles

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_ICON_BYTES = 1024 * 1024
RANGES = {
    "gamerscore": "must be 0..200",
    "id": "must be 1..4294967295",
    "target": "must be a 64-bit integer",
    "maxChange": f"must be 1..{INT64_MAX}",
}
PATTERNS = {
    r"^\S+$": "must not contain spaces",
    NAME_PATTERN: "must be a letter then letters, digits or _ (at most 64 characters)",
}
# What a stat counts: none of it may change once the stat is published.
STAT_MEANING = ("event", "measurement", "aggregate", "where")
# Fields whose keys are names, not list indexes.
MAPPINGS = {"localized", "where"}


@dataclass(frozen=True)
class PublishResult:
    title_id: int
    sandbox: str
    version: int
    unchanged: bool


def field_path(loc: tuple[int | str, ...]) -> str:
    """('achievements', 3, 'gamerscore') → 'achievements[3].gamerscore'. A number is a
    list index unless it is a key of a mapping (the file's top level, `localized`)."""
    path = ""
    for previous, part in zip((None, *loc), loc, strict=False):
        index = isinstance(part, int) and previous is not None and previous not in MAPPINGS
        path += f"[{part}]" if index else (f".{part}" if path else str(part))
    return path or "(file)"


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    field = str(error["loc"][-1]) if error["loc"] else ""
    if kind in ("less_than_equal", "greater_than_equal") and field in RANGES:
        return RANGES[field]
    known = {
        "missing": "is required",
        "extra_forbidden": "is not a known field",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters",
        "string_too_short": "must not be empty",
        "too_long": f"must have at most {ctx.get('max_length')} items",
        "too_short": f"must have at least {ctx.get('min_length')} item(s)",
        "int_type": "must be a whole number",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
        "literal_error": f"must be one of {ctx.get('expected')}",
        "model_type": "must be a mapping of fields",
        "model_attributes_type": "must be a mapping of fields",
        "dict_type": "must be a mapping",
        "list_type": "must be a list",
        "invalid_key": "is not a known field (names are strings)",
        "string_pattern_mismatch": PATTERNS.get(
            str(ctx.get("pattern")), f"must match {ctx.get('pattern')}"
        ),
    }
    return known.get(kind) or str(error["msg"]).removeprefix("Value error, ")


def _nested(error: Any) -> list[NestedError]:
    """The parts below the field that a validator named, if it did."""
    found = error.get("ctx", {}).get("error")
    if isinstance(found, NestedErrors):
        return found.errors
    return [found] if isinstance(found, NestedError) else []


def validation_problems(exc: ValidationError) -> list[str]:
    """One line per error, each naming the path of its field."""
    problems = []
    for error in exc.errors():
        loc: tuple[int | str, ...] = tuple(error["loc"])
        if loc and loc[-1] == "[key]":  # a mapping's key, not its value
            problems.append(f"{field_path(loc[:-1])}: the name {_message(error)}")
        elif nested := _nested(error):
            problems.extend(f"{field_path(loc + part.where)}: {part}" for part in nested)
        else:
            problems.append(f"{field_path(loc)}: {_message(error)}")
    return problems


def parse_config(data: Any) -> ConfigFile:
    """Validate a parsed file; raises InvalidConfig listing every problem."""
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise InvalidConfig(validation_problems(exc)) from None


def read_config_file(path: Path) -> ConfigFile:
    """Read a YAML or JSON file (JSON is YAML); raises InvalidConfig on any problem."""
    import yaml  # only commands read files; the service never does

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidConfig([f"{path}: cannot read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise InvalidConfig([f"{path}: not valid YAML or JSON: {exc}"]) from None
    return parse_config(data)


def _read_png(base_dir: Path, reference: str, where: str) -> bytes:
    file = (base_dir / reference).resolve()
    try:
        data = file.read_bytes()
    except OSError:
        raise InvalidConfig([f"{where}: no such file {reference!r}"]) from None
    if not data.startswith(PNG_SIGNATURE):
        raise InvalidConfig([f"{where}: {reference!r} is not a PNG file"])
    if len(data) > MAX_ICON_BYTES:
        raise InvalidConfig([f"{where}: {reference!r} is larger than 1 MiB"])
    return data


def image_fields(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Every image of a draft document: (the path of its field, the mapping that
    holds it, its key there)."""
    for i, achievement in enumerate(document["achievements"]):
        yield f"achievements[{i}].icon", achievement, "icon"
        for j, reward in enumerate(achievement["rewards"]):
            yield f"achievements[{i}].rewards[{j}].image", reward, "image"


def _stored_image(holder: dict[str, Any], key: str) -> str | None:
    """The sha256 of a `media:<sha256>` reference, or None for anything else."""
    reference = holder.get(key)
    if isinstance(reference, str) and reference.startswith("media:"):
        return reference.removeprefix("media:")
    return None


def draft_document(config: ConfigFile) -> dict[str, Any]:
    """The file as a draft document. Empty `events`, `stats` and `requirements` are
    left out, so a title-managed title's document is what it was before they existed
    (and an unchanged file is still an unchanged draft)."""
    document = config.model_dump(mode="json")
    for section in ("events", "stats"):
        if not document[section]:
            del document[section]
    for achievement in document["achievements"]:
        if not achievement["requirements"]:
            del achievement["requirements"]
    return document


def resolve_images(config: ConfigFile, base_dir: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The draft document, with every PNG path replaced by `media:<sha256>`, and the
    PNGs to store. Raises InvalidConfig naming each bad reference."""
    document = draft_document(config)
    pngs: dict[str, bytes] = {}
    problems: list[str] = []

    def resolve(holder: dict[str, Any], key: str, where: str) -> None:
        reference = holder.get(key)
        if not reference or reference.startswith(("http://", "https://", "media:")):
            return
        try:
            data = _read_png(base_dir, reference, where)
        except InvalidConfig as exc:
            problems.extend(exc.problems)
            return
        digest = hashlib.sha256(data).hexdigest()
        pngs[digest] = data
        holder[key] = f"media:{digest}"

    for where, holder, key in image_fields(document):
        resolve(holder, key, where)
    if problems:
        raise InvalidConfig(problems)
    return document, pngs


def media_references(document: dict[str, Any]) -> dict[str, str]:
    """The path of each field that names a stored image → its sha256."""
    found = {where: _stored_image(holder, key) for where, holder, key in image_fields(document)}
    return {where: sha for where, sha in found.items() if sha is not None}


async def import_config(
    conn: AsyncConnection, *, config: ConfigFile, base_dir: Path, now_us: int
) -> tuple[int, str]:
    """Create or update the title's draft from a validated file; returns (title id,
    scid). Raises InvalidConfig (nothing written) for a bad icon or a SCID change."""
    document, pngs = resolve_images(config, base_dir)
    title = config.title
    existing = (
        await conn.execute(select(titles.c.scid).where(titles.c.title_id == title.id))
    ).scalar_one_or_none()
    if existing is not None and title.scid is not None and title.scid != existing:
        raise InvalidConfig([f"title.scid: title {title.id} already has SCID {existing}"])
    scid = existing or title.scid or str(uuid.uuid4())
    taken = (
        await conn.execute(
            select(titles.c.title_id).where(titles.c.scid == scid, titles.c.title_id != title.id)
        )
    ).scalar_one_or_none()
    if taken is not None:
        raise InvalidConfig([f"title.scid: {scid} belongs to title {taken}"])
    await _check_media_exist(conn, document, set(pngs))
    document["title"]["scid"] = scid
    await _store_media(conn, pngs, now_us)
    if existing is None:
        await conn.execute(
            titles.insert().values(title_id=title.id, scid=scid, name=title.name, created_at=now_us)
        )
    else:
        await conn.execute(
            titles.update().where(titles.c.title_id == title.id).values(name=title.name)
        )
    await _save_draft(conn, title.id, document, now_us)
    return title.id, scid


async def _check_media_exist(
    conn: AsyncConnection, document: dict[str, Any], new: set[str]
) -> None:
    """Raise InvalidConfig naming each field whose `media:<sha256>` is not stored."""
    wanted = {where: sha for where, sha in media_references(document).items() if sha not in new}
    if not wanted:
        return
    query = select(media.c.sha256).where(media.c.sha256.in_(set(wanted.values())))
    stored = set((await conn.execute(query)).scalars())
    if missing := [
        f"{where}: no stored image media:{sha}"
        for where, sha in wanted.items()
        if sha not in stored
    ]:
        raise InvalidConfig(missing)


async def _store_media(conn: AsyncConnection, pngs: dict[str, bytes], now_us: int) -> None:
    if not pngs:
        return
    stored = set(
        (await conn.execute(select(media.c.sha256).where(media.c.sha256.in_(list(pngs))))).scalars()
    )
    rows = [
        {"sha256": sha, "content_type": "image/png", "data": data, "created_at": now_us}
        for sha, data in pngs.items()
        if sha not in stored
    ]
    if rows:
        await conn.execute(media.insert(), rows)


async def _save_draft(
    conn: AsyncConnection, title_id: int, document: dict[str, Any], now_us: int
) -> None:
    text = canonical_json(document)
    updated = await conn.execute(
        title_drafts.update()
        .where(title_drafts.c.title_id == title_id)
        .values(document=text, updated_at=now_us, revision=title_drafts.c.revision + 1)
    )
    if updated.rowcount == 0:
        await conn.execute(
            title_drafts.insert().values(title_id=title_id, document=text, updated_at=now_us)
        )


def canonical_json(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def load_draft(conn: AsyncConnection, *, title_id: int) -> dict[str, Any]:
    """The title's draft document; NotFound when the title was never imported."""
    text = (
        await conn.execute(
            select(title_drafts.c.document).where(title_drafts.c.title_id == title_id)
        )
    ).scalar_one_or_none()
    if text is None:
        raise NotFound(f"title {title_id} has no configuration; import one first")
    document: dict[str, Any] = json.loads(text)
    return document


async def export_config(conn: AsyncConnection, *, title_id: int) -> str:
    """The draft as YAML, in the file format (stored icons as `media:<sha256>`)."""
    import yaml

    document = await load_draft(conn, title_id=title_id)
    return yaml.safe_dump(_without_defaults(document), sort_keys=False, allow_unicode=True)


def _without_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """The file's sections in spec order, each item without the fields it has at
    their default values (but always with the fields a file must give)."""
    minimal = [
        ("events", EventConfig(name="x"), {"name"}),
        ("stats", StatConfig(name="x", event="x", aggregate="sum"), {"name", "event", "aggregate"}),
        (
            "achievements",
            AchievementConfig(
                id="x", name="x", lockedDescription="x", description="x", gamerscore=0
            ),
            {"id", "name", "lockedDescription", "description", "gamerscore"},
        ),
    ]
    exported = {"title": document["title"]}
    for section, model, required in minimal:
        defaults = model.model_dump(mode="json")
        if document.get(section):
            exported[section] = [
                {
                    k: v
                    for k, v in item.items()
                    if k in required or k not in defaults or v != defaults[k]
                }
                for item in document[section]
            ]
    return exported


def publish_problems(published: dict[str, Any], draft: dict[str, Any], sandbox: str) -> list[str]:
    """Why `draft` may not follow the `published` version in `sandbox` (spec/events.md):
    a title's kind never changes, and a published stat keeps its meaning: its event,
    measurement, aggregate and filter, and it is never removed (removing it and adding
    it again later would change its meaning). An empty list: it may."""
    problems = []
    kind = published["title"]["kind"]
    if draft["title"]["kind"] != kind:
        problems.append(
            f"title.kind: the title is published in {sandbox} as {kind}; "
            "a title's kind never changes"
        )
    drafted = {stat["name"]: (index, stat) for index, stat in enumerate(draft.get("stats", []))}
    for stat in published.get("stats", []):
        name = stat["name"]
        if name not in drafted:
            problems.append(
                f"stats: stat {name!r} is published in {sandbox}; a published stat is never removed"
            )
            continue
        index, now = drafted[name]
        problems.extend(
            f"stats[{index}].{key}: stat {name!r} is published in {sandbox} with "
            f"{key} {stat.get(key)!r}; a published stat's meaning never changes "
            "(add a new stat instead)"
            for key in STAT_MEANING
            if now.get(key) != stat.get(key)
        )
    return problems


async def publish(
    conn: AsyncConnection, *, title_id: int, sandbox: str, now_us: int
) -> PublishResult:
    """Freeze the draft as the next version in `sandbox`. Publishing an unchanged
    draft again creates nothing and returns the current version. Raises InvalidConfig
    (nothing published) when the draft changes the title's kind or a published stat's
    meaning (publish_problems)."""
    if not is_sandbox_name(sandbox):
        raise InvalidConfig([f"sandbox: {sandbox!r} is not RETAIL or DEV.<name>"])
    document = canonical_json(await load_draft(conn, title_id=title_id))
    latest = (
        await conn.execute(
            select(config_versions.c.version, config_versions.c.document)
            .where(config_versions.c.sandbox == sandbox, config_versions.c.title_id == title_id)
            .order_by(config_versions.c.version.desc())
            .limit(1)
        )
    ).first()
    if latest is not None and latest.document == document:
        return PublishResult(title_id, sandbox, latest.version, unchanged=True)
    if latest is not None and (
        problems := publish_problems(json.loads(latest.document), json.loads(document), sandbox)
    ):
        raise InvalidConfig(problems)
    version = 1 if latest is None else latest.version + 1
    await store_version(
        conn, title_id=title_id, sandbox=sandbox, version=version, document=document, now_us=now_us
    )
    return PublishResult(title_id, sandbox, version, unchanged=False)


async def store_version(
    conn: AsyncConnection, *, title_id: int, sandbox: str, version: int, document: str, now_us: int
) -> None:
    """Write a published version (canonical JSON). Conflict, with nothing written,
    when another publish to the sandbox took that version number first."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                config_versions.insert().values(
                    sandbox=sandbox,
                    title_id=title_id,
                    version=version,
                    document=document,
                    published_at=now_us,
                )
            )
    except IntegrityError:
        raise Conflict(
            f"title {title_id} was published to {sandbox} by someone else at the same "
            "time; look at the changes again and publish"
        ) from None


@dataclass(frozen=True)
class TitleSummary:
    """A title as the portal lists it: its draft's revision and when it was saved,
    and the newest published version in each sandbox (sandbox → (version, when))."""

    title_id: int
    name: str
    scid: str
    kind: str
    revision: int
    updated_at: int
    published: dict[str, tuple[int, int]]


async def list_titles(conn: AsyncConnection) -> list[TitleSummary]:
    """Every title with a draft, by id."""
    drafts = await conn.execute(
        select(
            titles.c.title_id,
            titles.c.name,
            titles.c.scid,
            title_drafts.c.document,
            title_drafts.c.revision,
            title_drafts.c.updated_at,
        )
        .join(title_drafts, title_drafts.c.title_id == titles.c.title_id)
        .order_by(titles.c.title_id)
    )
    published: dict[int, dict[str, tuple[int, int]]] = {}
    versions = await conn.execute(
        select(
            config_versions.c.title_id,
            config_versions.c.sandbox,
            config_versions.c.version,
            config_versions.c.published_at,
        ).order_by(config_versions.c.version)
    )
    for row in versions:
        published.setdefault(row.title_id, {})[row.sandbox] = (row.version, row.published_at)
    return [
        TitleSummary(
            row.title_id,
            row.name,
            row.scid,
            json.loads(row.document)["title"].get("kind", "title-managed"),
            row.revision,
            row.updated_at,
            dict(sorted(published.get(row.title_id, {}).items())),
        )
        for row in drafts
    ]


async def read_media(conn: AsyncConnection, *, sha256: str) -> bytes:
    data = (
        await conn.execute(select(media.c.data).where(media.c.sha256 == sha256))
    ).scalar_one_or_none()
    if data is None:
        raise NotFound("no such image")
    return bytes(data)


async def latest_versions(conn: AsyncConnection) -> dict[tuple[str, int], int]:
    """(sandbox, title id) → newest published version."""
    rows = await conn.execute(
        select(
            config_versions.c.sandbox,
            config_versions.c.title_id,
            func.max(config_versions.c.version),
        ).group_by(config_versions.c.sandbox, config_versions.c.title_id)
    )
    return {(row[0], row[1]): row[2] for row in rows}


async def load_version(
    conn: AsyncConnection, *, sandbox: str, title_id: int, version: int
) -> dict[str, Any] | None:
    text = (
        await conn.execute(
            select(config_versions.c.document).where(
                config_versions.c.sandbox == sandbox,
                config_versions.c.title_id == title_id,
                config_versions.c.version == version,
            )
        )
    ).scalar_one_or_none()
    if text is None:
        return None
    document: dict[str, Any] = json.loads(text)
    return document


# --- drafts with revisions (the portal) ------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A title's draft document and the revision it is at (counts its saves)."""

    title_id: int
    document: dict[str, Any]
    revision: int
    updated_at: int


class StaleDraft(Conflict):
    """A save based on an older revision than the draft's: `current` is the draft as
    it is now, unchanged."""

    def __init__(self, current: Draft, expected: int) -> None:
        super().__init__(
            f"title {current.title_id}'s draft is at revision {current.revision}, "
            f"not {expected}: someone else saved it since"
        )
        self.current, self.expected = current, expected


async def load_draft_revision(
    conn: AsyncConnection, *, title_id: int, for_update: bool = False
) -> Draft:
    """The title's draft with its revision (`for_update`: the row locked until the
    transaction ends, on PostgreSQL). NotFound when the title has no draft."""
    query = select(
        title_drafts.c.document, title_drafts.c.revision, title_drafts.c.updated_at
    ).where(title_drafts.c.title_id == title_id)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise NotFound(f"title {title_id} has no configuration; import one first")
    return Draft(title_id, json.loads(row.document), row.revision, row.updated_at)


def _stored_images_only(document: dict[str, Any]) -> list[str]:
    """A draft edited in the portal names an image by URL or as a stored image
    (`media:<sha256>`): a path would be read from the server's own disk."""
    return [
        f"{where}: upload the image, or give an http(s) URL or media:<sha256>"
        for where, holder, key in image_fields(document)
        if holder.get(key) and not holder[key].startswith(("http://", "https://", "media:"))
    ]


async def save_draft_revision(
    conn: AsyncConnection,
    *,
    title_id: int,
    document: dict[str, Any],
    expected_revision: int,
    images: dict[str, bytes] | None = None,
    now_us: int,
) -> Draft:
    """Replace the draft with `document` (validated as an imported file is, so the
    same `path: message` problems) and store `images` (sha256 → PNG) with it, if the
    draft is still at `expected_revision`. Raises InvalidConfig (nothing written) for
    a bad document, a changed title id or SCID or an unknown image; StaleDraft
    (nothing written) when another save came first. Returns the saved draft."""
    current = await load_draft_revision(conn, title_id=title_id, for_update=True)
    if current.revision != expected_revision:
        raise StaleDraft(current, expected_revision)
    config = parse_config(document)
    saved = draft_document(config)
    problems = _stored_images_only(saved)
    if config.title.id != title_id:
        problems.append(f"title.id: this is title {title_id}'s draft")
    scid = current.document["title"]["scid"]
    if config.title.scid not in (None, scid):
        problems.append(f"title.scid: title {title_id} has SCID {scid}")
    if problems:
        raise InvalidConfig(problems)
    saved["title"]["scid"] = scid
    await _check_media_exist(conn, saved, set(images or {}))
    await _store_media(conn, images or {}, now_us)
    await conn.execute(
        titles.update().where(titles.c.title_id == title_id).values(name=config.title.name)
    )
    await _save_draft(conn, title_id, saved, now_us)
    return Draft(title_id, saved, current.revision + 1, now_us)


async def create_title(conn: AsyncConnection, *, config: ConfigFile, now_us: int) -> Draft:
    """A new title with `config` as its draft (revision 1). Raises InvalidConfig
    (nothing written) when the id or SCID is taken or an image is not stored."""
    existing = await conn.execute(
        select(titles.c.title_id).where(titles.c.title_id == config.title.id)
    )
    if existing.first() is not None:
        raise InvalidConfig([f"title.id: title {config.title.id} already exists"])
    problems = _stored_images_only(draft_document(config))
    if problems:
        raise InvalidConfig(problems)
    await import_config(conn, config=config, base_dir=Path("."), now_us=now_us)
    return await load_draft_revision(conn, title_id=config.title.id)


def parse_config_text(text: str) -> ConfigFile:
    """Validate an uploaded YAML or JSON file's text; raises InvalidConfig listing
    every problem (as `laurels config import` does)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidConfig([f"(file): not valid YAML or JSON: {exc}"]) from None
    return parse_config(data)


async def import_uploaded(
    conn: AsyncConnection, *, title_id: int, text: str, expected_revision: int, now_us: int
) -> Draft:
    """Replace the draft with an uploaded file, as `laurels config import` does (all
    or nothing), if the draft is still at `expected_revision`. The file must be this
    title's and name images by URL or `media:<sha256>` (an upload has no folder of
    PNGs). Raises InvalidConfig or StaleDraft, nothing written."""
    current = await load_draft_revision(conn, title_id=title_id, for_update=True)
    if current.revision != expected_revision:
        raise StaleDraft(current, expected_revision)
    config = parse_config_text(text)
    problems = _stored_images_only(draft_document(config))
    if config.title.id != title_id:
        problems.append(f"title.id: the file is title {config.title.id}'s, not {title_id}'s")
    if problems:
        raise InvalidConfig(problems)
    await import_config(conn, config=config, base_dir=Path("."), now_us=now_us)
    return await load_draft_revision(conn, title_id=title_id)
