"""Hot routes: the busiest operations answered as plain ASGI, ahead of FastAPI.

A game's progress updates and events are most of the traffic. Through FastAPI each
paid for five middlewares, the router's scan, and dependency solving: about a fifth
of a worker's time under load (bench/README.md). `ServiceApp` answers the requests of
its hot routes itself, with the same checks, bodies and statuses, and hands every
other request (and every hot path it is not sure of, such as one under a
`root_path`) to FastAPI, where the same operations are declared too: they stay in the
OpenAPI document and answer identically through the router.

A hot handler gets the raw request and answers with `answer`; it raises
LaurelsError for a refusal, answered with the body of `web.errors`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import ClientDisconnect
from starlette.routing import compile_path

from laurels.errors import LaurelsError
from laurels.web.errors import UNEXPECTED, refusal

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class HotRequest:
    """What a hot handler reads of a request: its path parameters, the headers it
    asked for (the first of each name, as text, None when absent), and `receive`
    for the body."""

    app: FastAPI
    params: dict[str, str]
    headers: dict[str, str]
    receive: Receive


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()


HotHandler = Callable[[HotRequest], Awaitable[Answer]]
NO_CONTENT_LENGTH = frozenset({204, 304})  # as Starlette: no body, no Content-Length
JSON = (b"content-type", b"application/json")


@dataclass(frozen=True)
class HotRoute:
    """`method` `path` (a Starlette path template) answered by `handler`, which reads
    the `headers` named (lower case)."""

    method: str
    path: str
    handler: HotHandler
    headers: tuple[str, ...]

    def __post_init__(self) -> None:
        regex, _, _ = compile_path(self.path)  # the router's own matching
        object.__setattr__(self, "_regex", regex)
        object.__setattr__(self, "_wanted", {name.encode("latin-1") for name in self.headers})

    def match(self, path: str) -> dict[str, str] | None:
        found: re.Match[str] | None = self._regex.match(path)  # type: ignore[attr-defined]
        return None if found is None else found.groupdict()

    def pick_headers(self, raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        wanted: set[bytes] = self._wanted  # type: ignore[attr-defined]
        picked: dict[str, str] = {}
        for name, value in raw:
            if name in wanted:
                picked.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        return picked


class ServiceApp(FastAPI):
    """FastAPI with hot routes answered ahead of its middleware and router."""

    hot_routes: tuple[HotRoute, ...] = ()

    def add_hot_route(self, route: HotRoute) -> None:
        self.hot_routes = (*self.hot_routes, route)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            for route in self.hot_routes:
                if route.method == method and (params := route.match(path)) is not None:
                    headers = route.pick_headers(scope["headers"])
                    request = HotRequest(self, params, headers, receive)
                    answer = await _answer(route.handler, request)
                    if answer is not None:  # None: the client left
                        await _respond(send, answer)
                    return
        await super().__call__(scope, receive, send)


async def _answer(handler: HotHandler, request: HotRequest) -> Answer | None:
    try:
        return await handler(request)
    except ClientDisconnect:
        return None
    except LaurelsError as exc:
        status, headers, body = refusal(exc)
        return Answer(status, body, (JSON, *headers))
    except Exception:
        log.exception("unexpected error")
        return Answer(500, UNEXPECTED, (JSON,))


async def _respond(send: Send, answer: Answer) -> None:
    headers = list(answer.headers)
    if answer.status not in NO_CONTENT_LENGTH:
        headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
