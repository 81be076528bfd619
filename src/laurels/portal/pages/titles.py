"""A title's draft: create a title, edit its title section, achievements and, for an
event-based title, events and stats; upload a configuration file, download the
draft as YAML, upload icons and preview them as a player sees them.

Every edit builds the whole new document and saves it through
`titles.service.save_draft_revision`: validated as an imported file is (its
`path: message` problems shown next to the field of the form they name, the rest in
the summary), and refused with the difference shown when the draft's revision moved
on since the form was loaded. Viewers read; editors change; every change is audited
in the transaction that makes it.

The readers and writers of form fields, per part of the document, are pure and
live in `portal/drafts.py`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from laurels.errors import InvalidConfig, NotFound
from laurels.portal import accounts, icons
from laurels.portal.accounts import Session
from laurels.portal.drafts import (
    BLANK,
    MAX_REQUIREMENTS,
    SECTIONS,
    Fields,
    Section,
    differences,
    starter_config,
    tie,
)
from laurels.portal.web import (
    Editor,
    PageError,
    Viewer,
    audited,
    portal_runtime,
    read_form,
    redirect,
    render,
)
from laurels.sqlasync import AsyncConnection
from laurels.titles import SECRET_NAME
from laurels.titles import service as titles
from laurels.titles.service import Draft, StaleDraft
from laurels.web.pages import SECURITY_HEADERS
from laurels.wire.times import now_micros

router = APIRouter()
TitleId = Annotated[int, Path(ge=1, le=0xFFFFFFFF)]
Index = Annotated[int, Path(ge=0, le=999)]
SHA = re.compile(r"^[0-9a-f]{64}$")
AGGREGATES = ("sum", "min", "max")
KINDS = ("title-managed", "event-based")


async def load_draft(request: Request, title_id: int) -> dict[str, Any]:
    """The title's draft document; the 404 page when there is none."""
    return (await load_revision(request, title_id)).document


async def load_revision(request: Request, title_id: int) -> Draft:
    """The title's draft and its revision; the 404 page when there is none."""
    try:
        async with portal_runtime(request).db.read() as conn:
            return await titles.load_draft_revision(conn, title_id=title_id)
    except NotFound:
        raise PageError(404, "No such title", f"There is no title {title_id}.") from None


# --- saving ---------------------------------------------------------------------------

Change = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Outcome:
    """What a save came to: the saved draft, its problems, or the newer draft."""

    saved: Draft | None = None
    problems: list[str] = field(default_factory=list)
    stale: StaleDraft | None = None


async def save(
    request: Request,
    session: Session,
    title_id: int,
    revision: int,
    change: Change,
    detail: str,
    images: dict[str, bytes] | None = None,
) -> Outcome:
    """Apply `change` to the draft at `revision` and save it with an audit entry, in
    one transaction; nothing is written when it is invalid or stale."""
    now = now_micros()

    async def work(conn: AsyncConnection) -> Draft:
        current = await titles.load_draft_revision(conn, title_id=title_id, for_update=True)
        draft = await titles.save_draft_revision(
            conn,
            title_id=title_id,
            document=change(copy.deepcopy(current.document)),
            expected_revision=revision,
            images=images,
            now_us=now,
        )
        await _audit(conn, session, title_id, f"{detail} (revision {draft.revision})", now)
        return draft

    try:
        return Outcome(saved=await portal_runtime(request).db.run_write(work))
    except StaleDraft as exc:
        return Outcome(stale=exc)
    except InvalidConfig as exc:
        return Outcome(problems=exc.problems)
    except NotFound:
        raise PageError(404, "No such title", f"There is no title {title_id}.") from None


async def _audit(
    conn: AsyncConnection, session: Session, title_id: int, detail: str, now: int
) -> None:
    await accounts.record(
        conn,
        actor=session.user.email,
        action="draft changed",
        target=f"title {title_id}",
        detail=detail,
        now_us=now,
    )


def _revision(form: FormData) -> int:
    value = form.get("revision")
    if not isinstance(value, str) or not value.isdigit():
        raise PageError(400, "Not a draft form", "The form does not say which revision it edits.")
    return int(value)


def stale_page(
    request: Request, title_id: int, stale: StaleDraft, asked: str, rows: list[tuple[str, str, str]]
) -> Response:
    """The 409 page: the draft moved on; what it holds now against what they sent."""
    current = stale.current
    return render(
        request,
        "titles/stale.html",
        status=409,
        title_id=title_id,
        title_name=current.document["title"]["name"],
        area="draft",
        current=current,
        expected=stale.expected,
        asked=asked,
        rows=rows,
        order={
            key: [SECTIONS[key].label(i) for i in current.document.get(key, [])] for key in SECTIONS
        },
    )


