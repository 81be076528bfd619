"""HTTP routes of the player API (spec/wire.md). Thin: parse, authorize, call the
feature, shape the response."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from laurels.errors import BadRequest, Forbidden, LaurelsError, NotFound
from laurels.progress.policy import refuse_retail
from laurels.progress.reads import ORDERS, ListQuery
from laurels.progress.schemas import AchievementsPage, EventsAnswer, StatsAnswer
from laurels.progress.service import read_player_stats, reset_player
from laurels.web.auth import CALLER_HEADERS, Authorized, authorized_errors, check_caller, runtime
from laurels.web.body import Receive, read_json_body
from laurels.web.hot import JSON, Answer, HotRequest, HotRoute
from laurels.web.params import ContinuationToken, ScidPath, XuidPath, any_case, scid_from_path
from laurels.web.rendering import render_context
from laurels.wire.identifiers import MAX_TITLE_ID, numeral_pattern
from laurels.wire.paging import MAX_PAGE
from laurels.wire.principal import Principal
from laurels.wire.times import now_micros

router = APIRouter(tags=["achievements"])
TITLE_ID = f"0*{numeral_pattern(MAX_TITLE_ID)}"
TITLE_IDS = re.compile(f"^{TITLE_ID}(?:,{TITLE_ID}){{0,49}}$")
TYPE = f"(?:{any_case('Persistent')}|{any_case('Challenge')})"
TYPES = re.compile(f"^(?:{TYPE}(?:,{TYPE})*)?$")
ORDER = re.compile("^(?:" + "|".join(any_case(order) for order in ORDERS.values()) + ")$")


# The headers the hot routes read: the caller's and the body's.
HOT_HEADERS = (*CALLER_HEADERS, "content-type", "content-length")
OK, NOT_MODIFIED = Answer(200), Answer(304)


async def _caller_and_body(
    rt: Any, headers: Mapping[str, str], receive: Receive, xuid: str
) -> tuple[Principal, str, bytes]:
    """The caller (`check_caller`), the path's canonical XUID and the JSON body."""
    principal, player = await check_caller(
        rt,
        authorization=headers.get("authorization"),
        contract_version=headers.get("x-xbl-contract-version"),
        xuid=xuid,
    )
    return principal, player, await read_json_body(headers, receive, rt.settings.max_body_bytes)


async def answer_update(
    rt: Any, headers: Mapping[str, str], receive: Receive, *, xuid: str, scid: str
) -> int:
    """Raise a player's progress (`xuid`, `scid` as in the path): 200 if anything
    changed, 304 if nothing did; a LaurelsError for every refusal, nothing written.
    Every answer is counted in the update metrics, refusals of the token included."""
    try:
        principal, player, raw = await _caller_and_body(rt, headers, receive, xuid)
        changed = await rt.updater.update(
            principal, xuid=player, scid=scid_from_path(scid), raw=raw, now_us=now_micros()
        )
    except LaurelsError as exc:
        rt.metrics.update_answered(exc.status)
        raise
    status = 200 if changed else 304
    rt.metrics.update_answered(status)
    return status


async def answer_events(
    rt: Any, headers: Mapping[str, str], receive: Receive, *, xuid: str
) -> bytes:
    """Apply a player's events: the JSON answer; a LaurelsError for every refusal,
    nothing written. Every answer is counted in the event metrics."""
    try:
        principal, player, raw = await _caller_and_body(rt, headers, receive, xuid)
        accepted, duplicates = await rt.events.send(
            principal, xuid=player, raw=raw, now_us=now_micros()
        )
    except LaurelsError as exc:
        rt.metrics.events_answered(exc.status)
        raise
    rt.metrics.events_answered(200, accepted=accepted, duplicates=duplicates)
    return b'{"accepted":%d,"duplicates":%d}' % (accepted, duplicates)


async def hot_update(request: HotRequest) -> Answer:
    """The update, ahead of FastAPI (`web.hot`); declared below for the router."""
    params = request.params
    status = await answer_update(
        request.app.state.runtime,
        request.headers,
        request.receive,
        xuid=params["xuid"],
        scid=params["scid"],
    )
    return OK if status == 200 else NOT_MODIFIED


async def hot_events(request: HotRequest) -> Answer:
    """The events, ahead of FastAPI (`web.hot`); declared below for the router."""
    body = await answer_events(
        request.app.state.runtime, request.headers, request.receive, xuid=request.params["xuid"]
    )
    return Answer(200, body, (JSON,))


