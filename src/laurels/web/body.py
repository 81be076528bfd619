"""The request body, read within a limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect

from laurels.errors import PayloadTooLarge, UnsupportedMediaType

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def read_json_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The JSON body of an ASGI request with `headers` (lower-case names); raises
    UnsupportedMediaType (415) unless sent as JSON, PayloadTooLarge (413) past
    `limit` bytes, declared or streamed, and ClientDisconnect when the client leaves
    before the end."""
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("the body must be sent as Content-Type: application/json")
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    message = await receive()
    body: bytes = message.get("body", b"")
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    if not message.get("more_body", False):
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        return body  # the whole body in one message: the usual case
    chunks, size = [body], len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
