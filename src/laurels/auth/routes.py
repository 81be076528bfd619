"""HTTP route that hands a device a delivery credential (auth/credentials.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from laurels.auth.credentials import DAY_SECONDS, issue_credential, may_issue
from laurels.web.auth import Authorized, authorized_errors

router = APIRouter(tags=["delivery credentials"])


class DeliveryCredentialBody(BaseModel):
    credential: str = Field(description="The token: `Authorization: Bearer <credential>`")
    id: str = Field(description="The credential's id, for `laurels credentials revoke --id`")
    xuid: str
    titleId: int
    sandbox: str
    expiresAt: str = Field(description="ISO-8601 UTC, seven fractional digits")


@router.post(
    "/users/xuid({xuid})/delivery-credentials",
    status_code=201,
    response_model=DeliveryCredentialBody,
    responses=authorized_errors(),
)
async def create_delivery_credential(caller: Authorized) -> Response:
    """A long-lived credential that may only post progress updates for this player,
    title and sandbox, for delivering updates queued offline after the session token
    expired. Needs the player's own token; any body is ignored."""
    rt, principal, player = caller.runtime, caller.principal, caller.xuid
    may_issue(principal, xuid=player)
    ttl = rt.settings.delivery_credential_days * DAY_SECONDS
    issued = await rt.db.run_write(
        lambda conn: issue_credential(
            conn,
            rt.signing_key,
            xuid=player,
            title_id=principal.title_id,
            sandbox=principal.sandbox,
            ttl_seconds=ttl,
        )
    )
    return JSONResponse(issued.as_json(), status_code=201, headers={"Cache-Control": "no-store"})
