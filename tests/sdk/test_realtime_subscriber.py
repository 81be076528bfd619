"""The real-time subscriber against a scripted RTA server (a real WebSocket server
on 127.0.0.1 whose every answer the test decides): frames, tokens, dedupe,
reconnects with `since`, `[4]`, refusals, backoff and closing."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from laurels.sdk import (
    AchievementsClient,
    ClientClosed,
    HandshakeRefused,
    NetworkError,
    ProgressEvent,
    RealtimeEvent,
    RealtimeSubscriber,
    ResyncEvent,
    SubscriptionError,
    UnlockNotification,
)
from laurels.sdk._rta import SUBPROTOCOL
from tests.helpers import SCID, XUID, free_socket
from tests.helpers.scripted_rta import (
    NOTIFY_URI,
    PROGRESS_URI,
    FakeConnection,
    FakeRta,
    Sleeps,
    progress,
    unlock,
)

WAIT = 5.0


class Ceiling(random.Random):
    """Jitter that always picks the top of the range: delays become exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
async def fake() -> AsyncIterator[FakeRta]:
    server = FakeRta()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class Tokens:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"token-{self.calls}"


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
async def client(
    fake: FakeRta, tokens: Tokens, tmp_path: Path
) -> AsyncIterator[AchievementsClient]:
    async with AchievementsClient(
        fake.url,
        title_id=1234,
        scid=SCID,
        sandbox="DEV.1",
        token_provider=tokens,
        queue_path=tmp_path / "q.db",
    ) as made:
        yield made


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def subscriber(
    client: AchievementsClient, sleeps: Sleeps
) -> AsyncIterator[RealtimeSubscriber]:
    async with RealtimeSubscriber(
        client, sleep=sleeps, rng=Ceiling(), backoff_base=0.5, backoff_cap=4.0
    ) as made:
        yield made


async def next_event(subscriber: RealtimeSubscriber) -> RealtimeEvent:
    return await asyncio.wait_for(anext(subscriber), WAIT)


async def subscribed(fake: FakeRta, subscriber: RealtimeSubscriber, *uris: str) -> FakeConnection:
    """Subscribe to `uris` on a fresh connection; returns the server's side."""
    for uri in uris:
        if uri == PROGRESS_URI:
            await subscriber.subscribe_progress(XUID)
        else:
            await subscriber.subscribe_notifications(int(XUID))
    conn = await fake.connection()
    for uri in uris:
        assert (await conn.next_frame())[2] == uri
    return conn


async def test_subscribe_speaks_the_protocol(fake: FakeRta, subscriber: RealtimeSubscriber) -> None:
    await subscriber.subscribe_progress(XUID)
    conn = await fake.connection()
    assert await conn.next_frame() == [1, 1, PROGRESS_URI]
    assert conn.headers["Authorization"] == "Bearer token-1"
    assert conn.ws.subprotocol == SUBPROTOCOL
    assert subscriber.connected

    await subscriber.subscribe_notifications(XUID)
    assert await conn.next_frame() == [1, 2, NOTIFY_URI]
    await subscriber.subscribe_progress(XUID)  # again: nothing sent
    await conn.event(PROGRESS_URI, progress("1.1"))
    await conn.event(NOTIFY_URI, unlock("1.2"))
    first, second = await next_event(subscriber), await next_event(subscriber)
    assert isinstance(first, ProgressEvent)
    assert (first.xuid, first.event_id, first.changes[0].percent) == (XUID, "1.1", 40)
    assert isinstance(second, UnlockNotification)
    assert (second.achievement_id, second.event_id, second.title_id) == ("1", "1.2", 1234)
    assert conn.frames.empty()


async def test_accept_language_goes_with_the_handshake(
    fake: FakeRta, client: AchievementsClient
) -> None:
    async with RealtimeSubscriber(client, language="fr-FR") as subscriber:
        await subscriber.subscribe_progress(XUID)
        conn = await fake.connection()
        assert conn.headers["Accept-Language"] == "fr-FR"