@router.get("/titles/new", include_in_schema=False)
async def new_title(request: Request, session: Editor) -> Response:
    values = {"title.kind": "title-managed", "title.defaultLocale": "en-US"}
    return render(request, "titles/new.html", values=values, errors={}, elsewhere=[], kinds=KINDS)


@router.post("/titles/new", include_in_schema=False)
async def create_title(request: Request, session: Editor) -> Response:
    fields = Fields(await read_form(request))
    config = starter_config(fields)

    async def create(conn: AsyncConnection) -> Draft:
        return await titles.create_title(
            conn, config=titles.parse_config(config), now_us=now_micros()
        )

    try:
        draft = await audited(
            request,
            session,
            create,
            action="title created",
            target=lambda d: f"title {d.title_id}",
            detail=lambda d: f"{d.document['title']['name']} ({d.document['title']['kind']})",
        )
    except InvalidConfig as exc:
        errors, elsewhere = tie(exc.problems, fields.names, {})
        return render(
            request,
            "titles/new.html",
            status=422,
            values=fields.values(),
            errors=errors,
            elsewhere=elsewhere,
            kinds=KINDS,
        )
    return redirect(
        request,
        f"/portal/titles/{draft.title_id}",
        flash=f"Title {draft.title_id} created with one achievement to edit (revision 1).",
    )


# --- the draft page -------------------------------------------------------------------


async def draft_page(
    request: Request,
    title_id: int,
    *,
    status: int = 200,
    draft: Draft | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    elsewhere: list[str] | None = None,
) -> Response:
    draft = draft or await load_revision(request, title_id)
    title = draft.document["title"]
    return render(
        request,
        "titles/draft.html",
        status=status,
        title_id=title_id,
        title_name=title["name"],
        area="draft",
        draft=draft,
        document=draft.document,
        values=values
        or {
            "title.name": title["name"],
            "title.defaultLocale": title.get("defaultLocale", "en-US"),
        },
        errors=errors or {},
        elsewhere=elsewhere or [],
        limits=icons.LIMITS,
    )


@router.get("/titles/{title_id}", include_in_schema=False)
async def draft(request: Request, session: Viewer, title_id: TitleId) -> Response:
    return await draft_page(request, title_id)


@router.post("/titles/{title_id}/title", include_in_schema=False)
async def edit_title(request: Request, session: Editor, title_id: TitleId) -> Response:
    form = await read_form(request)
    fields = Fields(form)
    name, locale = fields.text("title.name"), fields.text("title.defaultLocale")

    def change(document: dict[str, Any]) -> dict[str, Any]:
        document["title"] |= {"name": name, "defaultLocale": locale}
        return document

    outcome = await save(
        request,
        session,
        title_id,
        _revision(form),
        change,
        f"title: name {name!r}, default locale {locale}",
    )
    if outcome.stale:
        theirs = {"name": name, "defaultLocale": locale}
        now = {k: outcome.stale.current.document["title"].get(k) for k in theirs}
        return stale_page(
            request,
            title_id,
            outcome.stale,
            "change the title's name and default language",
            differences(now, theirs, "title"),
        )
    if outcome.problems:
        errors, elsewhere = tie(outcome.problems, fields.names, {})
        return await draft_page(
            request,
            title_id,
            status=422,
            values=fields.values(),
            errors=errors,
            elsewhere=elsewhere,
        )
    return redirect(request, f"/portal/titles/{title_id}", flash="The title is saved.")


@router.get("/titles/{title_id}/export.yaml", include_in_schema=False)
async def export(request: Request, session: Viewer, title_id: TitleId) -> Response:
    try:
        async with portal_runtime(request).db.read() as conn:
            text = await titles.export_config(conn, title_id=title_id)
    except NotFound:
        raise PageError(404, "No such title", f"There is no title {title_id}.") from None
    headers = {
        **SECURITY_HEADERS,
        "Content-Disposition": f'attachment; filename="title-{title_id}.yaml"',
    }
    return Response(text, media_type="application/yaml; charset=utf-8", headers=headers)


@router.post("/titles/{title_id}/upload", include_in_schema=False)
async def upload(request: Request, session: Editor, title_id: TitleId) -> Response:
    return await closing_uploads(request, lambda form: _upload(request, form, session, title_id))


