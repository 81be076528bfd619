"""`GET /connect`: the RTA WebSocket (docs/realtime.md)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket

from laurels.auth.service import Principal, parse_authorization
from laurels.errors import LaurelsError
from laurels.progress.views import context_for
from laurels.realtime.hub import Connection
from laurels.realtime.protocol import SUBPROTOCOL, ProtocolError
from laurels.realtime.session import Session
from laurels.runtime import Runtime

router = APIRouter()
GOING_AWAY, UNSUPPORTED_DATA, POLICY_VIOLATION = 1001, 1003, 1008


def _principal(rt: Runtime, websocket: WebSocket) -> Principal | None:
    """The player the handshake authenticates (header, or `?token=` for browsers)."""
    header = websocket.headers.get("authorization")
    query = websocket.query_params.get("token")
    try:
        token = parse_authorization(header) if header or not query else query
        principal = rt.verifier.verify(token)
    except LaurelsError:
        return None
    return principal if principal.kind == "player" and principal.xuid else None


async def _connection(rt: Runtime, websocket: WebSocket, principal: Principal) -> Connection:
    base = rt.settings.public_url or str(websocket.base_url).replace("ws", "http", 1)
    title = await rt.catalog.by_title(principal.sandbox, principal.title_id)
    titles = [] if title is None else [title]
    return Connection(
        send=websocket.send_text,
        sandbox=principal.sandbox,
        xuid=principal.xuid or "",
        title_id=principal.title_id,
        context=context_for(
            base=base, accept_language=websocket.headers.get("accept-language"), titles=titles
        ),
        base=base,
        buffer_limit=rt.settings.rta_buffer_events,
    )


@router.websocket("/connect")
async def connect(websocket: WebSocket) -> None:
    rt: Runtime = websocket.app.state.runtime
    principal = _principal(rt, websocket)
    if principal is None or SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await websocket.close(code=POLICY_VIOLATION)  # before accept: HTTP 403
        return
    await websocket.accept(subprotocol=SUBPROTOCOL)
    conn = await _connection(rt, websocket, principal)
    session = Session(
        conn,
        relay=rt.relay,
        catalog=rt.catalog,
        max_subscriptions=rt.settings.rta_max_subscriptions,
    )
    rt.hub.attach(conn, lambda: websocket.close(code=GOING_AWAY))
    pump = asyncio.create_task(conn.pump())
    try:
        await _read(websocket, session)
    finally:
        rt.hub.detach(conn)
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _read(websocket: WebSocket, session: Session) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        try:
            if text is None:
                raise ProtocolError("frames must be text")
            await session.handle(text)
        except ProtocolError as exc:
            await websocket.close(code=UNSUPPORTED_DATA, reason=str(exc)[:120])
            return
        except ConnectionError:  # gone while a replay waited for room
            return