async def test_an_event_id_seen_before_is_not_yielded_again(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    for event_id in ("1.1", "1.1", "1.2", "1.1"):
        await conn.event(PROGRESS_URI, progress(event_id))
    assert [(await next_event(subscriber)) for _ in range(2)] == [
        ProgressEvent.from_wire(XUID, progress("1.1")),
        ProgressEvent.from_wire(XUID, progress("1.2")),
    ]
    await conn.event(PROGRESS_URI, progress("1.3"))
    event = await next_event(subscriber)
    assert isinstance(event, ProgressEvent)
    assert event.event_id == "1.3"


async def test_events_without_ids_pass_and_malformed_ones_are_dropped(
    fake: FakeRta, subscriber: RealtimeSubscriber, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    xbox = {k: v for k, v in progress("x").items() if k != "eventId"}
    await conn.event(PROGRESS_URI, xbox)
    await conn.event(PROGRESS_URI, xbox)
    await conn.event(PROGRESS_URI, {"serviceConfigId": SCID, "eventId": "1.1"})
    await conn.ws.send(json.dumps([3, 99, progress("1.2")]))  # an unknown subId
    await conn.event(PROGRESS_URI, progress("1.3"))
    events = [await next_event(subscriber) for _ in range(3)]
    assert [e.event_id for e in events if isinstance(e, ProgressEvent)] == [None, None, "1.3"]
    assert "outside the protocol" in caplog.text


async def test_a_lost_connection_resubscribes_with_since_and_replays_exactly_once(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps, tokens: Tokens
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI, NOTIFY_URI)
    await conn.event(PROGRESS_URI, progress("1.1"))
    await conn.event(NOTIFY_URI, unlock("1.2"))
    await next_event(subscriber)
    await next_event(subscriber)

    await conn.ws.close(1001)  # the service shuts down
    again = await fake.connection()
    frames = [await again.next_frame(), await again.next_frame()]
    assert [f[0] for f in frames] == [1, 1]
    assert {f[2]: f[3] for f in frames} == {
        PROGRESS_URI: {"since": "1.1"},
        NOTIFY_URI: {"since": "1.2"},
    }
    assert again.headers["Authorization"] == "Bearer token-2"  # a fresh token
    assert tokens.calls == 2
    assert sleeps.delays == [0.5]

    await again.event(NOTIFY_URI, unlock("1.2"))  # a replay the client has seen
    await again.event(NOTIFY_URI, unlock("1.4", "2"))  # one it missed
    assert await next_event(subscriber) == ResyncEvent("reconnected")
    missed = await next_event(subscriber)
    assert isinstance(missed, UnlockNotification)
    assert (missed.event_id, missed.achievement_id) == ("1.4", "2")


async def test_since_is_the_subscriptions_last_event_id_when_nothing_arrived(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    fake.last_event_id = "5.0"
    conn = await subscribed(fake, subscriber, NOTIFY_URI)
    fake.last_event_id = "9.0"  # a resubscribe's answer does not move it
    await conn.ws.close(1001)
    again = await fake.connection()
    assert (await again.next_frame())[3] == {"since": "5.0"}
    assert await next_event(subscriber) == ResyncEvent("reconnected")
    await again.ws.close(1001)
    third = await fake.connection()
    assert (await third.next_frame())[3] == {"since": "5.0"}


async def test_resync_reconnects_with_since_and_tells_the_consumer(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    await conn.event(PROGRESS_URI, progress("2.1"))
    assert isinstance(await next_event(subscriber), ProgressEvent)
    await conn.ws.send("[4]")
    again = await fake.connection()
    assert (await again.next_frame())[3] == {"since": "2.1"}
    assert await next_event(subscriber) == ResyncEvent("resync")
    await asyncio.wait_for(conn.ws.wait_closed(), WAIT)  # the client left the old one


@pytest.mark.parametrize("code", [1, 2, 3])
async def test_a_refused_subscribe_raises(
    fake: FakeRta, subscriber: RealtimeSubscriber, code: int
) -> None:
    fake.script[PROGRESS_URI] = [code]
    with pytest.raises(SubscriptionError) as caught:
        await subscriber.subscribe_progress(XUID)
    assert (caught.value.code, caught.value.resource) == (code, PROGRESS_URI)
    assert str(code) in str(caught.value)
    await subscriber.subscribe_notifications(XUID)  # the connection goes on
    await subscriber.subscribe_progress(XUID)  # and a new attempt is a new subscribe


async def test_a_resubscribe_refused_is_raised_by_the_iterator(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI, NOTIFY_URI)
    fake.script[PROGRESS_URI] = [3]
    await conn.ws.close(1001)
    again = await fake.connection()
    with pytest.raises(SubscriptionError):
        await next_event(subscriber)
    await again.next_frame()
    await again.next_frame()
    assert await next_event(subscriber) == ResyncEvent("reconnected")
    await again.event(NOTIFY_URI, unlock("3.1"))
    assert isinstance(await next_event(subscriber), UnlockNotification)


async def test_throttled_or_unavailable_subscribes_come_back_on_a_new_connection(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps
) -> None:
    fake.script[PROGRESS_URI] = [1001, 1002]
    await subscriber.subscribe_progress(XUID)
    assert sleeps.delays == [0.5, 1.0]  # no healthy connection in between
    assert fake.connections.qsize() == 3


async def test_backoff_grows_to_its_cap_and_starts_over_after_a_healthy_connection(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    await fake.stop()

    async def hook(count: int) -> None:
        if count == 6:
            await fake.start()  # on the same port

    sleeps.hook = hook
    await conn.ws.wait_closed()
    again = await fake.connection()
    await again.next_frame()
    assert await next_event(subscriber) == ResyncEvent("reconnected")
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    await again.ws.close(1001)
    await fake.connection()
    assert sleeps.delays[-1] == 0.5


async def test_a_refused_handshake_raises_at_once(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps
) -> None:
    fake.refuse = 403
    with pytest.raises(HandshakeRefused) as caught:
        await subscriber.subscribe_progress(XUID)
    assert caught.value.status == 403
    assert fake.refused == 1
    assert sleeps.delays == []
    with pytest.raises(HandshakeRefused):  # and the iterator says so too
        await next_event(subscriber)
    fake.refuse = None
    await subscriber.subscribe_progress(XUID)  # a new subscribe tries again


async def test_a_token_refused_at_reconnects_is_not_retried_forever(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps, tokens: Tokens
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    fake.refuse = 403
    await conn.ws.close(1001)
    with pytest.raises(HandshakeRefused) as caught:
        await next_event(subscriber)
    assert caught.value.status == 403
    assert fake.refused == 3  # max_auth_failures, each with a fresh token
    assert tokens.calls == 4
    assert len(sleeps.delays) == 3


async def test_other_handshake_statuses_are_retried_after_the_first_connection(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    fake.refuse = 503

    async def hook(count: int) -> None:
        if count == 5:
            fake.refuse = None

    sleeps.hook = hook
    await conn.ws.close(1001)
    await fake.connection()
    assert await next_event(subscriber) == ResyncEvent("reconnected")
    assert fake.refused == 4


@pytest.mark.parametrize(
    ("status", "retry_after", "delays"),
    [
        (429, "7", [0.5, 7.0, 7.0, 7.0, 7.0]),  # the player's socket limit
        (503, "2", [0.5, 2.0, 2.0, 4.0, 4.0]),  # the backoff, when longer, wins
        (429, "0", [0.5, 1.0, 2.0, 4.0, 4.0]),
        (429, "31536000", [0.5, 300.0, 300.0, 300.0, 300.0]),  # bounded as for updates
        (429, "soon", [0.5, 1.0, 2.0, 4.0, 4.0]),  # malformed: ignored
        (408, None, [0.5, 1.0, 2.0, 4.0, 4.0]),
        (502, None, [0.5, 1.0, 2.0, 4.0, 4.0]),
    ],
)
async def test_a_transient_handshake_refusal_is_retried_after_its_retry_after(
    fake: FakeRta,
    subscriber: RealtimeSubscriber,
    sleeps: Sleeps,
    status: int,
    retry_after: str | None,
    delays: list[float],
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    fake.refuse = status
    fake.refuse_headers = {} if retry_after is None else {"Retry-After": retry_after}

    async def hook(count: int) -> None:
        if count == 5:  # four refusals: more than max_auth_failures
            fake.refuse = None

    sleeps.hook = hook
    await conn.ws.close(1001)
    await fake.connection()
    assert await next_event(subscriber) == ResyncEvent("reconnected")
    assert fake.refused == 4
    assert sleeps.delays == delays


@pytest.mark.parametrize("status", [429, 408, 500, 503])
async def test_a_transient_refusal_of_the_first_handshake_is_waited_out(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps, status: int
) -> None:
    fake.refusals = [status] * 4  # then accepted
    fake.refuse_headers = {"Retry-After": "3"}
    await subscriber.subscribe_progress(XUID)
    assert fake.refused == 4
    assert sleeps.delays == [3.0, 3.0, 3.0, 4.0]
    assert subscriber.connected


async def test_only_401_and_403_count_against_the_token(
    fake: FakeRta, subscriber: RealtimeSubscriber, sleeps: Sleeps
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    fake.refusals = [429, 401, 503, 403, 408, 429, 502, 401, 429]
    await conn.ws.close(1001)
    with pytest.raises(HandshakeRefused) as caught:
        await next_event(subscriber)
    assert caught.value.status == 401
    assert fake.refused == 8  # the third 401/403 ends it; the others never counted


async def test_a_refusal_says_the_services_description(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    fake.refuse = 403
    fake.refuse_body = json.dumps(
        {"code": 4500, "source": "achievements", "description": "token expired"}
    )
    with pytest.raises(HandshakeRefused) as caught:
        await subscriber.subscribe_progress(XUID)
    assert (caught.value.status, caught.value.description) == (403, "token expired")
    assert caught.value.retry_after is None


async def test_an_unreachable_service_raises_network_error(tmp_path: Path) -> None:
    closed = free_socket()  # bound, never listening
    url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    async with (
        AchievementsClient(
            url, title_id=1234, scid=SCID, sandbox="DEV.1", token="t", queue_path=tmp_path / "q"
        ) as client,
        RealtimeSubscriber(client) as subscriber,
    ):
        with pytest.raises(NetworkError):
            await subscriber.subscribe_progress(XUID)
    closed.close()


async def test_no_token_is_a_refusal(fake: FakeRta, tmp_path: Path) -> None:
    async with (
        AchievementsClient(
            fake.url, title_id=1234, scid=SCID, sandbox="DEV.1", queue_path=tmp_path / "q"
        ) as client,
        RealtimeSubscriber(client) as subscriber,
    ):
        with pytest.raises(HandshakeRefused, match="no token"):
            await subscriber.subscribe_progress(XUID)


async def test_unsubscribe_sends_it_and_drops_later_events(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI, NOTIFY_URI)
    await subscriber.unsubscribe(XUID)
    frames = [await conn.next_frame(), await conn.next_frame()]
    assert sorted(f[2] for f in frames) == [1, 2]
    assert all(f[0] == 2 for f in frames)
    await conn.event(PROGRESS_URI, progress("4.1"))
    await subscriber.subscribe_notifications(XUID)
    assert (await conn.next_frame())[:3:2] == [1, NOTIFY_URI]
    await conn.event(NOTIFY_URI, unlock("4.2"))
    event = await next_event(subscriber)
    assert isinstance(event, UnlockNotification)  # the progress event was dropped


async def test_a_frame_outside_the_protocol_means_a_new_connection(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    conn = await subscribed(fake, subscriber, PROGRESS_URI)
    await conn.ws.send("not json")
    again = await fake.connection()
    assert (await again.next_frame())[2] == PROGRESS_URI


async def test_aclose_stops_the_iterator_and_pending_subscribes(
    fake: FakeRta, subscriber: RealtimeSubscriber
) -> None:
    fake.script[PROGRESS_URI] = [None]  # never answered
    pending = asyncio.create_task(subscriber.subscribe_progress(XUID))
    reader = asyncio.create_task(anext(subscriber))
    conn = await fake.connection()
    await conn.next_frame()
    await subscriber.aclose()
    with pytest.raises(ClientClosed):
        await asyncio.wait_for(pending, WAIT)
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reader, WAIT)
    await asyncio.wait_for(conn.ws.wait_closed(), WAIT)
    assert not subscriber.connected
    with pytest.raises(ClientClosed):
        await subscriber.subscribe_progress(XUID)
    await subscriber.aclose()  # twice is fine
    assert [e async for e in subscriber] == []


async def test_a_consumer_that_stops_reading_stops_the_reads(
    fake: FakeRta, client: AchievementsClient, sleeps: Sleeps
) -> None:
    async with RealtimeSubscriber(client, sleep=sleeps, max_pending=2) as subscriber:
        conn = await subscribed(fake, subscriber, PROGRESS_URI)
        for n in range(40):
            await conn.event(PROGRESS_URI, progress(f"5.{n}"))
        got = [await next_event(subscriber) for _ in range(40)]
        assert [e.event_id for e in got if isinstance(e, ProgressEvent)] == [
            f"5.{n}" for n in range(40)
        ]
