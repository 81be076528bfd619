"""A title's draft: its achievements and, for an event-based title, its events and
stats."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from laurels.errors import NotFound
from laurels.portal.web import PageError, Viewer, portal_runtime, render
from laurels.titles import service as titles

router = APIRouter()
TitleId = Annotated[int, Path(ge=1, le=0xFFFFFFFF)]


async def load_draft(request: Request, title_id: int) -> dict[str, Any]:
    """The title's draft document; the 404 page when there is none."""
    try:
        async with portal_runtime(request).db.read() as conn:
            return await titles.load_draft(conn, title_id=title_id)
    except NotFound:
        raise PageError(404, "No such title", f"There is no title {title_id}.") from None


@router.get("/titles/{title_id}", include_in_schema=False)
async def draft(request: Request, session: Viewer, title_id: TitleId) -> Response:
    document = await load_draft(request, title_id)
    return render(
        request,
        "titles/draft.html",
        title_id=title_id,
        title_name=document["title"]["name"],
        area="draft",
        document=document,
    )
