"""HTTP routes of the player API (spec/wire.md). Thin: parse, authorize, call the
feature, shape the response."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from laurels.auth.service import Principal, parse_authorization
from laurels.errors import (
    BadRequest,
    Forbidden,
    LaurelsError,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from laurels.progress.identifiers import parse_scid, parse_xuid
from laurels.progress.policy import refuse_retail
from laurels.progress.reads import MAX_PAGE, ORDERS, ListQuery
from laurels.progress.schemas import AchievementsPage, ErrorBody, RateLimitBody
from laurels.progress.service import reset_player
from laurels.progress.views import RenderContext, context_for
from laurels.runtime import Runtime
from laurels.timefmt import now_micros
from laurels.titles.catalog import PublishedTitle

router = APIRouter(tags=["achievements"])
CONTRACT_VERSIONS = {"2"}
ERRORS: dict[int | str, dict[str, Any]] = {
    **{status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 415)},
    429: {"model": RateLimitBody},
}


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


async def authorize(request: Request, xuid_text: str) -> tuple[Runtime, Principal, str]:
    """The runtime, the verified principal and the path's XUID, after the contract
    version check and the rate limit. 401 before 400 before 429.

    The request is counted in the caller's own bucket (`ratelimit.bucket_for`: the
    token's player, or a server's title), never the path's player: a request that is
    then refused with 403 costs its caller, not the player it named."""
    rt = runtime(request)
    principal = rt.verifier.verify(parse_authorization(request.headers.get("authorization")))
    if principal.kind == "delivery":  # player and server tokens pay nothing here
        rt.revocations.check(principal)
    version = request.headers.get("x-xbl-contract-version", "2").strip()
    if version not in CONTRACT_VERSIONS:
        raise BadRequest(f"x-xbl-contract-version {version[:20]!r} is not supported; use 2")
    try:
        xuid = parse_xuid(xuid_text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    await rt.rate_limiter.check(principal)
    return rt, principal, xuid


def _scid(text: str) -> str:
    try:
        return parse_scid(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The JSON body, refused unless sent as JSON and within `limit` bytes."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("the body must be sent as Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/users/xuid({xuid})/achievements/{scid}/update",
    status_code=200,
    responses={
        200: {"description": "Something changed (empty body)"},
        304: {"description": "Nothing changed (empty body)"},
        **ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/UpdateBody"}}
            },
        }
    },
)
async def update_achievements(request: Request, xuid: str, scid: str) -> Response:
    """Raise progress of 1..N achievements; 200 if any changed, 304 if none did."""
    metrics = runtime(request).metrics
    try:
        rt, principal, player = await authorize(request, xuid)
        raw = await read_body(request, rt.settings.max_body_bytes)
        changed = await rt.updater.update(
            principal, xuid=player, scid=_scid(scid), raw=raw, now_us=now_micros()
        )
    except LaurelsError as exc:
        metrics.update_answered(exc.status)
        raise
    metrics.update_answered(200 if changed else 304)
    return Response(status_code=200 if changed else 304)


def render_context(request: Request, titles: list[PublishedTitle]) -> RenderContext:
    rt = runtime(request)
    return context_for(
        base=rt.settings.public_url or str(request.base_url),
        accept_language=request.headers.get("accept-language"),
        titles=titles,
    )


def _title_ids(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise BadRequest("titleId must be comma-separated decimal title ids") from None
    if not ids or any(not 0 < i <= 0xFFFFFFFF for i in ids) or len(ids) > 50:
        raise BadRequest("titleId must name 1..50 decimal title ids")
    return tuple(dict.fromkeys(ids))


def _types(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    names = {"persistent": "Persistent", "challenge": "Challenge"}
    try:
        return frozenset(names[part.strip().lower()] for part in text.split(","))
    except KeyError:
        raise BadRequest("types must be Persistent and/or Challenge") from None


def _order(text: str | None) -> str:
    if text is None:
        return "Unordered"
    try:
        return ORDERS[text.lower()]
    except KeyError:
        raise BadRequest("orderBy must be Unordered, Title, UnlockTime or EndingSoon") from None


@router.get("/users/xuid({xuid})/achievements", response_model=AchievementsPage, responses=ERRORS)
async def list_achievements(
    request: Request,
    xuid: str,
    titleId: Annotated[str, Query(description="Comma-separated decimal title ids")],
    types: Annotated[str | None, Query(description="Persistent and/or Challenge")] = None,
    unlockedOnly: bool = False,
    possibleOnly: bool = False,
    orderBy: Annotated[
        str | None, Query(description="Unordered, Title, UnlockTime or EndingSoon (any case)")
    ] = None,
    maxItems: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    skipItems: Annotated[int, Query(ge=0)] = 0,
    continuationToken: Annotated[str | None, Query(max_length=8192)] = None,
) -> Response:
    rt, principal, player = await authorize(request, xuid)
    query = ListQuery(
        title_ids=_title_ids(titleId),
        types=_types(types),
        unlocked_only=unlockedOnly,
        possible_only=possibleOnly,
        order_by=_order(orderBy),
        max_items=maxItems,
        skip_items=skipItems,
        continuation_token=continuationToken or None,
    )
    titles = [
        t
        for i in query.title_ids
        if (t := await rt.catalog.by_title(principal.sandbox, i)) is not None
    ]
    page = await rt.reader.list(principal, player, query, render_context(request, titles))
    return JSONResponse(page)


@router.get(
    "/users/xuid({xuid})/achievements/{scid}/{achievementId}",
    response_model=AchievementsPage,
    responses=ERRORS,
)
async def get_achievement(request: Request, xuid: str, scid: str, achievementId: str) -> Response:
    rt, principal, player = await authorize(request, xuid)
    scid = _scid(scid)
    title = await rt.catalog.by_scid(principal.sandbox, scid)
    page = await rt.reader.one(
        principal, player, scid, achievementId, render_context(request, [title] if title else [])
    )
    return JSONResponse(page)


@router.delete(
    "/users/xuid({xuid})/achievements/{scid}", status_code=204, responses=ERRORS, tags=["testing"]
)
async def reset_achievements(request: Request, xuid: str, scid: str) -> Response:
    """Erase a player's data for the title (game-server credential; DEV.* only)."""
    rt, principal, player = await authorize(request, xuid)
    principal.require_server("resetting a player")
    scid = _scid(scid)
    title = await rt.catalog.by_scid(principal.sandbox, scid)
    if title is None:
        raise NotFound(f"no title with SCID {scid} in sandbox {principal.sandbox}")
    if title.title_id != principal.title_id:
        raise Forbidden(f"this server credential is for title {principal.title_id}")
    refuse_retail(principal.sandbox)
    await rt.db.run_write(
        lambda conn: reset_player(conn, sandbox=principal.sandbox, xuid=player, scid=scid)
    )
    return Response(status_code=204)
