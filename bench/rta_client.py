"""The devices of bench/realtime.py, in a process of their own: many RTA sockets,
each subscribed to its player's unlock notifications and progress, plus unlocks
timed from the request to the notification on the player's socket.

    python -m bench.rta_client SPEC.json

Prints `connected` once every socket is subscribed, then answers commands read from
stdin, one JSON line each:
    {"latency": {"url": ..., "samples": N, "interval": S}}  -> {"latency_ms": [...], ...}
    {"counts": true}                                         -> {"events": N, "resyncs": N}
    {"quit": true}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

SUBPROTOCOL = Subprotocol("rta.xboxlive.com.V2")
OPENING_AT_ONCE = 50


@dataclass
class Devices:
    spec: dict[str, Any]
    sockets: list[ClientConnection] = field(default_factory=list)
    events: int = 0
    resyncs: int = 0
    waiting: dict[tuple[str, str], asyncio.Future[float]] = field(default_factory=dict)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self, xuid: str, token: str) -> None:
        ws = await connect(
            self.spec["ws_url"],
            subprotocols=[SUBPROTOCOL],
            additional_headers={"Authorization": f"Bearer {token}"},
            open_timeout=60,
            max_queue=None,
            compression=None,
        )
        scid, title_id = self.spec["scid"], self.spec["title_id"]
        for seq, uri in enumerate(
            (
                f"https://notify.xboxlive.com/users/xuid({xuid})/deviceId/current/titleId/{title_id}",
                f"https://achievements.xboxlive.com/users/xuid({xuid})/achievements/{scid}",
            ),
            1,
        ):
            await ws.send(json.dumps([1, seq, uri]))
            answer = json.loads(await ws.recv())
            if answer[2] != 0:
                raise RuntimeError(f"subscribe refused: {answer}")
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self._read(ws, xuid)))

    async def _read(self, ws: ClientConnection, xuid: str) -> None:
        with contextlib.suppress(Exception):
            async for raw in ws:
                arrived = time.perf_counter()
                frame = json.loads(raw)
                if frame[0] == 4:
                    self.resyncs += 1
                    continue
                self.events += 1
                data = frame[2]
                if "achievementName" in data:
                    future = self.waiting.pop((xuid, data["achievementId"]), None)
                    if future is not None and not future.done():
                        future.set_result(arrived)

    async def open_all(self) -> None:
        gate = asyncio.Semaphore(OPENING_AT_ONCE)

        async def one(xuid: str, token: str) -> None:
            async with gate:
                await self.open(xuid, token)

        await asyncio.gather(*(one(x, t) for x, t in self.spec["players"]))

    async def latency(self, url: str, samples: int, interval: float) -> dict[str, Any]:
        """Unlock achievements of the dedicated players one after another; each time,
        from sending the update to the notification arriving on that player's socket."""
        players = self.spec["latency_players"]
        achievements = self.spec["achievements"]
        scid, title_id = self.spec["scid"], self.spec["title_id"]
        total, after_200, missing = [], [], 0
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for n in range(samples):
                xuid, token = players[n % len(players)]
                achievement = achievements[
                    (n // len(players) + self.spec["offset"]) % len(achievements)
                ]
                future = asyncio.get_running_loop().create_future()
                self.waiting[(xuid, achievement)] = future
                body = {
                    "action": "progressUpdate",
                    "serviceConfigId": scid,
                    "titleId": title_id,
                    "userId": xuid,
                    "achievements": [{"id": achievement, "percentComplete": 100}],
                }
                sent = time.perf_counter()
                response = await client.post(
                    f"/users/xuid({xuid})/achievements/{scid}/update",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                answered = time.perf_counter()
                if response.status_code != 200:
                    self.waiting.pop((xuid, achievement), None)
                    missing += 1
                    continue
                try:
                    arrived = await asyncio.wait_for(future, 10)
                except TimeoutError:
                    missing += 1
                    continue
                total.append((arrived - sent) * 1000)
                after_200.append(max(0.0, arrived - answered) * 1000)
                if interval:
                    await asyncio.sleep(interval)
        self.spec["offset"] += samples // len(players) + 1
        return {"latency_ms": total, "after_200_ms": after_200, "missing": missing}


async def commands(devices: Devices) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if "quit" in command:
            return
        if "latency" in command:
            asked = command["latency"]
            answer = await devices.latency(asked["url"], asked["samples"], asked["interval"])
        else:
            answer = {"events": devices.events, "resyncs": devices.resyncs}
        print(json.dumps(answer), flush=True)


async def run(spec: dict[str, Any]) -> None:
    devices = Devices({**spec, "offset": 0})
    began = time.perf_counter()
    await devices.open_all()
    print(f"connected {len(devices.sockets)} {time.perf_counter() - began:.1f}", flush=True)
    await commands(devices)
    await asyncio.gather(*(ws.close() for ws in devices.sockets), return_exceptions=True)


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        import uvloop

        uvloop.run(run(spec))
    except ImportError:
        asyncio.run(run(spec))


if __name__ == "__main__":
    main()
