"""A title in operation, per sandbox: per achievement, how many players unlocked it
and its rarity, exactly as the API's `rarity` says; for admins, its credentials (a
game-server token minted and shown once; delivery credentials listed and revoked)
and its webhooks (added with their secret shown once, removed, sent a test; the
delivery log with attempts, a failed delivery sent again). Every change is audited
in its own transaction; a test delivery and a redelivery go through the dispatcher,
signed, sent and logged as an unlock's are."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from laurels import auth as delivery
from laurels.auth.service import ensure_signing_key, mint_token
from laurels.errors import LaurelsError
from laurels.portal.accounts import Session
from laurels.portal.pages.titles import TitleId, load_draft
from laurels.portal.web import (
    Admin,
    PageError,
    Viewer,
    audited,
    portal_runtime,
    read_form,
    redirect,
    render,
)
from laurels.progress import service as progress
from laurels.sqlasync import AsyncConnection
from laurels.titles import is_sandbox_name
from laurels.titles import service as titles
from laurels.web.auth import runtime
from laurels.webhooks import service as webhooks
from laurels.wire.rarity import rarity
from laurels.wire.times import now_micros

router = APIRouter()
SandboxQuery = Annotated[str | None, Query(max_length=64)]
SERVER_TOKEN_HOURS = (1, 24, 24 * 7)
SHOWN_CREDENTIALS = 200
SHOWN_DELIVERIES = 20


class _Wakes(Protocol):
    def wake(self) -> None: ...


class _Refreshes(Protocol):
    async def refresh(self) -> None: ...


class _Operating(Protocol):
    """What these pages use of the runtime beyond `PortalRuntime`: the process's
    webhook dispatcher (woken for a test or a redelivery) and revocation list
    (refreshed at once after a revocation; other processes follow within seconds)."""

    @property
    def webhooks(self) -> _Wakes: ...

    @property
    def revocations(self) -> _Refreshes: ...


def _operating(request: Request) -> _Operating:
    found: _Operating = runtime(request)
    return found


async def _context(
    request: Request, title_id: int, sandbox: str | None, area: str
) -> dict[str, Any]:
    """The title's name, the sandboxes it is published in and the chosen one."""
    document = await load_draft(request, title_id)
    async with portal_runtime(request).db.read() as conn:
        summary = next(t for t in await titles.list_titles(conn) if t.title_id == title_id)
    sandboxes = sorted(summary.published)
    chosen = sandbox if sandbox in sandboxes else (sandboxes[0] if sandboxes else None)
    return {
        "title_id": title_id,
        "title_name": document["title"]["name"],
        "area": "operate",
        "operate": area,
        "sandboxes": sandboxes,
        "sandbox": chosen,
    }


def _base(title_id: int, page: str = "") -> str:
    return f"/portal/titles/{title_id}/operate{page}"


async def _form(request: Request, *names: str) -> list[str]:
    form = await read_form(request)
    return [str(form.get(name, "")).strip() for name in names]


def _published_sandbox(context: dict[str, Any], sandbox: str) -> str:
    if sandbox not in context["sandboxes"]:
        raise PageError(
            404,
            "Not published there",
            f"Title {context['title_id']} is not published in {sandbox[:70]!r}.",
        )
    return sandbox


# --- unlock counts and rarity --------------------------------------------------------


@router.get("/titles/{title_id}/operate", include_in_schema=False)
async def operate(
    request: Request, session: Viewer, title_id: TitleId, sandbox: SandboxQuery = None
) -> Response:
    context = await _context(request, title_id, sandbox, "stats")
    chosen, rows = context["sandbox"], []
    rt = portal_runtime(request)
    if chosen is not None and is_sandbox_name(chosen):
        published = await rt.catalog.by_title(chosen, title_id)
        if published is not None:
            async with rt.db.read() as conn:
                stats = await progress.read_stats(conn, sandbox=chosen, scids=[published.scid])
            for achievement in published.achievements:
                unlocks, players = stats.of(published.scid, achievement.id)
                category, percent = rarity(unlocks, players)
                rows.append((achievement, unlocks, players, category, percent))
    return render(request, "operating/stats.html", rows=rows, **context)


# --- credentials ---------------------------------------------------------------------


async def _credentials_page(
    request: Request,
    title_id: int,
    sandbox: str | None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    minted: dict[str, str] | None = None,
) -> Response:
    context = await _context(request, title_id, sandbox, "credentials")
    listed: list[delivery.StoredCredential] = []
    if context["sandbox"] is not None:
        async with portal_runtime(request).db.read() as conn:
            listed = await delivery.list_credentials(
                conn, title_id=title_id, sandbox=context["sandbox"]
            )
    now = now_micros()
    shown = [(c, c.state(now)) for c in reversed(listed[-SHOWN_CREDENTIALS:])]
    return render(
        request,
        "operating/credentials.html",
        status=status,
        credentials=shown,
        total=len(listed),
        errors=errors or {},
        minted=minted,
        hours=SERVER_TOKEN_HOURS,
        **context,
    )