async def _upload(request: Request, form: FormData, session: Session, title_id: int) -> Response:
    file = form.get("file")
    revision = _revision(form)
    if not isinstance(file, UploadFile) or not file.filename:
        return await draft_page(
            request, title_id, status=422, errors={"file": "choose a YAML or JSON file"}
        )
    try:
        text = (await file.read()).decode("utf-8")
    except UnicodeDecodeError:
        return await draft_page(
            request, title_id, status=422, errors={"file": "the file is not UTF-8 text"}
        )
    now = now_micros()

    async def replace(conn: AsyncConnection) -> Draft:
        return await titles.import_uploaded(
            conn, title_id=title_id, text=text, expected_revision=revision, now_us=now
        )

    try:
        draft = await audited(
            request,
            session,
            replace,
            action="draft imported",
            target=f"title {title_id}",
            detail=lambda d: f"from {file.filename} (revision {d.revision})",
        )
    except StaleDraft as exc:
        return stale_page(request, title_id, exc, f"replace the draft with {file.filename}", [])
    except InvalidConfig as exc:
        return await draft_page(
            request,
            title_id,
            status=422,
            elsewhere=[f"{file.filename}: nothing imported", *exc.problems],
        )
    return redirect(
        request,
        f"/portal/titles/{title_id}",
        flash=f"The draft is now {file.filename} (revision {draft.revision}).",
    )


@router.get("/titles/{title_id}/icons/{sha}/locked.png", include_in_schema=False)
async def locked_icon(request: Request, session: Viewer, title_id: TitleId, sha: str) -> Response:
    """A stored icon greyed, as a locked achievement shows it."""
    if not SHA.fullmatch(sha):
        raise PageError(404, "No such image", "There is no such image.")
    try:
        async with portal_runtime(request).db.read() as conn:
            png = await titles.read_media(conn, sha256=sha)
    except NotFound:
        raise PageError(404, "No such image", "There is no such image.") from None
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, max-age=31536000, immutable"}
    return Response(icons.greyed(png), media_type="image/png", headers=headers)


# --- items of a section: add, edit, move, remove --------------------------------------


def _section_of(document: dict[str, Any], section: Section, title_id: int) -> list[dict[str, Any]]:
    if section.event_based_only and document["title"].get("kind") != "event-based":
        raise PageError(
            404,
            "Not an event-based title",
            f"Title {title_id} is title-managed: it has no {section.key}.",
        )
    items: list[dict[str, Any]] = document.get(section.key, [])
    return items


def item_page(
    request: Request,
    section: Section,
    draft: Draft,
    index: int,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    elsewhere: list[str] | None = None,
) -> Response:
    document = draft.document
    items = _section_of(document, section, draft.title_id)
    if index > len(items) or (index == len(items) and values is None and not _adding(request)):
        raise PageError(
            404,
            f"No such {section.noun}",
            f"The draft has no {section.noun} at position {index + 1}.",
        )
    item = items[index] if index < len(items) else BLANK[section.key]
    prefix = f"{section.key}[{index}]"
    return render(
        request,
        f"titles/{section.noun}.html",
        status=status,
        title_id=draft.title_id,
        title_name=document["title"]["name"],
        area="draft",
        draft=draft,
        document=document,
        index=index,
        adding=index == len(items),
        item=item,
        p=prefix,
        v=values if values is not None else section.values(item, prefix),
        errors=errors or {},
        elsewhere=elsewhere or [],
        limits=icons.LIMITS,
        event_options=[("", "choose")]
        + [(e["name"], e["name"]) for e in document.get("events", [])],
        stat_options=[("", "none")] + [(s["name"], s["name"]) for s in document.get("stats", [])],
        aggregates=AGGREGATES,
        max_requirements=MAX_REQUIREMENTS,
        secret_name=SECRET_NAME,
    )


def _adding(request: Request) -> bool:
    return request.url.path.endswith("/new")


def _icon_upload(form: FormData, name: str) -> UploadFile | None:
    file = form.get(name)
    return file if isinstance(file, UploadFile) and file.filename else None


async def closing_uploads(
    request: Request, page: Callable[[FormData], Awaitable[Response]]
) -> Response:
    """`page` of the request's form; the form's uploaded files closed after it
    (Starlette spools them to temporary files)."""
    form = await read_form(request)
    try:
        return await page(form)
    finally:
        for value in form.values():
            if isinstance(value, UploadFile):
                await value.close()


async def save_item(
    request: Request, session: Session, section: Section, title_id: int, index: int
) -> Response:
    return await closing_uploads(
        request, lambda form: _save_item(request, form, session, section, title_id, index)
    )


