"""The player page's routes under `/play`: the link exchanged for a session, the
player's titles, a title's achievements and feed, and that page's live part.

    GET /play/enter?link=<token>                  → 303 to /play/{xuid}/, cookie set
    GET /play/{xuid}/                             the titles of the session's sandbox
    GET /play/{xuid}/titles/{title_id}            ?show=all|unlocked|locked&sort=...
    GET /play/{xuid}/titles/{title_id}/fragment   its two live sections only

Every page renders the V2 objects the API renders (the achievement list, the feed,
the title history) for the session's player token, so a page shows nothing the API
would not show that player. A refusal is an HTML page (`PlayerPageError`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from laurels.activity.service import ActivityReader, PageQuery
from laurels.auth.service import (
    SigningKey,
    TokenVerifier,
    load_signing_keys,
    load_trusted_keys,
    mint_token,
)
from laurels.db import Database
from laurels.errors import Unauthorized
from laurels.player import views
from laurels.player.links import SESSION_SECONDS, LinkKeys, LinkRefused, use_link, verify_link
from laurels.player.messages import messages_for
from laurels.progress.service import list_query
from laurels.settings import Settings
from laurels.titles import Catalog, PublishedTitle
from laurels.web.auth import PLAYER_COOKIE, runtime
from laurels.web.pages import SECURITY_HEADERS, content_version, environment
from laurels.web.pages import secure_cookies as is_secure
from laurels.web.rendering import render_context
from laurels.wire.context import RenderContext
from laurels.wire.identifiers import parse_xuid
from laurels.wire.principal import Principal

if TYPE_CHECKING:
    from jinja2 import Environment

    from laurels.progress.service import ListQuery

STATIC = Path(__file__).parent / "static"
FEED_ITEMS = 20
HISTORY_PAGE = 100


class AchievementList(Protocol):
    async def list(
        self, principal: Principal, xuid: str, query: ListQuery, ctx: RenderContext
    ) -> dict[str, Any]: ...


class PlayerRuntime(Protocol):
    """What the pages use of the process's runtime (`laurels.runtime.Runtime` is one)."""

    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def verifier(self) -> TokenVerifier: ...

    @property
    def signing_key(self) -> SigningKey: ...

    @property
    def reader(self) -> AchievementList: ...

    @property
    def activity(self) -> ActivityReader: ...


def player_runtime(request: Request) -> PlayerRuntime:
    found: PlayerRuntime = runtime(request)
    return found


