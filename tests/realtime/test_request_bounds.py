"""The bounds `laurels serve`'s HTTP protocol puts on requests (realtime.handshake):
at most `max_requests_in_flight` worked on at once, the others waiting their turn
unread and then answered; a body that does not arrive in time is answered 408; and
an idle keep-alive connection keeps nothing of the request it answered.

Each test runs uvicorn in this process, with the protocol and a small ASGI app of
its own, on a port of 127.0.0.1 it picks."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from laurels.realtime.handshake import BoundedHttpProtocol, ServeConfig

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
# How long an answer may take past its deadline on a busy machine.
SLACK = 4.0


class Gate:
    """An ASGI app that holds every request until released, counting how many it
    holds at once."""

    def __init__(self, *, released: bool = False) -> None:
        self.inside = 0
        self.most = 0
        self.started = 0
        self.release = asyncio.Event()
        if released:  # holds nothing: answers at once
            self.release.set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.inside += 1
        self.started += 1
        self.most = max(self.most, self.inside)
        try:
            while True:  # the whole body first
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                if not message.get("more_body"):
                    break
            await self.release.wait()
            body = scope["path"].encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            self.inside -= 1


@asynccontextmanager
async def serving(app: App, **bounds: Any) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = ServeConfig(
        app,
        http=BoundedHttpProtocol,
        lifespan="off",
        log_level="warning",
        access_log=False,
        **bounds,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, no event)
            await asyncio.sleep(0.01)
        yield server, sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def _ask(port: int, path: str, *, body: bytes = b"") -> bytes:
    """One request (a POST when there is a body), on a connection of its own; the
    answer, read until the service closes or has sent the whole of it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    method = "POST" if body else "GET"
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    try:
        answer = await reader.readuntil(b"\r\n\r\n")
        length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return answer + await reader.readexactly(length)
    finally:
        writer.close()


async def test_requests_beyond_the_limit_wait_their_turn_and_are_all_answered() -> None:
    app = Gate()
    # A head deadline shorter than the wait: waiting is the service's doing, not a
    # slow client's, so it must not cost a 408.
    async with serving(app, max_requests_in_flight=2, header_timeout_seconds=0.5) as (_, port):
        asks = [asyncio.create_task(_ask(port, f"/{n}")) for n in range(6)]
        await asyncio.sleep(1.0)
        assert (app.started, app.inside) == (2, 2)
        app.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*asks), SLACK)
    assert app.most == 2
    assert app.started == 6
    for n, answer in enumerate(answers):
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(f"/{n}".encode())


async def test_a_head_held_halfway_gets_its_deadline_back_when_its_turn_comes() -> None:
    app = Gate()
    async with serving(app, max_requests_in_flight=1, header_timeout_seconds=0.5) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n")  # a head begun...
        await asyncio.sleep(0.1)
        first = asyncio.create_task(_ask(port, "/first"))  # ... then the only turn taken
        while app.inside != 1:  # noqa: ASYNC110 (the app counts, it has no event)
            await asyncio.sleep(0.01)
        writer.write(b"X-More: y\r\n")  # read while no turn is free: held, no deadline
        await asyncio.sleep(1.0)
        assert not reader.at_eof()
        app.release.set()
        assert (await asyncio.wait_for(first, SLACK)).endswith(b"/first")
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 0.5 + SLACK)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert time.monotonic() - started < 0.5 + SLACK


async def test_a_body_that_does_not_arrive_gets_408_and_frees_its_turn() -> None:
    app = Gate(released=True)
    async with serving(app, max_requests_in_flight=1, body_timeout_seconds=0.5) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        writer.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        answer = await asyncio.wait_for(reader.read(), 0.5 + SLACK)
        took = time.monotonic() - started
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert b"body" in answer
        assert 0.45 <= took < 0.5 + SLACK
        # Its turn is free again: the only one of the process.
        after = await asyncio.wait_for(_ask(port, "/next"), SLACK)
    assert after.startswith(b"HTTP/1.1 200 ")
    assert after.endswith(b"/next")


async def test_a_body_in_pieces_within_the_deadline_is_read_whole() -> None:
    app = Gate(released=True)
    async with serving(app, body_timeout_seconds=1.0) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /pieces HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc")
        await asyncio.sleep(0.3)
        writer.write(b"def")
        answer = await asyncio.wait_for(reader.readuntil(b"/pieces"), SLACK)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")


async def test_pipelined_requests_are_answered_in_order_at_a_limit_of_one() -> None:
    app = Gate(released=True)
    async with serving(app, max_requests_in_flight=1) as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(f"GET /p{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for n in range(3)))
        answers = await asyncio.wait_for(reader.readuntil(b"/p2"), SLACK)
        writer.close()
    assert answers.count(b"HTTP/1.1 200 ") == 3
    assert answers.index(b"/p0") < answers.index(b"/p1") < answers.index(b"/p2")


async def test_an_idle_keep_alive_connection_keeps_nothing_of_its_answered_request() -> None:
    app = Gate(released=True)
    async with serving(app) as (server, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /kept HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        await asyncio.wait_for(reader.readuntil(b"/kept"), SLACK)
        (connection,) = server.server_state.connections
        assert isinstance(connection, BoundedHttpProtocol)
        assert (connection.cycle, connection.scope, connection.headers) == (None, None, None)
        # ... and the connection serves its next request as before.
        writer.write(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await asyncio.wait_for(reader.readuntil(b"/again"), SLACK)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
