"""A scripted RTA server for the SDK's real-time subscriber: a real WebSocket server
on 127.0.0.1 whose every answer the test decides, the frames it sends, and the
subscriber's recorded sleep."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from laurels.sdk._rta import SUBPROTOCOL, notification_resource, progress_resource
from tests.helpers.service import SCID, XUID

PROGRESS_URI = progress_resource(XUID, SCID).uri
NOTIFY_URI = notification_resource(XUID, 1234).uri
WAIT = 5.0  # for a frame or a connection


def progress(event_id: str, achievement_id: str = "1", percent: int = 40) -> dict[str, Any]:
    state = "Achieved" if percent >= 100 else "InProgress"
    return {
        "serviceConfigId": SCID,
        "eventId": event_id,
        "progression": [
            {
                "id": achievement_id,
                "progressState": state,
                "timeUnlocked": "0001-01-01T00:00:00Z",
                "requirements": [{"id": "r", "current": str(percent), "target": "100"}],
            }
        ],
    }


def unlock(event_id: str, achievement_id: str = "1") -> dict[str, Any]:
    return {
        "service": "achievements",
        "eventId": event_id,
        "achievementId": achievement_id,
        "achievementName": f"Achievement {achievement_id}",
        "achievementDescription": "done",
        "achievementIcon": "",
        "titleId": "1234",
        "gamerscore": 10,
        "xuid": XUID,
        "extendedInfoUrl": "",
        "rarityPercentage": 0.5,
        "rarityCategory": "Common",
        "unlockTime": "2024-05-01T18:22:07.1234567Z",
    }


class FakeConnection:
    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.subs: dict[str, int] = {}

    @property
    def headers(self) -> Headers:
        assert self.ws.request is not None
        return self.ws.request.headers

    async def next_frame(self) -> list[Any]:
        return await asyncio.wait_for(self.frames.get(), WAIT)

    async def event(self, uri: str, data: dict[str, Any]) -> None:
        await self.ws.send(json.dumps([3, self.subs[uri], data]))


class FakeRta:
    """An RTA server whose subscribe answers follow `script` (per URI, codes used
    in turn; 0 once the list is empty; None: never answer)."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[FakeConnection] = asyncio.Queue()
        self.script: dict[str, list[int | None]] = {}
        self.refuse: int | None = None
        self.refusals: list[int] = []  # statuses of the next handshakes, before `refuse`
        self.refuse_headers: dict[str, str] = {}
        self.refuse_body = "refused\n"
        self.refused = 0
        self.last_event_id = "0.0"
        self.server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen (again on the same port, after a stop)."""
        self.server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            process_request=self._process,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def connection(self) -> FakeConnection:
        return await asyncio.wait_for(self.connections.get(), WAIT)

    def _process(self, connection: ServerConnection, request: Request) -> Response | None:
        status = self.refusals.pop(0) if self.refusals else self.refuse
        if status is None:
            return None
        self.refused += 1
        response = connection.respond(HTTPStatus(status), self.refuse_body)
        for name, value in self.refuse_headers.items():
            response.headers[name] = value
        return response

    async def _handle(self, ws: ServerConnection) -> None:
        conn = FakeConnection(ws)
        await self.connections.put(conn)
        try:
            async for message in ws:
                frame = json.loads(message)
                if frame[0] == 1:
                    await self._answer(conn, frame)
                await conn.frames.put(frame)
        except ConnectionClosed:
            pass

    async def _answer(self, conn: FakeConnection, frame: list[Any]) -> None:
        codes = self.script.get(frame[2], [])
        code = codes.pop(0) if codes else 0
        if code is None:
            return
        if code:
            await conn.ws.send(json.dumps([1, frame[1], code, None, None]))
            return
        sub_id = conn.subs.setdefault(frame[2], len(conn.subs) + 1)
        data = {"lastEventId": self.last_event_id}
        await conn.ws.send(json.dumps([1, frame[1], 0, sub_id, data]))


class Sleeps:
    """The subscriber's sleep: records each delay; waits while `gate` is clear."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.called = asyncio.Event()
        self.hook: Callable[[int], Awaitable[None]] | None = None

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.called.set()
        if self.hook is not None:
            await self.hook(len(self.delays))
        await self.gate.wait()
