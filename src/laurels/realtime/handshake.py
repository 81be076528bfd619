"""Bounded handshakes: every connection `laurels serve` accepts gets an answer or a
close within a bounded time and size (docs/realtime.md, "Connecting").

uvicorn's httptools protocol reads a request head without a deadline or a size
limit, and hands a WebSocket upgrade to the websockets parser, whose refusals (a
header line over 8 KiB, more than 128 headers, a malformed request) it never sends:
such a socket stayed open, unanswered, for as long as the peer liked. Here:

- a request head (request line and headers) must arrive within
  `LAURELS_HEADER_TIMEOUT_SECONDS`, or the service answers 408 and closes (a
  connection that sent nothing at all is just closed);
- it must fit in `LAURELS_MAX_HEADER_BYTES`, or the service answers 431 and closes;
- an upgrade the websockets parser refuses is answered (431 for a header line too
  long or too many headers, 400 for anything else) and closed;
- a request's body must arrive within `LAURELS_BODY_TIMEOUT_SECONDS` of its head, or
  the service answers 408 (unless it has begun its answer) and closes;
- one process works on at most `LAURELS_MAX_REQUESTS_IN_FLIGHT` requests at once: a
  connection whose next request would go over waits, its bytes unread, until one
  finishes (`InFlight`). And a keep-alive connection keeps nothing of a request it
  has answered. 1,000 clients sending at once cost 1,000 idle connections and that
  many requests, where they cost 1,000 requests: after compare.py's 1,000-connection
  run one process on SQLite was at 116-118 MB without these bounds, 103-104 MB with
  them, at the same speed.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from http import HTTPStatus
from typing import Any
from weakref import WeakKeyDictionary

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from laurels.settings import Settings

log = logging.getLogger(__name__)


class ServeConfig(uvicorn.Config):
    """uvicorn's configuration plus the bounds of a request (it reaches every worker
    process with the rest of the configuration)."""

    def __init__(
        self,
        app: Any,
        *,
        header_timeout_seconds: float = Settings.header_timeout_seconds,
        max_header_bytes: int = Settings.max_header_bytes,
        body_timeout_seconds: float = Settings.body_timeout_seconds,
        max_requests_in_flight: int = Settings.max_requests_in_flight,
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self.header_timeout_seconds = header_timeout_seconds
        self.max_header_bytes = max_header_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.max_requests_in_flight = max_requests_in_flight


class InFlight:
    """The requests one server works on at once: at most `limit`. A connection whose
    next request would go over waits (`wait`), its bytes unread, first come first
    served, until a request finishes; the kernel holds what it sends meanwhile, and
    TCP pushes back on it once its buffers fill."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._waiting: deque[BoundedHttpProtocol] = deque()

    def full(self) -> bool:
        return self.active >= self.limit

    def wait(self, protocol: BoundedHttpProtocol) -> None:
        self._waiting.append(protocol)

    def started(self, task: asyncio.Task[None]) -> None:
        self.active += 1
        task.add_done_callback(self._finished)

    def _finished(self, _task: asyncio.Task[None]) -> None:
        self.active -= 1
        # A resumed connection may not start a request (a partial head): go on then.
        while self._waiting and self.active < self.limit:
            self._waiting.popleft().resume()


# One per server (uvicorn's state shared by the protocols of its connections).
_in_flight: WeakKeyDictionary[ServerState, InFlight] = WeakKeyDictionary()


