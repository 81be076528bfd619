"""HTTP routes of the activity feed and the title history. Thin: parse, authorize,
call the feature, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from laurels.activity.schemas import ActivityPage, TitleHistoryPage
from laurels.activity.service import DEFAULT_PAGE, ActivityReader, PageQuery
from laurels.web.auth import Authorized, Caller, authorized_errors
from laurels.web.params import ContinuationToken
from laurels.web.rendering import render_context
from laurels.wire.paging import MAX_PAGE

router = APIRouter(tags=["activity"])

MaxItems = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"1..{MAX_PAGE}")]
TitleFilter = Annotated[int | None, Query(ge=1, le=0xFFFFFFFF, description="Only this title")]


def _reader(caller: Caller) -> ActivityReader:
    """The feed's reader, built once by the runtime."""
    reader: ActivityReader = caller.runtime.activity
    return reader


@router.get(
    "/users/xuid({xuid})/activity", response_model=ActivityPage, responses=authorized_errors()
)
async def activity_feed(
    request: Request,
    caller: Authorized,
    titleId: TitleFilter = None,
    maxItems: MaxItems = DEFAULT_PAGE,
    continuationToken: ContinuationToken = None,
) -> Response:
    """The player's unlocks, newest first: one item per unlock, ever."""
    query = PageQuery(maxItems, titleId, continuationToken or None)
    page = await _reader(caller).feed(
        caller.principal, caller.xuid, query, lambda titles: render_context(request, list(titles))
    )
    return JSONResponse(page)


@router.get(
    "/users/xuid({xuid})/history/titles",
    response_model=TitleHistoryPage,
    responses=authorized_errors(),
)
async def title_history(
    caller: Authorized,
    maxItems: MaxItems = DEFAULT_PAGE,
    continuationToken: ContinuationToken = None,
) -> Response:
    """The titles the player played in the token's sandbox, most recently unlocked first."""
    query = PageQuery(maxItems, None, continuationToken or None)
    return JSONResponse(await _reader(caller).history(caller.principal, caller.xuid, query))
