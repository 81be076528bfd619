"""Publishing a title: every published version; the draft's changes against a
development sandbox and publishing it there; promoting a tested development version
to RETAIL.

Everyone signed in sees versions and changes; only publishers see the controls, and
a POST from anyone else is refused (403) before anything is read. Every publish and
promotion is audited in the transaction that stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from laurels.errors import InvalidConfig, LaurelsError
from laurels.portal import accounts
from laurels.portal.accounts import Session
from laurels.portal.pages.titles import TitleId, load_draft
from laurels.portal.web import Publisher, Viewer, portal_runtime, read_form, redirect, render
from laurels.progress import service as progress
from laurels.sqlasync import AsyncConnection
from laurels.titles import (
    RETAIL,
    ConfigDiff,
    ConfirmationNeeded,
    Promotion,
    PublishedVersion,
    Risk,
    current_version,
    diff_documents,
    draft_revision,
    is_development,
    list_versions,
    risky_changes,
)
from laurels.titles import promote as promote_version
from laurels.titles import service as titles
from laurels.wire.times import now_micros

router = APIRouter()
DEFAULT_SANDBOX = "DEV.1"


@dataclass(frozen=True)
class Review:
    """What a page shows of one publish or promotion before it is done."""

    target: str
    current: int | None  # the target's newest version, if any
    diff: ConfigDiff
    problems: list[str]  # publish rules the change breaks (nothing overrides them)
    risks: list[Risk]  # RETAIL changes that need a confirmation


def _where(title_id: int, *parts: str) -> str:
    return "/".join([f"/portal/titles/{title_id}/publish", *parts])


def _source_text(sandbox: str, version: int) -> str:
    return f"{sandbox}:{version}"


def _parse_source(value: str) -> tuple[str, int] | None:
    """'DEV.1:3' → ('DEV.1', 3); None for anything else."""
    sandbox, _, version = value.partition(":")
    if not is_development(sandbox) or not version.isdigit():
        return None
    return sandbox, int(version)


async def _unlocks(conn: AsyncConnection, scid: str) -> dict[str, int]:
    """RETAIL's unlock count per achievement id of the title."""
    stats = await progress.read_stats(conn, sandbox=RETAIL, scids=[scid])
    return {achievement_id: count for (_, achievement_id), count in stats.unlocks.items()}


async def _review(
    conn: AsyncConnection, title_id: int, target: str, document: dict[str, Any]
) -> Review:
    current = await current_version(conn, title_id=title_id, sandbox=target)
    published = current[1] if current else None
    problems = titles.publish_problems(published, document, target) if published else []
    risks: list[Risk] = []
    if target == RETAIL:
        unlocks = await _unlocks(conn, document["title"]["scid"])
        risks = risky_changes(published, document, unlocks)
    diff = diff_documents(published, document)
    return Review(target, current[0] if current else None, diff, problems, risks)


def _development(versions: list[PublishedVersion]) -> list[str]:
    return sorted({v.sandbox for v in versions if v.sandbox != RETAIL})


# --- the draft to a development sandbox -------------------------------------------------


async def _draft_page(
    request: Request,
    title_id: int,
    sandbox: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    refusal: list[str] | None = None,
) -> Response:
    document = await load_draft(request, title_id)
    async with portal_runtime(request).db.read() as conn:
        versions = await list_versions(conn, title_id=title_id)
        revision = await draft_revision(conn, title_id=title_id)
        valid = is_development(sandbox)
        review = await _review(conn, title_id, sandbox, document) if valid else None
    return render(
        request,
        "publishing/versions.html",
        status=status,
        title_id=title_id,
        title_name=document["title"]["name"],
        area="publish",
        versions=versions,
        sandboxes=_development(versions),
        sandbox=sandbox,
        revision=revision,
        review=review,
        errors=errors or {},
        refusal=refusal or [],
    )


def _sandbox_error(sandbox: str) -> str | None:
    if sandbox == RETAIL:
        return (
            "RETAIL gets a version tested in a development sandbox: promote one on the RETAIL page."
        )
    if not is_development(sandbox):
        return "Give a development sandbox: DEV. then 1 to 32 letters, digits, _ or -."
    return None


@router.get("/titles/{title_id}/publish", include_in_schema=False)
async def versions(
    request: Request, session: Viewer, title_id: TitleId, sandbox: str = DEFAULT_SANDBOX
) -> Response:
    sandbox = sandbox.strip()
    problem = _sandbox_error(sandbox)
    errors = {"sandbox": problem} if problem else {}
    return await _draft_page(
        request, title_id, sandbox, status=400 if problem else 200, errors=errors
    )


