"""The real-time subscriber against the real service (uvicorn on 127.0.0.1):
one progress event per accepted update, one notification per unlock, refusals,
and exactly-once delivery across a lost connection and a service restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from laurels.db import Database
from laurels.sdk import (
    AchievementsClient,
    HandshakeRefused,
    ProgressEvent,
    RealtimeEvent,
    RealtimeSubscriber,
    SubscriptionError,
    UnlockNotification,
)
from laurels.settings import Settings
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    free_socket,
    publish_config,
    running_service,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.scripted_rta import Sleeps
from tests.helpers.sdk import SANDBOX, ServiceDb

WAIT = 10.0
# An unlock sent last: one event on each resource, after everything sent before.
SENTINEL = (("progress", "5@100"), ("unlock", "5"))
# What a device that missed the unlock of 2 gets once back, each once.
AFTER = sorted([("progress", "2@100"), ("unlock", "2"), ("resync", "reconnected"), *SENTINEL])


def client_for(
    url: str, token: str, tmp_path: Path, *, title_id: int = TITLE_ID, scid: str = SCID
) -> AchievementsClient:
    queue = tmp_path / f"queue-{title_id}-{scid}-{token[-8:]}.db"
    return AchievementsClient(
        url, title_id=title_id, scid=scid, sandbox=SANDBOX, token=token, queue_path=queue
    )


async def post(url: str, token: str, items: list[tuple[str, int]]) -> int:
    """An update sent by another device (plain HTTP): the status."""
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            f"/users/xuid({XUID})/achievements/{SCID}/update",
            json=update_body(items),
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code


async def next_event(subscriber: RealtimeSubscriber) -> RealtimeEvent:
    return await asyncio.wait_for(anext(subscriber), WAIT)


def describe(event: RealtimeEvent) -> tuple[str, ...]:
    """A short, comparable form: ("progress", id, percent...), ("unlock", id)..."""
    if isinstance(event, ProgressEvent):
        return ("progress", *(f"{c.id}@{c.percent}" for c in event.changes))
    if isinstance(event, UnlockNotification):
        return ("unlock", event.achievement_id)
    return ("resync", event.reason)


async def until_seen(
    subscriber: RealtimeSubscriber, *wanted: tuple[str, ...]
) -> list[tuple[str, ...]]:
    """Every event (described) until all of `wanted` came. Each subscription
    delivers in commit order, so with an update sent last on every resource as
    `wanted`, nothing sent before it is still on its way."""
    events: list[tuple[str, ...]] = []
    while not set(wanted) <= set(events):
        events.append(describe(await next_event(subscriber)))
    return events


@pytest.fixture
async def served(service: ServiceDb) -> AsyncIterator[str]:
    async with running_service(service.settings()) as url:
        yield url


async def test_one_progress_event_per_accepted_update_and_none_for_304(
    served: str, service: ServiceDb, tmp_path: Path
) -> None:
    token = await service.token()
    async with (
        client_for(served, token, tmp_path) as client,
        RealtimeSubscriber(client) as subscriber,
    ):
        await subscriber.subscribe_progress(XUID)
        statuses = [
            (await client.update_achievement(XUID, achievement_id, percent)).status
            for achievement_id, percent in [("1", 40), ("1", 30), ("1", 40), ("2", 10)]
        ]
        assert statuses == ["updated", "not_modified", "not_modified", "updated"]
        events = [await next_event(subscriber), await next_event(subscriber)]
        assert [describe(e) for e in events] == [("progress", "1@40"), ("progress", "2@10")]
        first = events[0]
        assert isinstance(first, ProgressEvent)
        assert (first.xuid, first.scid) == (XUID, SCID)
        assert first.event_id is not None


async def test_an_unlock_is_notified_once(served: str, service: ServiceDb, tmp_path: Path) -> None:
    token = await service.token()
    async with (
        client_for(served, token, tmp_path) as client,
        RealtimeSubscriber(client) as subscriber,
    ):
        await subscriber.subscribe_progress(XUID)
        await subscriber.subscribe_notifications(XUID)
        assert (await client.update_achievement(XUID, "3", 100)).status == "updated"
        assert (await client.update_achievement(XUID, "3", 100)).status == "not_modified"
        assert await post(served, token, [("3", 100)]) == 304
        progress, unlocked = await next_event(subscriber), await next_event(subscriber)
        assert isinstance(progress, ProgressEvent)
        assert isinstance(unlocked, UnlockNotification)
        assert (unlocked.name, unlocked.description) == ("Achievement 3", "You did thing 3.")
        assert (unlocked.gamerscore, unlocked.title_id, unlocked.xuid) == (10, TITLE_ID, XUID)
        assert progress.changes[0].unlocked
        assert unlocked.unlock_time == progress.changes[0].time_unlocked
        assert await post(served, token, [("5", 100)]) == 200  # on both resources
        assert await until_seen(subscriber, *SENTINEL) == [*SENTINEL]


async def test_refusals(served: str, service: ServiceDb, tmp_path: Path) -> None:
    token = await service.token()
    async with client_for(served, token, tmp_path) as client:
        async with RealtimeSubscriber(client) as subscriber:
            with pytest.raises(SubscriptionError) as other_player:
                await subscriber.subscribe_progress(OTHER_XUID)
            assert other_player.value.code == 3
        unknown = client_for(served, token, tmp_path, scid="00000000-0000-0000-0000-000000000001")
        async with unknown, RealtimeSubscriber(unknown) as subscriber:
            with pytest.raises(SubscriptionError) as unknown_scid:
                await subscriber.subscribe_progress(XUID)
            assert unknown_scid.value.code == 1
        other = client_for(served, token, tmp_path, title_id=999)
        async with other, RealtimeSubscriber(other) as subscriber:
            with pytest.raises(SubscriptionError) as other_title:
                await subscriber.subscribe_notifications(XUID)
            assert other_title.value.code == 3

    server_token = await token_for(service.db, server=True)
    for bad in ("forged." + token[7:], server_token):
        async with (
            client_for(served, bad, tmp_path) as client,
            RealtimeSubscriber(client) as subscriber,
        ):
            with pytest.raises(HandshakeRefused) as refused:
                await subscriber.subscribe_progress(XUID)
            assert refused.value.status == 403


async def test_a_lost_connection_replays_what_was_missed_exactly_once(
    served: str, service: ServiceDb, tmp_path: Path
) -> None:
    token = await service.token()
    sleeps = Sleeps()
    async with (
        client_for(served, token, tmp_path) as client,
        RealtimeSubscriber(client, sleep=sleeps) as subscriber,
    ):
        await subscriber.subscribe_progress(XUID)
        await subscriber.subscribe_notifications(XUID)
        assert await post(served, token, [("1", 100)]) == 200
        before = await until_seen(subscriber, ("progress", "1@100"), ("unlock", "1"))

        sleeps.gate.clear()  # hold the reconnect until the test has played
        connection = subscriber._conn
        assert connection is not None
        connection.ws.transport.abort()
        await asyncio.wait_for(sleeps.called.wait(), WAIT)
        assert not subscriber.connected
        assert await post(served, token, [("2", 100)]) == 200  # missed
        sleeps.gate.set()

        assert await post(served, token, [("5", 100)]) == 200
        after = await until_seen(subscriber, *SENTINEL)
    assert before == [("progress", "1@100"), ("unlock", "1")]
    assert sorted(after) == AFTER


async def test_a_service_restart_replays_what_was_missed_exactly_once(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await publish_config(db, title_config(5))
    token = await token_for(db)
    sleeps = Sleeps()
    with free_socket() as probe:  # a free port, served twice
        port = probe.getsockname()[1]
    async with running_service(settings, port) as url:
        client = client_for(url, token, tmp_path)
        subscriber = RealtimeSubscriber(client, sleep=sleeps)
        await subscriber.subscribe_progress(XUID)
        await subscriber.subscribe_notifications(XUID)
        assert await post(url, token, [("1", 100)]) == 200
        before = await until_seen(subscriber, ("progress", "1@100"), ("unlock", "1"))
        sleeps.gate.clear()
    await asyncio.wait_for(sleeps.called.wait(), WAIT)  # closed by the service
    try:
        async with running_service(settings, port):
            assert await post(url, token, [("2", 100)]) == 200  # before it reconnects
            sleeps.gate.set()
            assert await post(url, token, [("5", 100)]) == 200
            after = await until_seen(subscriber, *SENTINEL)
    finally:
        await subscriber.aclose()
        await client.close()
    assert before == [("progress", "1@100"), ("unlock", "1")]
    assert sorted(after) == AFTER


async def test_unlocks_dropped_by_a_resync_are_replayed(service: ServiceDb, tmp_path: Path) -> None:
    settings = Settings(database_url=service.url, catalog_refresh_seconds=0.2, rta_buffer_events=2)
    token = await service.token()
    sleeps = Sleeps()
    async with (
        running_service(settings) as url,
        client_for(url, token, tmp_path) as client,
        RealtimeSubscriber(client, sleep=sleeps, backoff_base=0.05, backoff_cap=0.1) as subscriber,
    ):
        await subscriber.subscribe_progress(XUID)
        await subscriber.subscribe_notifications(XUID)
        # three frames at once for a buffer of two: the service sends [4]
        assert await post(url, token, [("1", 100), ("2", 100)]) == 200
        seen: list[tuple[str, ...]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                while not {("unlock", "1"), ("unlock", "2")} <= set(seen):
                    seen.append(describe(await anext(subscriber)))
        assert {("unlock", "1"), ("unlock", "2"), ("resync", "resync")} <= set(seen)
