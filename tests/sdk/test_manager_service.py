"""The achievements manager against the real service: the initial sync, events
for changes made by another device, every rule's hresult, updates confirmed by
the service only, and no duplicate event after a lost connection or a resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from laurels.sdk import (
    E_BOUNDS,
    E_INVALIDARG,
    E_NOT_SUPPORTED,
    E_UNEXPECTED,
    AchievementsClient,
    AchievementsManager,
    HandshakeRefused,
    ManagerError,
    ManagerEvent,
    ManagerEventType,
    RealtimeSubscriber,
    SubscriptionError,
)
from laurels.sdk._policy import hresult
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    achievement,
    eventually,
    publish_config,
    running_service,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.scripted_rta import (
    PROGRESS_URI,
    FakeConnection,
    FakeRta,
    Sleeps,
    progress,
)
from tests.helpers.sdk import SANDBOX, ServiceDb, client_for

WAIT = 10.0
SYNCED = ManagerEventType.LOCAL_USER_INITIAL_STATE_SYNCED
PROGRESS = ManagerEventType.ACHIEVEMENT_PROGRESS_UPDATED
UNLOCKED = ManagerEventType.ACHIEVEMENT_UNLOCKED
FAILED = ManagerEventType.ACHIEVEMENT_UPDATE_FAILED
EVENT_TITLE, EVENT_SCID = 4321, "7b3f0200-0000-0000-0000-000000000042"


@pytest.fixture
async def served(service: ServiceDb) -> AsyncIterator[str]:
    """Title 1234 with a server-only achievement, and an event-based title."""
    extra = [achievement("server", serverOnly=True)]
    await publish_config(service.db, title_config(5, extra=extra))
    await publish_config(
        service.db, title_config(2, title_id=EVENT_TITLE, scid=EVENT_SCID, kind="event-based")
    )
    async with running_service(service.settings()) as url:
        yield url


@pytest.fixture
async def token(service: ServiceDb) -> str:
    return await service.token()


@pytest.fixture
async def client(served: str, token: str, tmp_path: Path) -> AsyncIterator[AchievementsClient]:
    async with client_for(served, token, tmp_path / "q.db") as made:
        yield made


async def post(url: str, token: str, items: list[tuple[str, int]], scid: str = SCID) -> int:
    """An update made by another device."""
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            f"/users/xuid({XUID})/achievements/{scid}/update",
            json=update_body(items, scid=scid),
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code


def brief(event: ManagerEvent) -> tuple[str, str | None, int | None]:
    percent = None if event.achievement is None else event.achievement.percent
    return event.event_type.name, event.achievement_id, percent


async def frames_until(
    manager: AchievementsManager, done: Callable[[list[ManagerEvent]], bool]
) -> list[ManagerEvent]:
    """Call do_work() once a "frame" until `done(events so far)`; fails after WAIT."""
    events: list[ManagerEvent] = []

    def frame() -> bool:
        if done(events):
            return True
        events.extend(manager.do_work())
        return False

    try:
        await eventually(frame, WAIT, what="the events")
    except AssertionError:
        raise AssertionError([brief(e) for e in events]) from None
    return events


def having(*wanted: tuple[str, str | None, int | None]) -> Callable[[list[ManagerEvent]], bool]:
    return lambda events: set(wanted) <= {brief(e) for e in events}


@pytest.fixture
async def manager_and(
    client: AchievementsClient, served: str, token: str
) -> AsyncIterator[tuple[AchievementsManager, str, str]]:
    async with AchievementsManager(client) as manager:
        yield manager, served, token


async def test_sync_then_the_changes_another_device_makes(
    manager_and: tuple[AchievementsManager, str, str],
) -> None:
    manager, url, token = manager_and
    await manager.add_local_user(XUID)
    assert [brief(e) for e in manager.do_work()] == [
        ("LOCAL_USER_INITIAL_STATE_SYNCED", None, None)
    ]
    assert manager.do_work() == []
    everything = manager.get_achievements(XUID)
    assert [a.id for a in everything] == ["1", "2", "3", "4", "5", "server"]
    assert {a.progress_state for a in everything} == {"NotStarted"}

    assert await post(url, token, [("1", 40)]) == 200
    events = await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "1", 40)))
    assert [brief(e) for e in events] == [("ACHIEVEMENT_PROGRESS_UPDATED", "1", 40)]
    assert events[0].xuid == XUID
    assert events[0].hresult == 0
    assert manager.get_achievement(XUID, "1").progress_state == "InProgress"

    assert await post(url, token, [("1", 30)]) == 304
    assert await post(url, token, [("1", 100)]) == 200
    events = await frames_until(manager, having(("ACHIEVEMENT_UNLOCKED", "1", 100)))
    assert [brief(e) for e in events] == [
        ("ACHIEVEMENT_PROGRESS_UPDATED", "1", 100),
        ("ACHIEVEMENT_UNLOCKED", "1", 100),
    ]
    unlocked = manager.get_achievement(XUID, "1")
    assert unlocked.unlocked
    assert unlocked.time_unlocked > "2000"
    assert [a.id for a in manager.get_achievements(XUID, state="Achieved")] == ["1"]
    assert [a.id for a in manager.get_achievements(XUID, state="InProgress")] == []
    by_time = manager.get_achievements(XUID, sort_by="UnlockTime", descending=True)
    assert by_time[0].id == "1"

    await manager.add_local_user(XUID)  # again: nothing new
    assert await post(url, token, [("2", 5)]) == 200  # a sentinel: nothing else came
    events = await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "2", 5)))
    assert [brief(e) for e in events] == [("ACHIEVEMENT_PROGRESS_UPDATED", "2", 5)]


async def test_every_rule_of_update_achievement(
    manager_and: tuple[AchievementsManager, str, str],
) -> None:
    manager, url, token = manager_and
    with pytest.raises(ManagerError) as not_added:
        manager.update_achievement(XUID, "1", 10)
    assert not_added.value.hresult == E_BOUNDS
    await manager.add_local_user(XUID)
    assert await post(url, token, [("1", 40), ("2", 100)]) == 200
    await frames_until(manager, having(("ACHIEVEMENT_UNLOCKED", "2", 100)))
    await frames_until(manager, lambda _: manager.get_achievement(XUID, "1").percent == 40)

    cases: list[tuple[str, str, int, int]] = [
        (OTHER_XUID, "1", 50, E_BOUNDS),  # not a local user
        (XUID, "nope", 50, E_BOUNDS),  # no such achievement
        (XUID, "2", 100, E_UNEXPECTED),  # already unlocked
        (XUID, "1", 40, E_INVALIDARG),  # not above the cached value
        (XUID, "1", 39, E_INVALIDARG),
        (XUID, "3", 0, E_INVALIDARG),
    ]
    for xuid, achievement_id, percent, expected in cases:
        with pytest.raises(ManagerError) as refused:
            manager.update_achievement(xuid, achievement_id, percent)
        assert refused.value.hresult == expected, (achievement_id, percent)
        assert f"0x{expected:08X}" in str(refused.value)
    with pytest.raises(ValueError, match="integer"):
        manager.update_achievement(XUID, "1", "50")  # type: ignore[arg-type]
    for call in (
        lambda: manager.get_achievement(XUID, "nope"),
        lambda: manager.get_achievements(OTHER_XUID),
        lambda: manager.remove_local_user(OTHER_XUID),
    ):
        with pytest.raises(ManagerError) as unknown:
            call()
        assert unknown.value.hresult == E_BOUNDS


async def test_an_update_changes_the_cache_only_when_the_service_confirms(
    manager_and: tuple[AchievementsManager, str, str],
) -> None:
    manager, _, _ = manager_and
    await manager.add_local_user(XUID)
    manager.do_work()
    sent = manager.update_achievement(XUID, "3", 150)  # above 100 acts as 100
    assert manager.get_achievement(XUID, "3").percent is None  # not optimistic
    result = await asyncio.wait_for(asyncio.wrap_future(sent), WAIT)
    assert result.status == "updated"
    events = await frames_until(manager, having(("ACHIEVEMENT_UNLOCKED", "3", 100)))
    assert [brief(e) for e in events] == [
        ("ACHIEVEMENT_PROGRESS_UPDATED", "3", 100),
        ("ACHIEVEMENT_UNLOCKED", "3", 100),
    ]
    # from another thread too: the game's own frame loop
    sent = await asyncio.to_thread(manager.update_achievement, XUID, "4", 30)
    assert (await asyncio.wrap_future(sent)).status == "updated"
    await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "4", 30)))


async def test_a_not_modified_answer_catches_a_stale_cache_up(
    client: AchievementsClient,
) -> None:
    subscriber = RealtimeSubscriber(client)
    async with AchievementsManager(client, subscriber=subscriber) as manager:
        await manager.add_local_user(XUID)
        manager.do_work()
        await subscriber.unsubscribe(XUID)  # deaf: the cache falls behind
        assert (await client.update_achievement(XUID, "1", 60)).status == "updated"
        sent = manager.update_achievement(XUID, "1", 50)  # the cache still says nothing
        assert (await asyncio.wrap_future(sent)).status == "not_modified"
        events = await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "1", 60)))
        assert [brief(e) for e in events] == [("ACHIEVEMENT_PROGRESS_UPDATED", "1", 60)]


async def test_refusals_by_the_service_come_as_events(
    manager_and: tuple[AchievementsManager, str, str],
    served: str,
    service: ServiceDb,
    tmp_path: Path,
) -> None:
    manager, _, _ = manager_and
    await manager.add_local_user(XUID)
    manager.do_work()
    sent = manager.update_achievement(XUID, "server", 50)  # only a game server may
    assert (await asyncio.wrap_future(sent)).status == "rejected"
    (failed,) = await frames_until(manager, lambda events: bool(events))
    assert (failed.event_type, failed.achievement_id) == (FAILED, "server")
    assert failed.hresult == hresult(403)
    assert failed.achievement is not None

    # The event-based title: the service says so on each Achievement object
    # (`progressionKind`), so the manager keeps its achievements in the cache and
    # refuses an update at once, before anything is sent.
    async with (
        AchievementsClient(
            served,
            title_id=EVENT_TITLE,
            scid=EVENT_SCID,
            sandbox=SANDBOX,
            token=await token_for(service.db, title_id=EVENT_TITLE),
            queue_path=tmp_path / "events.db",
        ) as other,
        AchievementsManager(other) as events_manager,
    ):
        await events_manager.add_local_user(XUID)
        cached = events_manager.get_achievement(XUID, "1")
        assert cached.event_based
        assert cached.requirements[0]["operationType"] == "Sum"
        with pytest.raises(ManagerError) as refused:
            events_manager.update_achievement(XUID, "1", 60)
        assert refused.value.hresult == E_NOT_SUPPORTED
        (synced,) = await frames_until(events_manager, lambda events: bool(events))
        assert synced.event_type == SYNCED


async def test_a_refused_player_is_not_added(
    manager_and: tuple[AchievementsManager, str, str],
) -> None:
    manager, _, _ = manager_and
    with pytest.raises(SubscriptionError) as refused:
        await manager.add_local_user(OTHER_XUID)  # the token is XUID's
    assert refused.value.code == 3
    with pytest.raises(ManagerError):
        manager.get_achievements(OTHER_XUID)
    await manager.add_local_user(XUID)  # the manager goes on
    assert [e.event_type for e in manager.do_work()] == [SYNCED]


async def test_a_removed_player_is_forgotten(
    manager_and: tuple[AchievementsManager, str, str],
) -> None:
    manager, url, token = manager_and
    await manager.add_local_user(XUID)
    manager.remove_local_user(XUID)
    with pytest.raises(ManagerError):
        manager.get_achievement(XUID, "1")
    assert await post(url, token, [("1", 100)]) == 200
    await manager.add_local_user(XUID)  # and can come back, synced afresh
    events = await frames_until(manager, having(("LOCAL_USER_INITIAL_STATE_SYNCED", None, None)))
    assert manager.get_achievement(XUID, "1").unlocked
    assert [e.event_type for e in events].count(SYNCED) == 2


async def test_no_duplicate_events_after_a_lost_connection(
    client: AchievementsClient, served: str, token: str
) -> None:
    sleeps = Sleeps()
    subscriber = RealtimeSubscriber(client, sleep=sleeps)
    async with AchievementsManager(client, subscriber=subscriber) as manager:
        await manager.add_local_user(XUID)
        assert await post(served, token, [("1", 100)]) == 200
        await frames_until(manager, having(("ACHIEVEMENT_UNLOCKED", "1", 100)))

        sleeps.gate.clear()
        connection = subscriber._conn
        assert connection is not None
        connection.ws.transport.abort()
        await asyncio.wait_for(sleeps.called.wait(), WAIT)
        assert await post(served, token, [("2", 100)]) == 200  # while away
        sleeps.gate.set()
        events = await frames_until(manager, having(("ACHIEVEMENT_UNLOCKED", "2", 100)))
        assert await post(served, token, [("3", 10)]) == 200
        events += await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "3", 10)))
        assert [brief(e) for e in events] == [
            ("ACHIEVEMENT_PROGRESS_UPDATED", "2", 100),
            ("ACHIEVEMENT_UNLOCKED", "2", 100),
            ("ACHIEVEMENT_PROGRESS_UPDATED", "3", 10),
        ]


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[tuple[FakeRta, RealtimeSubscriber]]:
    """A scripted RTA server and a subscriber of a client that speaks to it."""
    fake = FakeRta()
    await fake.start()
    fake_client = AchievementsClient(
        fake.url,
        title_id=TITLE_ID,
        scid=SCID,
        sandbox=SANDBOX,
        token="t",
        queue_path=tmp_path / "fake.db",
    )
    try:
        yield fake, RealtimeSubscriber(fake_client, sleep=Sleeps())
    finally:
        await fake_client.close()
        await fake.stop()


async def test_a_resync_refetches_and_raises_only_what_changed(
    client: AchievementsClient,
    served: str,
    token: str,
    scripted: tuple[FakeRta, RealtimeSubscriber],
) -> None:
    """The real service for reads, a scripted RTA server for the events: it says
    [4], replays what the device had and misses what it did not."""
    fake, subscriber = scripted
    async with AchievementsManager(client, subscriber=subscriber) as manager:
        await manager.add_local_user(XUID)
        conn: FakeConnection = await fake.connection()
        await conn.next_frame()
        await conn.next_frame()
        assert await post(served, token, [("1", 40)]) == 200
        await conn.event(PROGRESS_URI, progress("1.1", "1", 40))
        events = await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "1", 40)))
        assert await post(served, token, [("3", 60)]) == 200  # its event is lost

        await conn.ws.send("[4]")
        again = await fake.connection()
        await again.next_frame()
        await again.next_frame()
        await again.event(PROGRESS_URI, progress("1.1", "1", 40))  # seen: dropped
        await again.event(PROGRESS_URI, progress("1.2", "1", 40))  # old news
        events += await frames_until(
            manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "3", 60))
        )  # the refetch found it
        assert await post(served, token, [("2", 100)]) == 200
        await again.event(PROGRESS_URI, progress("1.3", "2", 100))
        events += await frames_until(manager, having(("ACHIEVEMENT_UNLOCKED", "2", 100)))
        assert [brief(e) for e in events] == [
            ("LOCAL_USER_INITIAL_STATE_SYNCED", None, None),
            ("ACHIEVEMENT_PROGRESS_UPDATED", "1", 40),
            ("ACHIEVEMENT_PROGRESS_UPDATED", "3", 60),
            ("ACHIEVEMENT_PROGRESS_UPDATED", "2", 100),
            ("ACHIEVEMENT_UNLOCKED", "2", 100),
        ]


async def test_a_channel_refused_for_good_is_reported_and_can_be_renewed(
    client: AchievementsClient,
    served: str,
    token: str,
    scripted: tuple[FakeRta, RealtimeSubscriber],
) -> None:
    fake, subscriber = scripted
    async with AchievementsManager(client, subscriber=subscriber) as manager:
        await manager.add_local_user(XUID)
        conn = await fake.connection()
        fake.refuse = 403
        await conn.ws.close(1001)
        events = await frames_until(manager, lambda _: manager.last_error is not None)
        assert [e.event_type for e in events] == [SYNCED]
        assert isinstance(manager.last_error, HandshakeRefused)

        fake.refuse = None
        manager.remove_local_user(XUID)
        await manager.add_local_user(XUID)  # at once: the unsubscribe goes first
        again = await fake.connection()
        assert {tuple(f[:1]) for f in [await again.next_frame() for _ in range(2)]} == {(1,)}
        assert await post(served, token, [("1", 40)]) == 200
        await again.event(PROGRESS_URI, progress("9.1", "1", 40))
        events = await frames_until(manager, having(("ACHIEVEMENT_PROGRESS_UPDATED", "1", 40)))
        assert [e.event_type for e in events] == [SYNCED, PROGRESS]
