"""Development sandboxes' test accounts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from laurels.portal.tables import test_accounts
from laurels.portal.web import Viewer, portal_runtime, render

router = APIRouter()


@router.get("/testing", include_in_schema=False)
async def accounts(request: Request, session: Viewer) -> Response:
    async with portal_runtime(request).db.read() as conn:
        rows = list(
            await conn.execute(
                select(test_accounts).order_by(test_accounts.c.sandbox, test_accounts.c.name)
            )
        )
    return render(request, "testing/accounts.html", accounts=rows)
