"""Testing, per development sandbox: its test accounts (editors add and remove them
and mint a player token for one), resets of one or all test players of a title
(publishers; refused outside DEV.* as the API refuses), and the sandbox's live
counts of updates and unlocks (a small JSON answer that static/live.js polls)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from laurels.auth.service import ensure_signing_key, mint_token
from laurels.errors import LaurelsError, ResetRefused
from laurels.player import link_url, mint_link
from laurels.portal import accounts
from laurels.portal import testing as service
from laurels.portal.web import (
    Editor,
    PageError,
    Publisher,
    Viewer,
    audited,
    portal_runtime,
    read_form,
    redirect,
    render,
)
from laurels.progress.service import refuse_retail
from laurels.sqlasync import AsyncConnection
from laurels.titles import service as titles
from laurels.web.pages import SECURITY_HEADERS
from laurels.wire.times import now_micros

router = APIRouter()
DEFAULT_SANDBOX = "DEV.1"
TOKEN_HOURS = (1, 8, 24)
SandboxQuery = Annotated[str | None, Query(max_length=64)]
ALL_PLAYERS = "all"


async def _sandboxes_and_titles(
    conn: AsyncConnection, sandbox: str | None
) -> tuple[list[str], str, list[Any]]:
    """The development sandboxes the portal knows (where a title is published or a
    test account lives), the chosen one, and the titles published in it."""
    summaries = await titles.list_titles(conn)
    known = {s for t in summaries for s in t.published if s.startswith("DEV.")}
    known |= {a.sandbox for a in await service.list_accounts(conn)}
    chosen = sandbox or (min(known) if known else DEFAULT_SANDBOX)
    published = [t for t in summaries if chosen in t.published]
    return sorted(known | {chosen}), chosen, published


async def _page(
    request: Request,
    sandbox: str | None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    minted: dict[str, str] | None = None,
) -> Response:
    rt = portal_runtime(request)
    async with rt.db.read() as conn:
        sandboxes, chosen, published = await _sandboxes_and_titles(conn, sandbox)
        test_accounts = await service.list_accounts(conn, sandbox=chosen)
        counts = await service.live_counts(conn, sandbox=chosen, now_us=now_micros())
    return render(
        request,
        "testing/accounts.html",
        status=status,
        sandboxes=sandboxes,
        sandbox=chosen,
        titles=published,
        accounts=test_accounts,
        counts=counts,
        errors=errors or {},
        form=form or {},
        minted=minted,
        token_hours=TOKEN_HOURS,
        all_players=ALL_PLAYERS,
    )


def _here(sandbox: str) -> str:
    return f"/portal/testing?sandbox={sandbox}"


@router.get("/testing", include_in_schema=False)
async def sandbox_page(request: Request, session: Viewer, sandbox: SandboxQuery = None) -> Response:
    return await _page(request, sandbox)


@router.get("/testing/live", include_in_schema=False)
async def live(request: Request, session: Viewer, sandbox: SandboxQuery = None) -> Response:
    """The sandbox's live counts as JSON (static/live.js polls it)."""
    async with portal_runtime(request).db.read() as conn:
        counts = await service.live_counts(
            conn, sandbox=sandbox or DEFAULT_SANDBOX, now_us=now_micros()
        )
    return JSONResponse(counts.as_json(), headers=SECURITY_HEADERS)


@router.post("/testing/accounts", include_in_schema=False)
async def add_account(request: Request, session: Editor) -> Response:
    form = await read_form(request)
    given = {k: str(form.get(k, "")) for k in ("sandbox", "xuid", "name")}
    sandbox = given["sandbox"].strip()
    now = now_micros()

    async def add(conn: AsyncConnection) -> service.TestAccount:
        return await service.add_account(
            conn, sandbox=sandbox, xuid=given["xuid"], name=given["name"], now_us=now
        )

    try:
        account = await audited(
            request,
            session,
            add,
            action="test account added",
            target=f"{sandbox} {given['xuid'].strip()}",
            detail=lambda a: f"name {a.name}",
        )
    except service.AccountRefused as exc:
        return await _page(
            request, None, status=exc.status, errors={exc.field: str(exc)}, form=given
        )
    except LaurelsError as exc:
        return await _page(request, None, status=exc.status, errors={"xuid": str(exc)}, form=given)
    return redirect(
        request,
        _here(account.sandbox),
        flash=f"{account.name} ({account.xuid}) is a test account of {account.sandbox}.",
    )


async def _account_of(request: Request, field: str = "xuid") -> tuple[str, str]:
    form = await read_form(request)
    return str(form.get("sandbox", "")), str(form.get(field, ""))


@router.post("/testing/accounts/remove", include_in_schema=False)
async def remove_account(request: Request, session: Editor) -> Response:
    sandbox, xuid = await _account_of(request)
    try:
        account = await audited(
            request,
            session,
            lambda conn: service.remove_account(conn, sandbox=sandbox, xuid=xuid),
            action="test account removed",
            target=f"{sandbox} {xuid}",
            detail=lambda a: f"name {a.name}",
        )
    except LaurelsError as exc:
        raise PageError(exc.status, "No such test account", str(exc)) from None
    return redirect(
        request,
        _here(account.sandbox),
        flash=f"{account.name} ({account.xuid}) is no longer a test account.",
    )