@router.post("/titles/{title_id}/publish", include_in_schema=False)
async def publish_draft(request: Request, session: Publisher, title_id: TitleId) -> Response:
    form = await read_form(request)
    sandbox = str(form.get("sandbox", "")).strip()
    reviewed = str(form.get("revision", ""))
    if problem := _sandbox_error(sandbox):
        return await _draft_page(
            request, title_id, sandbox, status=400, errors={"sandbox": problem}
        )

    async def work(conn: AsyncConnection) -> titles.PublishResult:
        revision = await draft_revision(conn, title_id=title_id)
        if reviewed != str(revision):
            raise StaleReview(revision)
        now = now_micros()
        result = await titles.publish(conn, title_id=title_id, sandbox=sandbox, now_us=now)
        if not result.unchanged:
            await accounts.record(
                conn,
                actor=session.user.email,
                action="published",
                target=f"title {title_id}",
                detail=f"{sandbox} v{result.version}",
                now_us=now,
            )
        return result

    try:
        result = await portal_runtime(request).db.run_write(work)
    except StaleReview as exc:
        message = (
            f"The draft was saved again (now revision {exc.revision}) after you reviewed "
            "its changes. Review the changes below, then publish again."
        )
        return await _draft_page(request, title_id, sandbox, status=409, refusal=[message])
    except InvalidConfig as exc:
        return await _draft_page(request, title_id, sandbox, status=400, refusal=exc.problems)
    except LaurelsError as exc:
        return await _draft_page(request, title_id, sandbox, status=exc.status, refusal=[str(exc)])
    await portal_runtime(request).catalog.refresh()
    if result.unchanged:
        flash = f"{sandbox} already has this draft as version {result.version}; nothing published."
    else:
        flash = f"Published the draft to {sandbox} as version {result.version}."
    return redirect(request, f"{_where(title_id)}?sandbox={sandbox}", flash=flash)


class StaleReview(LaurelsError):
    status = 409

    def __init__(self, revision: int) -> None:
        super().__init__(f"the draft is now revision {revision}")
        self.revision = revision


# --- a tested version to RETAIL ---------------------------------------------------------


async def _retail_page(
    request: Request,
    session: Session,
    title_id: int,
    source: str,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    refusal: list[str] | None = None,
) -> Response:
    document = await load_draft(request, title_id)
    chosen = _parse_source(source)
    async with portal_runtime(request).db.read() as conn:
        versions = await list_versions(conn, title_id=title_id)
        tested = None
        if chosen is not None:
            sandbox, version = chosen
            tested = await titles.load_version(
                conn, sandbox=sandbox, title_id=title_id, version=version
            )
        review = await _review(conn, title_id, RETAIL, tested) if tested else None
    errors = dict(errors or {})
    if source and tested is None and "source" not in errors:
        errors["source"] = "Choose a version published to a development sandbox."
        status = max(status, 404)
    return render(
        request,
        "publishing/retail.html",
        status=status,
        title_id=title_id,
        title_name=document["title"]["name"],
        area="publish",
        options=[
            (_source_text(v.sandbox, v.version), f"{v.sandbox} version {v.version}")
            for v in versions
            if v.sandbox != RETAIL
        ],
        source=source,
        review=review,
        errors=errors,
        refusal=refusal or [],
        can_publish=session.user.can("publisher"),
    )


@router.get("/titles/{title_id}/publish/retail", include_in_schema=False)
async def retail(
    request: Request, session: Viewer, title_id: TitleId, source: str = ""
) -> Response:
    return await _retail_page(request, session, title_id, source.strip())


def _promoted_detail(result: Promotion) -> str:
    moved = f"from {result.source_sandbox} v{result.source_version} to RETAIL v{result.version}"
    if not result.confirmed_risks:
        return f"{moved}, no confirmation needed"
    ids = ", ".join(risk.achievement_id for risk in result.confirmed_risks)
    return f"{moved}, confirmed (unlocked achievements changed: {ids})"


@router.post("/titles/{title_id}/publish/retail", include_in_schema=False)
async def promote_to_retail(request: Request, session: Publisher, title_id: TitleId) -> Response:
    form = await read_form(request)
    source = str(form.get("source", "")).strip()
    confirmed = form.get("confirm") == "yes"
    chosen = _parse_source(source)
    if chosen is None:
        message = "Choose a version published to a development sandbox."
        return await _retail_page(
            request, session, title_id, "", status=400, errors={"source": message}
        )
    sandbox, version = chosen
    scid = (await load_draft(request, title_id))["title"]["scid"]

    async def work(conn: AsyncConnection) -> Promotion:
        now = now_micros()
        result = await promote_version(
            conn,
            title_id=title_id,
            sandbox=sandbox,
            version=version,
            unlocks=await _unlocks(conn, scid),
            confirmed=confirmed,
            now_us=now,
        )
        if not result.unchanged:
            await accounts.record(
                conn,
                actor=session.user.email,
                action="promoted",
                target=f"title {title_id}",
                detail=_promoted_detail(result),
                now_us=now,
            )
        return result

    try:
        result = await portal_runtime(request).db.run_write(work)
    except ConfirmationNeeded:
        message = (
            "Tick this box to confirm the changes players will notice, or choose another version."
        )
        return await _retail_page(
            request, session, title_id, source, status=409, errors={"confirm": message}
        )
    except InvalidConfig as exc:
        return await _retail_page(
            request, session, title_id, source, status=400, refusal=exc.problems
        )
    except LaurelsError as exc:
        return await _retail_page(
            request, session, title_id, source, status=exc.status, refusal=[str(exc)]
        )
    await portal_runtime(request).catalog.refresh()
    if result.unchanged:
        flash = f"RETAIL already has {sandbox} version {version} as version {result.version}."
    else:
        flash = f"Promoted {sandbox} version {version} to RETAIL as version {result.version}."
    return redirect(request, _where(title_id), flash=flash)
