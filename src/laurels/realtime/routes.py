"""`GET /connect`: the RTA WebSocket (docs/realtime.md)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from laurels.auth.service import TokenVerifier
from laurels.errors import LaurelsError
from laurels.realtime.browser import cookie_token
from laurels.realtime.hub import Connection, Hub
from laurels.realtime.protocol import (
    GOING_AWAY,
    POLICY_VIOLATION,
    SUBPROTOCOL,
    ProtocolError,
)
from laurels.realtime.relay import OutboxRelay
from laurels.realtime.session import Session
from laurels.settings import Settings
from laurels.titles import Catalog
from laurels.web.auth import parse_authorization
from laurels.web.errors import error_body
from laurels.wire.context import context_for
from laurels.wire.principal import Principal

router = APIRouter()
# While the verifier still accepts a token past its `exp` (a leeway), look again this often.
EXPIRY_RECHECK_SECONDS = 1.0
TOKEN_EXPIRED = "token expired"


class Runtime(Protocol):
    """The parts of the process's runtime (`laurels.runtime.Runtime`) the socket uses."""

    @property
    def settings(self) -> Settings: ...

    @property
    def verifier(self) -> TokenVerifier: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def hub(self) -> Hub: ...

    @property
    def relay(self) -> OutboxRelay: ...


def _presented(rt: Runtime, websocket: WebSocket) -> tuple[str | None, bool]:
    """The token the handshake presents, and whether it is the player page's
    session: the `Authorization` header, else `?token=`, else (neither sent) the
    session cookie when the `Origin` is this site. Raises Unauthorized for a
    malformed header."""
    header = websocket.headers.get("authorization")
    query = websocket.query_params.get("token")
    if header or query:
        return (parse_authorization(header) if header else query), False
    found = cookie_token(websocket.headers, websocket.cookies, public_url=rt.settings.public_url)
    return found, found is not None


def _authenticate(rt: Runtime, websocket: WebSocket) -> tuple[str, Principal, bool] | None:
    """The token and the player the handshake authenticates (header, `?token=` or
    the session cookie, see `_presented`), and whether it is the player page's
    session; None for anything but a valid player token."""
    try:
        token, page = _presented(rt, websocket)
        if token is None:
            return None
        principal = rt.verifier.verify(token)
    except LaurelsError:
        return None
    if principal.kind != "player" or not principal.xuid:
        return None
    return token, principal, page


class Expiry:
    """When a socket's token stops being valid: its `exp`, or later while the
    verifier still accepts it."""

    def __init__(self, verifier: TokenVerifier, token: str, expires_at: float) -> None:
        self._verifier = verifier
        self._token = token
        self._at = expires_at

    def remaining(self) -> float:
        """Seconds until the token should be checked again (0 when due)."""
        return max(0.0, self._at - time.time())

    def passed(self) -> bool:
        """Whether the verifier now refuses the token."""
        try:
            self._verifier.verify(self._token)
        except LaurelsError:
            return True
        self._at = time.time() + EXPIRY_RECHECK_SECONDS
        return False


async def _connection(
    rt: Runtime, websocket: WebSocket, principal: Principal, *, every_title: bool
) -> Connection:
    """The device. A game's token follows its own title; the player page's session
    follows every title of the player in its sandbox (as the player reads them all
    over HTTP), so that an unlock in any game shows on the page."""
    base = rt.settings.public_url or str(websocket.base_url).replace("ws", "http", 1)
    title = await rt.catalog.by_title(principal.sandbox, principal.title_id)
    titles = [] if title is None else [title]
    return Connection(
        send=websocket.send_text,
        sandbox=principal.sandbox,
        xuid=principal.xuid or "",
        title_id=None if every_title else principal.title_id,
        context=context_for(
            base=base, accept_language=websocket.headers.get("accept-language"), titles=titles
        ),
        base=base,
        buffer_limit=rt.settings.rta_buffer_events,
    )


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close the socket unless it is closed already (a shutdown, an expiry and a bad
    frame may race); a peer already gone is not an error."""
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.close(code=code, reason=reason)


async def _refuse_crowd(websocket: WebSocket, limit: int) -> None:
    """Refuse the handshake of a player's socket beyond the limit: HTTP 429 with the
    JSON error body (403 where the server cannot send a body)."""
    if "websocket.http.response" not in websocket.scope.get("extensions", {}):
        await websocket.close(code=POLICY_VIOLATION)
        return
    description = (
        f"this player already has {limit} real-time sockets open "
        "(LAURELS_RTA_MAX_SOCKETS_PER_PLAYER); close one and connect again"
    )
    await websocket.send_denial_response(error_body(429, 4000, description))


@router.websocket("/connect")
async def connect(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    found = _authenticate(rt, websocket)
    if found is None or SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
        return
    token, principal, page = found
    conn = await _connection(rt, websocket, principal, every_title=page)
    limit = rt.settings.rta_max_sockets_per_player
    if not rt.hub.admit(conn, lambda: _close(websocket, GOING_AWAY), limit=limit):
        await _refuse_crowd(websocket, limit)
        return
    pump: asyncio.Task[None] | None = None
    try:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        session = Session(
            conn,
            relay=rt.relay,
            catalog=rt.catalog,
            max_subscriptions=rt.settings.rta_max_subscriptions,
        )
        pump = asyncio.create_task(conn.pump())
        await _read(websocket, session, Expiry(rt.verifier, token, principal.expires_at))
    finally:
        rt.hub.detach(conn)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


async def _read(websocket: WebSocket, session: Session, expiry: Expiry) -> None:
    """Answer frames until the peer leaves, a frame breaks the protocol (closed with
    the error's code) or the token expires (closed with 1008, "token expired")."""
    while True:
        try:
            async with asyncio.timeout(expiry.remaining()):
                message = await websocket.receive()
        except TimeoutError:
            if expiry.passed():
                await _close(websocket, POLICY_VIOLATION, TOKEN_EXPIRED)
                return
            continue
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        try:
            if text is None:
                raise ProtocolError("frames must be text")
            await session.handle(text)
        except ProtocolError as exc:
            await _close(websocket, exc.close_code, str(exc)[:120])
            return
        except ConnectionError:  # gone while a replay waited for room
            return
