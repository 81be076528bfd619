"""A crash loses nothing acknowledged: SIGKILL the service in the middle of a load,
restart it, and every update that got a 200 is there."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from laurels.db import Database
from laurels.progress.service import read_progress
from tests.helpers import (
    SCID,
    eventually,
    publish_config,
    start_serve,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.wire import check_achievements_page

WRITERS = 16
KILL_AFTER_ACKS = 400
DEADLINE_SECONDS = 60


async def _load(
    url: str, token: str, acks: list[tuple[str, str, int]], stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}

    async def writer(n: int, client: httpx.AsyncClient) -> None:
        xuid = str(5_000_000 + n)
        for step in range(1, 10_000):
            if stop.is_set():
                return
            achievement, percent = str(step % 5 + 1), min(100, step // 5 + 1)
            body = update_body([(achievement, percent)], xuid=xuid)
            try:
                response = await client.post(
                    f"{url}/users/xuid({xuid})/achievements/{SCID}/update",
                    json=body,
                    headers=headers,
                )
            except httpx.HTTPError:
                return  # the service died under us: this update was never acknowledged
            if response.status_code == 200:
                acks.append((xuid, achievement, percent))

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(writer(n, client) for n in range(WRITERS)))


@pytest.mark.slow
async def test_sigkill_under_load_loses_no_acknowledged_update(
    db: Database, database_url: str
) -> None:
    await publish_config(db, title_config(5))
    token = await token_for(db, server=True)
    service = start_serve(
        database_url,
        extra_env={
            "LAURELS_RATE_BURST_REQUESTS": "100000",
            "LAURELS_RATE_SUSTAINED_REQUESTS": "100000",
        },
    )
    acks: list[tuple[str, str, int]] = []
    stop = asyncio.Event()
    load = asyncio.create_task(_load(service.url, token, acks, stop))
    try:
        await eventually(
            lambda: len(acks) >= KILL_AFTER_ACKS or load.done(),
            DEADLINE_SECONDS,
            what="the load's progress",
        )
        assert not load.done(), service.output()
        service.kill()  # SIGKILL, mid-load
        stop.set()
        await asyncio.wait_for(load, 30)
    finally:
        service.kill()
    acked: dict[tuple[str, str], int] = {}
    for xuid, achievement, percent in acks:
        acked[(xuid, achievement)] = max(acked.get((xuid, achievement), 0), percent)
    assert len(acks) >= KILL_AFTER_ACKS

    restarted = start_serve(database_url)
    try:
        async with db.read() as conn:
            xuids = {xuid for xuid, _ in acked}
            stored = {}
            for xuid in xuids:
                rows = await read_progress(conn, sandbox="DEV.1", xuid=xuid, scids=[SCID])
                stored.update({(xuid, a): p.percent for (_, a), p in rows.items()})
        lost = {key: percent for key, percent in acked.items() if stored.get(key, 0) < percent}
        assert not lost
        # And the restarted service serves it.
        xuid, achievement = next(iter(acked))
        async with httpx.AsyncClient(base_url=restarted.url) as client:
            response = await client.get(
                f"/users/xuid({xuid})/achievements/{SCID}/{achievement}",
                headers={"Authorization": f"Bearer {token}"},
            )
        current = check_achievements_page(response.json())["achievements"][0]["progression"][
            "requirements"
        ][0]
        assert int(current["current"]) >= acked[(xuid, achievement)]
    finally:
        restarted.stop()