async def _published_title(request: Request, sandbox: str, raw: str, field: str) -> Any:
    """The title (summary) of the form's `field`, published in `sandbox`; the
    page with the error tied to the field otherwise."""
    async with portal_runtime(request).db.read() as conn:
        _, _, published = await _sandboxes_and_titles(conn, sandbox)
    found = next((t for t in published if str(t.title_id) == raw.strip()), None)
    if found is None:
        raise _FieldProblem(field, f"choose a title published in {sandbox}")
    return found


class _FieldProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@router.post("/testing/token", include_in_schema=False)
async def player_token(request: Request, session: Editor) -> Response:
    """A player token for a test account and a title, and a link to its player
    page (single-use, for 10 minutes), shown this once."""
    sandbox, xuid = await _account_of(request, "token_xuid")
    form = await read_form(request)
    raw_title, raw_hours = str(form.get("token_title", "")), str(form.get("hours", "24"))
    given = {"token_xuid": xuid, "token_title": raw_title, "hours": raw_hours}
    rt = portal_runtime(request)
    try:
        async with rt.db.read() as conn:
            account = await service.get_account(conn, sandbox=sandbox, xuid=xuid)
        title = await _published_title(request, sandbox, raw_title, "token_title")
        if raw_hours not in {str(h) for h in TOKEN_HOURS}:
            raise _FieldProblem("hours", "choose how long the token is valid")
    except _FieldProblem as exc:
        return await _page(
            request, sandbox, status=400, errors={exc.field: exc.message}, form=given
        )
    except LaurelsError as exc:
        return await _page(request, sandbox, status=exc.status, errors={"token_xuid": str(exc)})
    key = await ensure_signing_key(rt.db)
    token = mint_token(
        key,
        xuid=account.xuid,
        title_id=title.title_id,
        sandbox=sandbox,
        ttl_seconds=int(raw_hours) * 3600,
    )

    async def note(conn: AsyncConnection) -> None:
        await accounts.record(
            conn,
            actor=session.user.email,
            action="player token minted",
            target=f"{sandbox} {account.xuid}",
            detail=f"title {title.title_id}, valid {raw_hours} h",
            now_us=now_micros(),
        )

    await rt.db.run_write(note)
    base = rt.settings.public_url or str(request.base_url)
    page_link = link_url(
        base, mint_link(key, xuid=account.xuid, title_id=title.title_id, sandbox=sandbox)
    )
    minted = {
        "token": token,
        "link": page_link,
        "name": account.name,
        "xuid": account.xuid,
        "title": f"{title.name} ({title.title_id})",
        "hours": raw_hours,
    }
    return await _page(request, sandbox, minted=minted, form=given)


@router.post("/testing/reset", include_in_schema=False)
async def reset(request: Request, session: Publisher) -> Response:
    """Reset one test player, or every test player of the sandbox, for a title."""
    sandbox, xuid = await _account_of(request, "reset_xuid")
    raw_title = str((await read_form(request)).get("reset_title", ""))
    given = {"reset_xuid": xuid, "reset_title": raw_title}
    try:
        title = await _published_title(request, sandbox, raw_title, "reset_title")
    except _FieldProblem as exc:
        if sandbox.startswith("DEV."):
            errors = {exc.field: exc.message}
            return await _page(request, sandbox, status=400, errors=errors, form=given)
        title = None  # refused below as the API refuses, whatever the title

    async def erase(conn: AsyncConnection) -> tuple[int, int]:
        refuse_retail(sandbox)  # first, whatever else the form says
        assert title is not None
        players = await service.list_accounts(conn, sandbox=sandbox)
        if xuid == ALL_PLAYERS:
            xuids = [a.xuid for a in players]
        elif xuid in {a.xuid for a in players}:
            xuids = [xuid]
        else:
            raise _FieldProblem("reset_xuid", f"{sandbox} has no test account {xuid}")
        erased = await service.reset_players(conn, sandbox=sandbox, scid=title.scid, xuids=xuids)
        return len(xuids), erased

    who = "every test player" if xuid == ALL_PLAYERS else xuid
    try:
        players, erased = await audited(
            request,
            session,
            erase,
            action="test players reset",
            target=f"{sandbox} {who}",
            detail=lambda done: (
                f"title {title.title_id if title else raw_title}: {done[0]} player(s), "
                f"{done[1]} achievement row(s) erased"
            ),
        )
    except ResetRefused as exc:
        raise PageError(exc.status, "Reset refused", str(exc)) from None
    except _FieldProblem as exc:
        return await _page(
            request, sandbox, status=400, errors={exc.field: exc.message}, form=given
        )
    assert title is not None
    return redirect(
        request,
        _here(sandbox),
        flash=f"Reset {players} test player(s) of {title.name} in {sandbox} "
        f"({erased} achievement row(s) erased).",
    )
