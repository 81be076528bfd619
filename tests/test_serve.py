"""`laurels serve` as a studio runs it: several worker processes on one database,
and rate limits shared by every process through Redis."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import time

import httpx
import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers import SCID, publish_config, start_serve, title_config, token_for, update_body

REDIS = ("127.0.0.1", 6379)


def require_redis() -> None:
    try:
        socket.create_connection(REDIS, 1).close()
    except OSError:
        if shutil.which("redis-server") is None:
            pytest.skip("Redis is not installed on this machine")
        pytest.fail(
            "Redis is installed but not running on 127.0.0.1:6379: redis-server "
            "--daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
        )


@pytest.mark.slow
async def test_workers_share_one_database(db: Database, database_url: str) -> None:
    await publish_config(db, title_config(5))
    token = await token_for(db, server=True)
    service = start_serve(database_url, workers=2)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=service.url, headers=headers) as client:

            async def unlock(n: int) -> int:
                xuid = str(9_000_000 + n)
                body = update_body([("3", 100)], xuid=xuid)
                path = f"/users/xuid({xuid})/achievements/{SCID}/update"
                return (await client.post(path, json=body)).status_code

            assert await asyncio.gather(*(unlock(n) for n in range(40))) == [200] * 40
            assert await asyncio.gather(*(unlock(n) for n in range(40))) == [304] * 40
    finally:
        service.stop()


@pytest.mark.slow
async def test_rate_limits_are_shared_through_redis(db: Database, database_url: str) -> None:
    require_redis()
    await publish_config(db, title_config(3))
    env = {"LAURELS_REDIS_URL": "redis://127.0.0.1:6379/0", "LAURELS_RATE_BURST_REQUESTS": "10"}
    services = [start_serve(database_url, extra_env=env) for _ in range(2)]
    xuid = str(random.randrange(10**12, 10**13))  # a player no other run has used
    token = await token_for(db, xuid=xuid)  # counted in this player's bucket
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(headers=headers) as client:
            # The counts start again with each 15-s window (from the epoch): begin the 14
            # requests early in one, or a new window in their midst lets them all through.
            window = Settings.rate_burst_seconds
            left = window - time.time() % window
            if left < window / 2:
                await asyncio.sleep(left + 0.05)
            statuses = []
            for n in range(14):
                url = services[n % 2].url
                body = update_body([("1", n + 1)], xuid=xuid)
                response = await client.post(
                    f"{url}/users/xuid({xuid})/achievements/{SCID}/update", json=body
                )
                statuses.append(response.status_code)
            assert statuses == [200] * 10 + [429] * 4
            assert response.json()["maxRequests"] == 10
            assert int(response.headers["Retry-After"]) >= 1
    finally:
        for service in services:
            service.stop()