@router.get("/titles/{title_id}/operate/credentials", include_in_schema=False)
async def credentials(
    request: Request, session: Admin, title_id: TitleId, sandbox: SandboxQuery = None
) -> Response:
    return await _credentials_page(request, title_id, sandbox)


@router.post("/titles/{title_id}/operate/server-token", include_in_schema=False)
async def server_token(request: Request, session: Admin, title_id: TitleId) -> Response:
    """A game-server token for the title and sandbox, shown this once."""
    sandbox, hours = await _form(request, "sandbox", "hours")
    _published_sandbox(await _context(request, title_id, sandbox, "credentials"), sandbox)
    if hours not in {str(h) for h in SERVER_TOKEN_HOURS}:
        errors = {"hours": "choose how long the token is valid"}
        return await _credentials_page(request, title_id, sandbox, status=400, errors=errors)
    rt = portal_runtime(request)
    key = await ensure_signing_key(rt.db)
    token = mint_token(
        key, title_id=title_id, sandbox=sandbox, server=True, ttl_seconds=int(hours) * 3600
    )

    async def nothing(conn: AsyncConnection) -> None:
        return None

    await audited(
        request,
        session,
        nothing,
        action="server token minted",
        target=f"title {title_id} {sandbox}",
        detail=lambda _: f"valid {hours} h",
    )
    minted = {"token": token, "hours": hours}
    return await _credentials_page(request, title_id, sandbox, minted=minted)


@router.post("/titles/{title_id}/operate/credentials/revoke", include_in_schema=False)
async def revoke(request: Request, session: Admin, title_id: TitleId) -> Response:
    """Revoke one delivery credential of the title (by id), or every active one of a
    player (by xuid)."""
    sandbox, credential_id, xuid = await _form(request, "sandbox", "credential_id", "xuid")
    _published_sandbox(await _context(request, title_id, sandbox, "credentials"), sandbox)

    async def one(conn: AsyncConnection) -> int:
        mine = await delivery.list_credentials(conn, title_id=title_id, sandbox=sandbox)
        if credential_id not in {c.id for c in mine}:
            raise PageError(404, "No such credential", "This title has no such credential.")
        now = now_micros()
        return int(await delivery.revoke_credential(conn, credential_id=credential_id, now_us=now))

    async def player(conn: AsyncConnection) -> int:
        return await delivery.revoke_player_credentials(
            conn, xuid=xuid, title_id=title_id, sandbox=sandbox, now_us=now_micros()
        )

    try:
        revoked = await audited(
            request,
            session,
            one if credential_id else player,
            action="delivery credentials revoked",
            target=f"title {title_id} {sandbox} "
            + (f"credential {credential_id}" if credential_id else f"player {xuid}"),
            detail=lambda n: f"{n} revoked",
        )
    except (LaurelsError, ValueError) as exc:
        errors = {"xuid": str(exc)}
        return await _credentials_page(request, title_id, sandbox, status=400, errors=errors)
    await _operating(request).revocations.refresh()
    return redirect(
        request,
        _base(title_id, f"/credentials?sandbox={sandbox}"),
        flash=f"{revoked} delivery credential(s) revoked; the API refuses them from now on.",
    )


# --- webhooks ------------------------------------------------------------------------


async def _webhooks_page(
    request: Request,
    title_id: int,
    sandbox: str | None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    added: dict[str, str] | None = None,
) -> Response:
    context = await _context(request, title_id, sandbox, "webhooks")
    endpoints: list[tuple[Any, list[Any]]] = []
    if context["sandbox"] is not None:
        async with portal_runtime(request).db.read() as conn:
            for endpoint in await webhooks.list_endpoints(
                conn, title_id=title_id, sandbox=context["sandbox"]
            ):
                log = await webhooks.list_deliveries(
                    conn, endpoint_id=endpoint.id, limit=SHOWN_DELIVERIES
                )
                endpoints.append((endpoint, log))
    return render(
        request,
        "operating/webhooks.html",
        status=status,
        endpoints=endpoints,
        errors=errors or {},
        form=form or {},
        added=added,
        **context,
    )


@router.get("/titles/{title_id}/operate/webhooks", include_in_schema=False)
async def webhooks_page(
    request: Request, session: Admin, title_id: TitleId, sandbox: SandboxQuery = None
) -> Response:
    return await _webhooks_page(request, title_id, sandbox)


