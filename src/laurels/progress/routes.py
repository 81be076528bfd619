"""HTTP routes of the player API (spec/wire.md). Thin: parse, authorize, call the
feature, shape the response."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
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
from laurels.progress.policy import refuse_retail
from laurels.progress.reads import MAX_PAGE, ORDERS, ListQuery
from laurels.progress.schemas import AchievementsPage, error_responses
from laurels.progress.service import reset_player
from laurels.runtime import Runtime
from laurels.titles.catalog import PublishedTitle
from laurels.wire.context import RenderContext, context_for
from laurels.wire.identifiers import (
    MAX_TITLE_ID,
    SCID_PATTERN,
    XUID_PATTERN,
    numeral_pattern,
    parse_scid,
    parse_xuid,
)
from laurels.wire.times import now_micros

router = APIRouter(tags=["achievements"])
CONTRACT_VERSIONS = {"2"}
# What every authorized route may answer besides its own errors (authorize()).
AUTHORIZED = (400, 401, 403, 429, 503)
READ_ERRORS = error_responses(*AUTHORIZED)


def any_case(word: str) -> str:
    """A pattern matching `word` in any ASCII case ("ab" → "[Aa][Bb]")."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# The published bounds; the parsers below check the same patterns (so the schema is
# the truth), then say in words what was wrong.
XuidPath = Annotated[
    str,
    Path(
        description="Decimal uint64",
        json_schema_extra={"pattern": XUID_PATTERN, "maxLength": 20},
    ),
]
ScidPath = Annotated[
    str, Path(description="The title's SCID, a GUID", json_schema_extra={"pattern": SCID_PATTERN})
]
TOKEN_PATTERN = r"^(?:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?$"  # empty: no token
ContinuationToken = Annotated[
    str | None,
    Query(
        max_length=8192,
        description="From the previous page's pagingInfo; opaque and tamper-evident",
        json_schema_extra={"pattern": TOKEN_PATTERN},
    ),
]
TITLE_ID = f"0*{numeral_pattern(MAX_TITLE_ID)}"
TITLE_IDS = re.compile(f"^{TITLE_ID}(?:,{TITLE_ID}){{0,49}}$")
TYPE = f"(?:{any_case('Persistent')}|{any_case('Challenge')})"
TYPES = re.compile(f"^(?:{TYPE}(?:,{TYPE})*)?$")
ORDER = re.compile("^(?:" + "|".join(any_case(order) for order in ORDERS.values()) + ")$")


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
    response_class=Response,
    responses={
        200: {"description": "Something changed (empty body)"},
        304: {"description": "Nothing changed (empty body)"},
        **error_responses(*AUTHORIZED, 404, 409, 413, 415),
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
async def update_achievements(request: Request, xuid: XuidPath, scid: ScidPath) -> Response:
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
    if not TITLE_IDS.fullmatch(text):
        raise BadRequest("titleId must name 1..50 comma-separated decimal ids of 1..4294967295")
    return tuple(dict.fromkeys(int(part) for part in text.split(",")))


def _types(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    if not TYPES.fullmatch(text):
        raise BadRequest("types must be Persistent and/or Challenge, comma-separated")
    names = {"persistent": "Persistent", "challenge": "Challenge"}
    return frozenset(names[part.lower()] for part in text.split(","))


def _order(text: str | None) -> str:
    if text is None:
        return "Unordered"
    if not ORDER.fullmatch(text):
        raise BadRequest("orderBy must be Unordered, Title, UnlockTime or EndingSoon")
    return ORDERS[text.lower()]


@router.get(
    "/users/xuid({xuid})/achievements", response_model=AchievementsPage, responses=READ_ERRORS
)
async def list_achievements(
    request: Request,
    xuid: XuidPath,
    titleId: Annotated[
        str,
        Query(
            description="1..50 comma-separated decimal title ids",
            json_schema_extra={"pattern": TITLE_IDS.pattern},
        ),
    ],
    types: Annotated[
        str | None,
        Query(
            description="Persistent and/or Challenge, comma-separated (any case)",
            json_schema_extra={"pattern": TYPES.pattern},
        ),
    ] = None,
    unlockedOnly: bool = False,
    possibleOnly: bool = False,
    orderBy: Annotated[
        str | None,
        Query(
            description="Unordered, Title, UnlockTime or EndingSoon (any case)",
            json_schema_extra={"pattern": ORDER.pattern},
        ),
    ] = None,
    maxItems: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    skipItems: Annotated[int, Query(ge=0)] = 0,
    continuationToken: ContinuationToken = None,
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
    responses=error_responses(*AUTHORIZED, 404),
)
async def get_achievement(
    request: Request,
    xuid: XuidPath,
    scid: ScidPath,
    achievementId: Annotated[
        str,
        Path(
            description="An id of the title's configuration (percent-encoded)",
            json_schema_extra={"minLength": 1, "maxLength": 64},
        ),
    ],
) -> Response:
    rt, principal, player = await authorize(request, xuid)
    scid = _scid(scid)
    title = await rt.catalog.by_scid(principal.sandbox, scid)
    page = await rt.reader.one(
        principal, player, scid, achievementId, render_context(request, [title] if title else [])
    )
    return JSONResponse(page)


@router.delete(
    "/users/xuid({xuid})/achievements/{scid}",
    status_code=204,
    response_class=Response,
    responses=error_responses(*AUTHORIZED, 404),
    tags=["testing"],
)
async def reset_achievements(request: Request, xuid: XuidPath, scid: ScidPath) -> Response:
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
