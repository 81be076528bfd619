"""Where a title is published: every sandbox's newest version."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from laurels.portal.pages.titles import TitleId, load_draft
from laurels.portal.web import Viewer, portal_runtime, render
from laurels.titles import service as titles

router = APIRouter()


@router.get("/titles/{title_id}/publish", include_in_schema=False)
async def versions(request: Request, session: Viewer, title_id: TitleId) -> Response:
    document = await load_draft(request, title_id)
    async with portal_runtime(request).db.read() as conn:
        summary = next(t for t in await titles.list_titles(conn) if t.title_id == title_id)
    return render(
        request,
        "publishing/versions.html",
        title_id=title_id,
        title_name=document["title"]["name"],
        area="publish",
        summary=summary,
    )