@router.post("/titles/{title_id}/operate/webhooks", include_in_schema=False)
async def add_webhook(request: Request, session: Admin, title_id: TitleId) -> Response:
    sandbox, url, description = await _form(request, "sandbox", "url", "description")
    _published_sandbox(await _context(request, title_id, sandbox, "webhooks"), sandbox)

    async def add(conn: AsyncConnection) -> Any:
        return await webhooks.add_endpoint(
            conn,
            title_id=title_id,
            sandbox=sandbox,
            url=url,
            description=description,
            now_us=now_micros(),
        )

    try:
        new = await audited(
            request,
            session,
            add,
            action="webhook added",
            target=f"title {title_id} {sandbox}",
            detail=lambda n: f"{n.endpoint.id} {n.endpoint.url}",
        )
    except LaurelsError as exc:
        field = "description" if "description" in str(exc) else "url"
        given = {"url": url, "description": description}
        return await _webhooks_page(
            request, title_id, sandbox, status=exc.status, errors={field: str(exc)}, form=given
        )
    added = {"url": new.endpoint.url, "secret": new.secret}
    return await _webhooks_page(request, title_id, sandbox, added=added)


async def _own_endpoint(conn: AsyncConnection, title_id: int, endpoint_id: str) -> Any:
    endpoint = await webhooks.get_endpoint(conn, endpoint_id=endpoint_id)
    if endpoint.title_id != title_id:
        raise PageError(404, "No such webhook", "This title has no such webhook.")
    return endpoint


async def _webhook_change(
    request: Request,
    session: Session,
    title_id: int,
    action: str,
    change: Callable[[AsyncConnection, Any], Awaitable[Any]],
    flash: Callable[[Any], str],
) -> Response:
    """An audited change of one of the title's endpoints (form field `endpoint_id`),
    then back to the webhooks page; a refusal is shown as an error page."""
    (endpoint_id,) = await _form(request, "endpoint_id")
    sandbox = ""

    async def work(conn: AsyncConnection) -> Any:
        nonlocal sandbox
        endpoint = await _own_endpoint(conn, title_id, endpoint_id)
        sandbox = endpoint.sandbox
        return await change(conn, endpoint)

    try:
        done = await audited(
            request,
            session,
            work,
            action=action,
            target=f"title {title_id} webhook {endpoint_id}",
            detail=lambda d: flash(d),
        )
    except LaurelsError as exc:
        raise PageError(exc.status, "Not done", str(exc)) from None
    _operating(request).webhooks.wake()
    return redirect(request, _base(title_id, f"/webhooks?sandbox={sandbox}"), flash=flash(done))


@router.post("/titles/{title_id}/operate/webhooks/remove", include_in_schema=False)
async def remove_webhook(request: Request, session: Admin, title_id: TitleId) -> Response:
    async def remove(conn: AsyncConnection, endpoint: Any) -> Any:
        return await webhooks.remove_endpoint(conn, endpoint_id=endpoint.id, now_us=now_micros())

    return await _webhook_change(
        request,
        session,
        title_id,
        "webhook removed",
        remove,
        lambda r: f"Webhook removed; {r.cancelled} pending delivery(ies) will not be sent.",
    )


@router.post("/titles/{title_id}/operate/webhooks/test", include_in_schema=False)
async def send_test_webhook(request: Request, session: Admin, title_id: TitleId) -> Response:
    async def send(conn: AsyncConnection, endpoint: Any) -> Any:
        return await webhooks.send_test(conn, endpoint_id=endpoint.id, now_us=now_micros())

    return await _webhook_change(
        request,
        session,
        title_id,
        "webhook test sent",
        send,
        lambda delivery_id: f"Test delivery {delivery_id} is on its way; see the log below.",
    )


@router.post("/titles/{title_id}/operate/webhooks/redeliver", include_in_schema=False)
async def redeliver(request: Request, session: Admin, title_id: TitleId) -> Response:
    (raw,) = await _form(request, "delivery_id")
    if not raw.isdigit():
        raise PageError(404, "No such delivery", "There is no such delivery.")

    async def again(conn: AsyncConnection, endpoint: Any) -> Any:
        found = await webhooks.get_delivery(conn, delivery_id=int(raw))
        if found.endpoint_id != endpoint.id:
            raise PageError(404, "No such delivery", "This webhook has no such delivery.")
        return await webhooks.redeliver(conn, delivery_id=found.id, now_us=now_micros())

    return await _webhook_change(
        request,
        session,
        title_id,
        "webhook delivery sent again",
        again,
        lambda d: f"Delivery {d.id} is being sent again; see the log below.",
    )