UPDATE_PATH = "/users/xuid({xuid})/achievements/{scid}/update"
EVENTS_PATH = "/users/xuid({xuid})/events"
HOT_ROUTES = (
    HotRoute("POST", UPDATE_PATH, hot_update, HOT_HEADERS),
    HotRoute("POST", EVENTS_PATH, hot_events, HOT_HEADERS),
)


@router.post(
    UPDATE_PATH,
    status_code=200,
    response_class=Response,
    responses={
        200: {"description": "Something changed (empty body)"},
        304: {"description": "Nothing changed (empty body)"},
        **authorized_errors(404, 409, 413, 415),
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
    """Raise progress of 1..N achievements; 200 if any changed, 304 if none did.

    The service answers it ahead of FastAPI's router (`hot_update`); through the
    router (an app under a root path) it answers the same."""
    status = await answer_update(
        runtime(request), request.headers, request.receive, xuid=xuid, scid=scid
    )
    return Response(status_code=status)


@router.post(
    EVENTS_PATH,
    response_model=EventsAnswer,
    responses=authorized_errors(404, 409, 413, 415),
    tags=["events"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EventsBody"}}
            },
        }
    },
)
async def send_events(request: Request, xuid: XuidPath) -> Response:
    """Report 1..100 events of an event-based title (spec/events.md), applied in one
    transaction or not at all. An event id already applied for this player, title and
    sandbox, or repeated in the request, is skipped and counted in `duplicates`.
    403 for a player token sending a `sentBy: server` event; 409 for a
    title-managed title; 400 names the path of the first bad field
    (`events[3].measurements.count`).

    Answered ahead of FastAPI's router like the update (`hot_events`)."""
    body = await answer_events(runtime(request), request.headers, request.receive, xuid=xuid)
    return Response(body, media_type="application/json")


@router.get(
    "/users/xuid({xuid})/stats",
    response_model=StatsAnswer,
    responses=authorized_errors(404),
    tags=["events"],
)
async def read_stats(
    caller: Authorized,
    titleId: Annotated[
        int, Query(ge=1, le=MAX_TITLE_ID, description="An event-based title's decimal id")
    ],
) -> Response:
    """The player's stats of a title (unset stats are absent; a title-managed title
    has none): the player's own token, or the title's game-server credential."""
    rt, principal = caller.runtime, caller.principal
    principal.require_read_access(xuid=caller.xuid, title_id=titleId)
    title = await rt.events.title(principal, titleId)
    async with rt.db.read() as conn:
        found = await read_player_stats(
            conn, sandbox=principal.sandbox, xuid=caller.xuid, scids=[title.scid]
        )
    values = found.get(title.scid, {})
    return JSONResponse(
        {"stats": [{"name": name, "value": values[name]} for name in title.stats if name in values]}
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
    "/users/xuid({xuid})/achievements",
    response_model=AchievementsPage,
    responses=authorized_errors(),
)
async def list_achievements(
    request: Request,
    caller: Authorized,
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
    rt, principal = caller.runtime, caller.principal
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
    page = await rt.reader.list(principal, caller.xuid, query, render_context(request, titles))
    return JSONResponse(page)


@router.get(
    "/users/xuid({xuid})/achievements/{scid}/{achievementId}",
    response_model=AchievementsPage,
    responses=authorized_errors(404),
)
async def get_achievement(
    request: Request,
    caller: Authorized,
    scid: ScidPath,
    achievementId: Annotated[
        str,
        Path(
            description="An id of the title's configuration (percent-encoded)",
            json_schema_extra={"minLength": 1, "maxLength": 64},
        ),
    ],
) -> Response:
    rt, principal = caller.runtime, caller.principal
    scid = scid_from_path(scid)
    title = await rt.catalog.by_scid(principal.sandbox, scid)
    page = await rt.reader.one(
        principal,
        caller.xuid,
        scid,
        achievementId,
        render_context(request, [title] if title else []),
    )
    return JSONResponse(page)


@router.delete(
    "/users/xuid({xuid})/achievements/{scid}",
    status_code=204,
    response_class=Response,
    responses=authorized_errors(404),
    tags=["testing"],
)
async def reset_achievements(caller: Authorized, scid: ScidPath) -> Response:
    """Erase a player's data for the title (game-server credential; DEV.* only)."""
    rt, principal, player = caller.runtime, caller.principal, caller.xuid
    principal.require_server("resetting a player")
    scid = scid_from_path(scid)
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