def plain_response(status: HTTPStatus, text: str) -> bytes:
    """A complete `Connection: close` HTTP/1.1 response with a text body."""
    body = text.encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def _limits(config: uvicorn.Config) -> tuple[float, int, float, int]:
    if isinstance(config, ServeConfig):
        return (
            config.header_timeout_seconds,
            config.max_header_bytes,
            config.body_timeout_seconds,
            config.max_requests_in_flight,
        )
    return (
        Settings.header_timeout_seconds,
        Settings.max_header_bytes,
        Settings.body_timeout_seconds,
        Settings.max_requests_in_flight,
    )


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline and a size for each request head,
    a deadline for its body, and a bound on the requests in flight."""

    # Ours in slots: uvicorn's 27 attributes share their dict's keys with every other
    # connection (288 bytes); 11 more made it a dict of its own (1,584 bytes each).
    __slots__ = (
        "_body_timeout",
        "_body_timer",
        "_head_begun",
        "_head_bytes",
        "_head_timeout",
        "_head_timer",
        "_held",
        "_in_body",
        "_in_flight",
        "_in_head",
        "_max_head_bytes",
    )

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timeout, self._max_head_bytes, self._body_timeout, limit = _limits(config)
        self._head_timer: asyncio.TimerHandle | None = None
        # Between the start of a request and the end of its headers: bytes counted.
        self._in_head = True
        self._head_bytes = 0
        self._head_begun = False
        # Between the end of a request's headers and the end of its body.
        self._in_body = False
        self._body_timer: asyncio.TimerHandle | None = None
        in_flight = _in_flight.get(server_state)
        if in_flight is None:
            in_flight = _in_flight[server_state] = InFlight(limit)
        self._in_flight = in_flight
        # What arrived while this connection waits for a turn (None: not waiting).
        self._held: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_body()
        self._held = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._held is not None:  # read before the pause took effect
            self._held += data
            return
        if self._in_flight.full() and (self.cycle is None or self.cycle.response_complete):
            # The next request would be one too many: wait for a turn, unread. The
            # wait is the service's, not the client's: no head deadline meanwhile.
            self._held = data
            self.transport.pause_reading()
            self._unset_keepalive_if_required()
            self._disarm()
            self._in_flight.wait(self)
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes:
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"the request head is over {self._max_head_bytes} bytes",
                )
                return
        super().data_received(data)
        # Armed only when a body is still to come after this read (rarely).
        if self._in_body and self._body_timer is None and not self.transport.is_closing():
            self._body_timer = self.loop.call_later(self._body_timeout, self._body_timed_out)

    def resume(self) -> None:
        """This connection's turn has come (`InFlight`): read what it sent."""
        data, self._held = self._held, None
        if data is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        if self._head_begun:  # held in the middle of a head: its deadline again
            self._arm()
        self.data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_begun = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = self._head_begun = False
        self._head_bytes = 0
        self._disarm()
        before = self.cycle
        super().on_headers_complete()
        # A new cycle: a request (an upgrade makes none; its socket is no longer ours).
        self._in_body = self.cycle is not before

    def on_message_complete(self) -> None:
        self._in_body = False
        self._disarm_body()
        super().on_message_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        # uvicorn's, with the task counted in the requests in flight.
        context = contextvars.Context() if self.config.reset_contextvars else None
        task = self.loop.create_task(cycle.run_asgi(app), context=context)
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)
        self._in_flight.started(task)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not cycle.more_body:
            # Answered and read whole: nothing of it stays on an idle connection
            # (uvicorn kept the last request's cycle, scope and headers until the next).
            self.cycle = None  # type: ignore[assignment]
            self.scope = None  # type: ignore[assignment]
            self.headers = None  # type: ignore[assignment]

    def _disarm_body(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        self._in_body = False
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self._refuse(
            HTTPStatus.REQUEST_TIMEOUT,
            f"the request body did not arrive within {self._body_timeout:g} s",
        )

    def _arm(self) -> None:
        # Armed once per head: trickling bytes does not push the deadline back.
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not (self._head_begun or self._head_bytes):  # an idle socket: nothing to answer
            self.transport.close()
            return
        self._refuse(
            HTTPStatus.REQUEST_TIMEOUT,
            f"the request head did not arrive within {self._head_timeout:g} s",
        )

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        log.info("refused a request from %s: %s", self.client, reason)
        self._in_head = False
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(plain_response(status, reason))
            self.transport.close()


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websockets protocol, which also sends the answer to an
    upgrade request the websockets parser refuses, then closes."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            self._refuse()

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        log.info("refused a WebSocket handshake from %s: %s", self.client, self.conn.handshake_exc)
        answer = b"".join(self.conn.data_to_send())
        if not answer.startswith(b"HTTP/"):  # websockets prepared none (a malformed request)
            answer = plain_response(HTTPStatus.BAD_REQUEST, "not a valid WebSocket handshake")
        self.close_sent = True
        self.transport.write(answer)
        self.transport.close()
