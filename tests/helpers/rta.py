"""A minimal RTA test client: raw frames over a real WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.helpers import SCID, TITLE_ID, XUID

SUBPROTOCOL = "rta.xboxlive.com.V2"


def progress_uri(xuid: str = XUID, scid: str = SCID) -> str:
    return f"https://achievements.xboxlive.com/users/xuid({xuid})/achievements/{scid}"


def notify_uri(xuid: str = XUID, title_id: int = TITLE_ID) -> str:
    return f"https://notify.xboxlive.com/users/xuid({xuid})/deviceId/current/titleId/{title_id}"


class RtaClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._seq = 0
        self._answers: dict[tuple[int, int], list[Any]] = {}
        self.events: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame[0] in (1, 2):
                self._answers[(frame[0], frame[1])] = frame
            else:
                self.events.put_nowait(frame)

    async def _answer(self, kind: int, seq: int, timeout: float = 10) -> list[Any]:
        async with asyncio.timeout(timeout):
            while (kind, seq) not in self._answers:
                if self._reader.done():
                    raise ConnectionError("the socket closed before the answer")
                await asyncio.sleep(0.005)
        return self._answers.pop((kind, seq))

    async def subscribe(self, uri: str, since: str | None = None) -> list[Any]:
        self._seq += 1
        frame: list[Any] = [1, self._seq, uri]
        if since is not None:
            frame.append({"since": since})
        await self.ws.send(json.dumps(frame))
        return await self._answer(1, self._seq)

    async def unsubscribe(self, sub_id: int) -> list[Any]:
        self._seq += 1
        await self.ws.send(json.dumps([2, self._seq, sub_id]))
        return await self._answer(2, self._seq)

    async def event(self, timeout: float = 10) -> list[Any]:
        async with asyncio.timeout(timeout):
            return await self.events.get()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/connect"


@asynccontextmanager
async def rta(
    http_url: str, token: str, *, headers: dict[str, str] | None = None
) -> AsyncIterator[RtaClient]:
    async with connect(
        ws_url(http_url),
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {token}", **(headers or {})},
        open_timeout=10,
    ) as ws:
        client = RtaClient(ws)
        try:
            yield client
        finally:
            await client.close()
