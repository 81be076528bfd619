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
  long or too many headers, 400 for anything else) and closed.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from laurels.settings import Settings

log = logging.getLogger(__name__)


class ServeConfig(uvicorn.Config):
    """uvicorn's configuration plus the bounds of a request head (it reaches every
    worker process with the rest of the configuration)."""

    def __init__(
        self,
        app: Any,
        *,
        header_timeout_seconds: float = Settings.header_timeout_seconds,
        max_header_bytes: int = Settings.max_header_bytes,
        **options: Any,
    ) -> None:
        super().__init__(app, **options)
        self.header_timeout_seconds = header_timeout_seconds
        self.max_header_bytes = max_header_bytes


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


def _limits(config: uvicorn.Config) -> tuple[float, int]:
    if isinstance(config, ServeConfig):
        return config.header_timeout_seconds, config.max_header_bytes
    return Settings.header_timeout_seconds, Settings.max_header_bytes


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline and a size for each request head."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_timeout, self._max_head_bytes = _limits(config)
        self._head_timer: asyncio.TimerHandle | None = None
        # Between the start of a request and the end of its headers: bytes counted.
        self._in_head = True
        self._head_bytes = 0
        self._head_begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes:
                self._refuse(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                    f"the request head is over {self._max_head_bytes} bytes",
                )
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._head_begun = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = self._head_begun = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

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
