"""The RTA V2 frames and resource URIs, without I/O (docs/realtime.md).

A client frame is a JSON array: `[1, seq, uri]` or `[1, seq, uri, {"since": id}]`
to subscribe, `[2, seq, subId]` to unsubscribe. `parse_frame` raises
`ProtocolError` for anything else, and the connection then closes with the error's
`close_code`: 1009 for a frame over `MAX_FRAME_BYTES`, 1003 for the rest (bad JSON,
nesting deeper than `MAX_DEPTH`, wrong types, numbers out of range).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from laurels.outbox import Key, parse_key
from laurels.wire.identifiers import parse_scid, parse_xuid

SUBPROTOCOL = "rta.xboxlive.com.V2"
SUBSCRIBE, UNSUBSCRIBE, EVENT, RESYNC = 1, 2, 3, 4
SUCCESS, UNKNOWN_RESOURCE, LIMIT_REACHED, ACCESS_DENIED = 0, 1, 2, 3
THROTTLED, UNAVAILABLE = 1001, 1002
RESYNC_FRAME = "[4]"
MAX_SEQ = 2**53
# A frame the protocol allows is a few hundred bytes (a URI is cut at 2,048) and
# nests two deep ([1, seq, uri, {"since": id}]).
MAX_FRAME_BYTES = 16 * 1024
MAX_DEPTH = 4
# WebSocket close codes (RFC 6455).
GOING_AWAY, UNSUPPORTED_DATA, POLICY_VIOLATION, MESSAGE_TOO_BIG = 1001, 1003, 1008, 1009

_PROGRESS = re.compile(r"/users/xuid\(([^)]*)\)/achievements/([^/?#]+)/?", re.IGNORECASE)
_NOTIFY = re.compile(
    r"/users/xuid\(([^)]*)\)/deviceId/([^/?#]+)/titleId/([^/?#]+)/?", re.IGNORECASE
)


class ProtocolError(ValueError):
    """A frame the protocol does not allow; the connection closes with `close_code`."""

    close_code = UNSUPPORTED_DATA


class FrameTooLarge(ProtocolError):
    close_code = MESSAGE_TOO_BIG


@dataclass(frozen=True, slots=True)
class ProgressResource:
    xuid: str
    scid: str


@dataclass(frozen=True, slots=True)
class NotificationResource:
    xuid: str
    title_id: int


Resource = ProgressResource | NotificationResource


@dataclass(frozen=True, slots=True)
class Subscribe:
    seq: int
    uri: str
    since: Key | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    seq: int
    sub_id: int


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise ProtocolError(f"{what} must be a non-negative integer")
    return value


def _since(options: Any) -> Key | None:
    if not isinstance(options, dict) or set(options) - {"since"}:
        raise ProtocolError('subscribe options must be {"since": "<eventId>"}')
    since = options.get("since")
    if since is None:
        return None
    if not isinstance(since, str):
        raise ProtocolError("since must be an event id string")
    try:  # two integers in 0..2^63-1: a larger one reached the database before
        return parse_key(since)
    except ValueError:
        raise ProtocolError("since is not an event id") from None


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit` (brackets
    inside strings do not count). Checked before parsing, so a frame of a hundred
    thousand `[` costs one pass instead of a recursion error."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _load(text: str) -> Any:
    if len(text) > MAX_FRAME_BYTES or len(text.encode(errors="surrogatepass")) > MAX_FRAME_BYTES:
        raise FrameTooLarge(f"a frame is at most {MAX_FRAME_BYTES} bytes")
    if too_deep(text):
        raise ProtocolError(f"a frame nests at most {MAX_DEPTH} deep")
    try:
        return json.loads(text)
    except ValueError:
        raise ProtocolError("a frame must be a JSON array") from None


def parse_frame(text: str) -> Subscribe | Unsubscribe:
    """A client frame; raises ProtocolError naming what is wrong (FrameTooLarge for
    one over MAX_FRAME_BYTES). Never raises anything else, whatever the text."""
    frame = _load(text)
    if not isinstance(frame, list) or not frame:
        raise ProtocolError("a frame must be a non-empty JSON array")
    kind = frame[0]
    if kind == SUBSCRIBE and len(frame) in (3, 4) and isinstance(frame[2], str):
        since = _since(frame[3]) if len(frame) == 4 else None
        return Subscribe(_int(frame[1], "seq"), frame[2][:2048], since)
    if kind == UNSUBSCRIBE and len(frame) == 3:
        return Unsubscribe(_int(frame[1], "seq"), _int(frame[2], "subId"))
    raise ProtocolError("expected [1, seq, uri] or [2, seq, subId]")


def parse_resource(uri: str) -> Resource | None:
    """The resource a URI names (by its path; the host is informational), or None."""
    path = uri.split("://", 1)[-1]
    path = path[path.find("/") :] if "/" in path else ""
    path = path.split("?", 1)[0]
    try:
        if match := _PROGRESS.fullmatch(path):
            return ProgressResource(parse_xuid(match[1]), parse_scid(match[2]))
        if match := _NOTIFY.fullmatch(path):
            if not match[3].isdigit() or len(match[3]) > 10:
                return None
            return NotificationResource(parse_xuid(match[1]), int(match[3]))
    except ValueError:
        return None
    return None


def _dump(frame: list[Any]) -> str:
    return orjson.dumps(frame).decode()


def subscribed(seq: int, code: int, sub_id: int | None = None, data: Any = None) -> str:
    return _dump([SUBSCRIBE, seq, code, sub_id, data])


def unsubscribed(seq: int, code: int) -> str:
    return _dump([UNSUBSCRIBE, seq, code])


def event_frame(sub_id: int, data_json: str) -> str:
    """An event; `data_json` is the event's data already as JSON (rendered once
    for every device that gets it)."""
    return f"[{EVENT},{sub_id},{data_json}]"