class PlayerPageError(Exception):
    """Answered with the HTML error page: `title` and `text` are message keys."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(title)
        self.status, self.title, self.text = status, title, text


# --- templates ------------------------------------------------------------------------


@cache
def _static_version(name: str) -> str:
    return content_version(STATIC / name)


def static_url(name: str) -> str:
    """A static file's URL with its content's hash."""
    return f"/play/static/{name}?v={_static_version(name)}"


@cache
def templates() -> Environment:
    env = environment("laurels.player")
    env.globals.update(static=static_url)
    env.filters["when"] = views.shown_time
    return env


def words_of(request: Request) -> Mapping[str, str]:
    return messages_for(request.headers.get("accept-language"))


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The page in the browser's language (`t`), with the security headers."""
    context.setdefault("body", None)
    context.setdefault("home", None)
    html = templates().get_template(template).render(t=words_of(request), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _body(xuid: str, titles: Sequence[PublishedTitle], fragment: str | None) -> dict[str, Any]:
    """The body's data attributes that the page's script reads."""
    return {
        "xuid": xuid,
        "title_ids": ",".join(str(t.title_id) for t in titles),
        "scids": ",".join(t.scid for t in titles),
        "fragment": fragment,
    }


# --- the session ----------------------------------------------------------------------


def secure_cookies(request: Request) -> bool:
    return is_secure(player_runtime(request).settings, request)


def session_of(request: Request, xuid: str) -> Principal:
    """The session's player token, for the path's player: PlayerPageError 401 without
    a valid session, 404 for a path that names no player, 403 for another player."""
    token = request.cookies.get(PLAYER_COOKIE)
    if not token:
        raise PlayerPageError(401, "signed_out", "signed_out_text")
    try:
        principal = player_runtime(request).verifier.verify(token)
    except Unauthorized:
        raise PlayerPageError(401, "signed_out", "signed_out_text") from None
    if principal.kind != "player":
        raise PlayerPageError(401, "signed_out", "signed_out_text")
    try:
        wanted = parse_xuid(xuid)
    except ValueError:
        raise PlayerPageError(404, "not_found", "not_found_text") from None
    if principal.xuid != wanted:
        raise PlayerPageError(403, "forbidden", "forbidden_text")
    return principal


async def link_keys(rt: PlayerRuntime) -> LinkKeys:
    settings = rt.settings
    async with rt.db.read() as conn:
        own = {key.kid: key for key in await load_signing_keys(conn)}
    trusted = load_trusted_keys(settings.trusted_keys_file) if settings.trusted_keys_file else {}
    return LinkKeys(
        own,
        trusted,
        trusted_issuer=settings.trusted_issuer,
        trusted_audience=settings.trusted_audience,
        leeway_seconds=settings.token_leeway_seconds,
    )


router = APIRouter(prefix="/play", include_in_schema=False)


@router.get("/enter")
async def enter(request: Request, link: str = "") -> Response:
    """Exchange a link for the session cookie, once; the refused link's page otherwise."""
    rt = player_runtime(request)
    try:
        used = verify_link(link, await link_keys(rt))
        await use_link(rt.db, used)
    except LinkRefused:
        raise PlayerPageError(401, "link_refused", "link_refused_text") from None
    session = mint_token(
        rt.signing_key,
        xuid=used.xuid,
        title_id=used.title_id,
        sandbox=used.sandbox,
        ttl_seconds=SESSION_SECONDS,
    )
    response = RedirectResponse(f"/play/{used.xuid}/", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        PLAYER_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    return response


# --- the titles -----------------------------------------------------------------------


async def history_rows(rt: PlayerRuntime, principal: Principal) -> list[views.TitleRow]:
    """Every title of the player's history in the session's sandbox."""
    assert principal.xuid is not None
    rows: list[views.TitleRow] = []
    token: str | None = None
    while True:
        page = await rt.activity.history(
            principal, principal.xuid, PageQuery(max_items=HISTORY_PAGE, continuation_token=token)
        )
        for entry in page["titles"]:
            title = await rt.catalog.by_title(principal.sandbox, int(entry["titleId"]))
            rows.append(views.title_row(entry, len(title.achievements) if title else 0))
        token = page["pagingInfo"]["continuationToken"]
        if token is None:
            return rows


@router.get("/{xuid}/")
async def titles_page(request: Request, xuid: str) -> HTMLResponse:
    principal = session_of(request, xuid)
    rt = player_runtime(request)
    rows = await history_rows(rt, principal)
    shown = [t for r in rows if (t := await rt.catalog.by_title(principal.sandbox, r.title_id))]
    return render(
        request,
        "titles.html",
        rows=rows,
        sandbox=principal.sandbox,
        body=_body(xuid, shown, None),
    )


# --- one title ------------------------------------------------------------------------


def same_origin_of(request: Request) -> views.IsSameOrigin:
    host = request.headers.get("host", request.url.netloc)

    def same_origin(url: str) -> bool:
        netloc = urlsplit(url).netloc
        return netloc in ("", host)

    return same_origin


async def title_of(rt: PlayerRuntime, principal: Principal, title_id: str) -> PublishedTitle:
    found = None
    if title_id.isdigit() and len(title_id) <= 10:
        found = await rt.catalog.by_title(principal.sandbox, int(title_id))
    if found is None:
        raise PlayerPageError(404, "not_found", "not_found_text")
    return found


def choice(value: str | None, allowed: Sequence[str], default: str) -> str:
    return value if value is not None and value in allowed else default


async def title_context(
    request: Request, xuid: str, title_id: str, show: str | None, sort: str | None
) -> dict[str, Any]:
    """What the title page and its fragment print."""
    principal = session_of(request, xuid)
    rt = player_runtime(request)
    title = await title_of(rt, principal, title_id)
    show, sort = choice(show, views.SHOWS, "all"), choice(sort, views.SORTS, "title")
    words, same_origin = words_of(request), same_origin_of(request)
    assert principal.xuid is not None
    listed = await rt.reader.list(
        principal,
        principal.xuid,
        list_query([title.title_id], order_by=views.LIST_ORDERS[sort]),
        render_context(request, [title]),
    )
    every = [views.shown_achievement(a, words, same_origin) for a in listed["achievements"]]
    feed = await rt.activity.feed(
        principal,
        principal.xuid,
        PageQuery(max_items=FEED_ITEMS, title_id=title.title_id),
        lambda titles: render_context(request, list(titles)),
    )
    query = urlencode({"show": show, "sort": sort})
    base = f"/play/{principal.xuid}/titles/{title.title_id}"
    return {
        "title": title,
        "show": show,
        "sort": sort,
        "achievements": views.chosen(every, show=show, sort=sort),
        "earned": sum(a.state == "Achieved" for a in every),
        "total": len(every),
        "score": sum(a.gamerscore for a in every if a.state == "Achieved"),
        "max_score": sum(a.gamerscore for a in every),
        "feed": [views.feed_entry(item, same_origin) for item in feed["activityItems"]],
        "sandbox": principal.sandbox,
        "home": f"/play/{principal.xuid}/",
        "action": base,
        "body": _body(principal.xuid, [title], f"{base}/fragment?{query}"),
    }


@router.get("/{xuid}/titles/{title_id}")
async def title_page(
    request: Request, xuid: str, title_id: str, show: str | None = None, sort: str | None = None
) -> HTMLResponse:
    context = await title_context(request, xuid, title_id, show, sort)
    return render(request, "title.html", **context)


@router.get("/{xuid}/titles/{title_id}/fragment")
async def title_fragment(
    request: Request, xuid: str, title_id: str, show: str | None = None, sort: str | None = None
) -> HTMLResponse:
    """The title page's two live sections (achievements and feed), nothing else."""
    context = await title_context(request, xuid, title_id, show, sort)
    return render(request, "_live.html", **context)


# --- assembly -------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """The player pages' refusals: an HTML page in the browser's language."""

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PlayerPageError)
        return render(request, "error.html", status=exc.status, error=exc)

    app.add_exception_handler(PlayerPageError, page_error)


def mount(app: FastAPI) -> None:
    """The player pages, their static files (`/play/static/`) and error pages on `app`."""
    app.mount("/play/static", StaticFiles(directory=STATIC), name="player-static")
    app.include_router(router)
    install(app)
