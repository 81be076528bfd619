"""The portal's first page: every title, its draft and where it is published."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from laurels.portal.web import Viewer, portal_runtime, render
from laurels.titles import service as titles

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home(request: Request, session: Viewer) -> Response:
    async with portal_runtime(request).db.read() as conn:
        found = await titles.list_titles(conn)
    return render(request, "home.html", titles=found)
