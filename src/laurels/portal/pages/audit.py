"""The audit log: who changed, published, reset or revoked what, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from laurels.portal import accounts
from laurels.portal.web import Viewer, portal_runtime, render

router = APIRouter()
PAGE = 100


@router.get("/audit", include_in_schema=False)
async def audit(
    request: Request, session: Viewer, before: Annotated[int | None, Query(ge=1)] = None
) -> Response:
    async with portal_runtime(request).db.read() as conn:
        entries = await accounts.read_audit(conn, limit=PAGE, before_id=before)
    older = entries[-1].id if len(entries) == PAGE else None
    return render(request, "audit.html", entries=entries, older=older)