async def _save_item(
    request: Request, form: FormData, session: Session, section: Section, title_id: int, index: int
) -> Response:
    fields, revision = Fields(form), _revision(form)
    base = await load_revision(request, title_id)
    items = _section_of(base.document, section, title_id)
    if index > len(items):
        raise PageError(
            404,
            f"No such {section.noun}",
            f"The draft has no {section.noun} at position {index + 1}.",
        )
    prefix = f"{section.key}[{index}]"
    built = section.build(fields, prefix, base.document["title"].get("kind", "title-managed"))
    images: dict[str, bytes] = {}
    if section.key == "achievements" and (upload := _icon_upload(form, f"{prefix}.iconFile")):
        fields.names.add(f"{prefix}.iconFile")
        try:
            png = icons.reencode(await upload.read(icons.MAX_BYTES + 1))
        except icons.IconRefused as exc:
            return item_page(
                request,
                section,
                base,
                index,
                status=422,
                values=fields.values(),
                errors={f"{prefix}.iconFile": str(exc)},
            )
        images[icons.sha256_of(png)] = png
        built.item["icon"] = f"media:{icons.sha256_of(png)}"
        built.aliases[f"{prefix}.icon"] = f"{prefix}.iconFile"
    adding = index == len(items)

    def change(document: dict[str, Any]) -> dict[str, Any]:
        listed = document.setdefault(section.key, [])
        if index < len(listed):
            listed[index] = built.item
        else:
            listed.append(built.item)
        return document

    what = f"{section.noun} {section.label(built.item)} {'added' if adding else 'edited'}"
    outcome = await save(request, session, title_id, revision, change, what, images)
    if outcome.stale:
        current_items = outcome.stale.current.document.get(section.key, [])
        current = current_items[index] if index < len(current_items) else None
        return stale_page(
            request,
            title_id,
            outcome.stale,
            f"save {what.rsplit(' ', 1)[0]}",
            differences(current, built.item, prefix),
        )
    if outcome.problems:
        errors, elsewhere = tie(outcome.problems, fields.names, built.aliases)
        return item_page(
            request,
            section,
            base,
            index,
            status=422,
            values=fields.values(),
            errors=errors,
            elsewhere=elsewhere,
        )
    assert outcome.saved is not None
    flash = f"{what.capitalize()} (revision {outcome.saved.revision})."
    return redirect(request, f"/portal/titles/{title_id}/{section.key}/{index}", flash=flash)


async def reorder(
    request: Request, session: Session, section: Section, title_id: int, index: int, action: str
) -> Response:
    """Move an item up or down, or remove it."""
    form = await read_form(request)
    revision = _revision(form)
    step = {"up": -1, "down": 1}.get(str(form.get("direction", "")), 0)
    named = str(form.get("item", ""))

    def change(document: dict[str, Any]) -> dict[str, Any]:
        items = _section_of(document, section, title_id)
        if index >= len(items) or (action == "move" and not 0 <= index + step < len(items)):
            raise PageError(
                404, f"No such {section.noun}", f"The draft has no {section.noun} there."
            )
        if action == "remove":
            del items[index]
        else:
            items[index], items[index + step] = items[index + step], items[index]
        return document

    direction = "up" if step < 0 else "down"
    what = f"{section.noun} {named} {'removed' if action == 'remove' else f'moved {direction}'}"
    outcome = await save(request, session, title_id, revision, change, what)
    if outcome.stale:
        return stale_page(
            request,
            title_id,
            outcome.stale,
            what.replace(" removed", "").replace(" moved", ": move")
            if action == "move"
            else f"remove {section.noun} {named}",
            [],
        )
    if outcome.problems:
        return await draft_page(
            request,
            title_id,
            status=422,
            elsewhere=[f"The {what} was not saved:", *outcome.problems],
        )
    return redirect(
        request, f"/portal/titles/{title_id}#{section.key}", flash=f"{what.capitalize()}."
    )


def _routes(section: Section) -> None:
    base = f"/titles/{{title_id}}/{section.key}"

    @router.get(f"{base}/new", include_in_schema=False)
    async def new_item(request: Request, session: Editor, title_id: TitleId) -> Response:
        draft = await load_revision(request, title_id)
        return item_page(
            request, section, draft, len(_section_of(draft.document, section, title_id))
        )

    @router.get(f"{base}/{{index}}", include_in_schema=False)
    async def show_item(
        request: Request, session: Viewer, title_id: TitleId, index: Index
    ) -> Response:
        return item_page(request, section, await load_revision(request, title_id), index)

    @router.post(f"{base}/{{index}}", include_in_schema=False)
    async def edit_item(
        request: Request, session: Editor, title_id: TitleId, index: Index
    ) -> Response:
        return await save_item(request, session, section, title_id, index)

    @router.post(f"{base}/{{index}}/move", include_in_schema=False)
    async def move_item(
        request: Request, session: Editor, title_id: TitleId, index: Index
    ) -> Response:
        return await reorder(request, session, section, title_id, index, "move")

    @router.post(f"{base}/{{index}}/remove", include_in_schema=False)
    async def remove_item(
        request: Request, session: Editor, title_id: TitleId, index: Index
    ) -> Response:
        return await reorder(request, session, section, title_id, index, "remove")


for _section in SECTIONS.values():
    _routes(_section)
