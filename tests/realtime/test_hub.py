"""A connection's buffer is bounded: a slow client gets a resync and never delays
another; a subscription never sends one event twice, replay or not."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from laurels.realtime.hub import Connection, Hub
from laurels.realtime.protocol import NotificationResource
from laurels.wire.context import RenderContext

RESOURCE = NotificationResource("12", 1234)


def _connection(send: object, limit: int = 3) -> Connection:
    return Connection(
        send=send,  # type: ignore[arg-type]
        sandbox="DEV.1",
        xuid="12",
        title_id=1234,
        context=RenderContext("en-US", lambda ref: ref),
        base="http://127.0.0.1",
        buffer_limit=limit,
    )


async def test_a_slow_client_gets_a_resync_and_never_delays_another() -> None:
    stuck = asyncio.Event()  # the slow client's socket does not drain
    slow_sent: list[str] = []
    fast_sent: list[str] = []
    fast_read, resynced = asyncio.Event(), asyncio.Event()

    async def slow_send(frame: str) -> None:
        slow_sent.append(frame)
        if frame == "[4]":
            resynced.set()
        await stuck.wait()

    async def fast_send(frame: str) -> None:
        fast_sent.append(frame)
        fast_read.set()

    slow, fast = _connection(slow_send), _connection(fast_send)
    pumps = [asyncio.create_task(c.pump()) for c in (slow, fast)]
    slow_sub = slow.add(RESOURCE, (0, 0), replaying=False)
    fast_sub = fast.add(RESOURCE, (0, 0), replaying=False)
    try:
        for n in range(1, 11):
            slow.deliver(slow_sub, (0, n), f"e{n}")
            fast.deliver(fast_sub, (0, n), f"e{n}")
            async with asyncio.timeout(5):  # the fast client reads as events come
                await fast_read.wait()
            fast_read.clear()
        assert fast_sent == [f"e{n}" for n in range(1, 11)]
        assert slow_sent == ["e1"]  # stuck in the first send
        assert slow.resyncs >= 1
        stuck.set()
        async with asyncio.timeout(5):
            await resynced.wait()
        assert len(slow._waiting) == 0
        assert len(slow_sent) <= 1 + 3  # never more than the bound after the first
    finally:
        for pump in pumps:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump


async def test_a_subscription_sends_each_event_once_and_in_order_after_a_replay() -> None:
    sent: list[str] = []
    conn = _connection(None, limit=100)
    setattr(conn, "push", sent.append)  # noqa: B010 (records what would be queued)
    sub = conn.add(RESOURCE, (0, 5), replaying=True)
    conn.deliver(sub, (0, 7), "e7")  # arrives live while the replay is read
    conn.deliver(sub, (0, 8), "e8")
    sub.last_key = (0, 2)  # the client's `since`
    await conn.release(sub, [((0, 3), "e3"), ((0, 7), "e7")])  # "e7" both ways
    conn.deliver(sub, (0, 8), "e8")  # relayed twice: sent once
    conn.deliver(sub, (0, 6), "e6")  # older than what was sent: not sent
    conn.deliver(sub, (0, 9), "e9")
    assert sent == ["e3", "e7", "e8", "e9"]


def test_the_hub_finds_a_players_devices_only() -> None:
    hub = Hub()
    mine, other = _connection(None), _connection(None)
    other.xuid = "13"

    async def close() -> None:
        return None

    hub.attach(mine, close)
    hub.attach(other, close)
    assert hub.devices("DEV.1", "12") == {mine}
    assert hub.devices("RETAIL", "12") == set()
    assert len(hub) == 2
    hub.detach(mine)
    assert hub.devices("DEV.1", "12") == set()
    assert len(hub) == 1


async def test_a_replay_longer_than_the_buffer_waits_for_room_and_arrives_whole() -> None:
    sent: list[str] = []
    done = asyncio.Event()

    async def send(frame: str) -> None:
        await asyncio.sleep(0)  # a socket that takes a moment per frame
        sent.append(frame)
        if len(sent) == 20:
            done.set()

    conn = _connection(send, limit=3)
    pump = asyncio.create_task(conn.pump())
    sub = conn.add(RESOURCE, (0, 0), replaying=True)
    try:
        replayed = [((0, n), f"r{n}") for n in range(1, 21)]
        async with asyncio.timeout(5):
            await conn.release(sub, replayed)
            await done.wait()
        assert sent == [f"r{n}" for n in range(1, 21)]
        assert conn.resyncs == 0
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def test_a_replay_to_a_closed_socket_stops() -> None:
    async def send(frame: str) -> None:
        raise ConnectionResetError("gone")

    conn = _connection(send, limit=2)
    pump = asyncio.create_task(conn.pump())
    sub = conn.add(RESOURCE, (0, 0), replaying=True)
    with pytest.raises(ConnectionError):
        async with asyncio.timeout(5):
            await conn.release(sub, [((0, n), f"r{n}") for n in range(1, 10)])
    with contextlib.suppress(ConnectionResetError):
        await pump
