"""The RTA V2 frames and resource URIs, without I/O (docs/realtime.md).

A client frame is a JSON array: `[1, seq, uri]` or `[1, seq, uri, {"since": id}]`
to subscribe, `[2, seq, subId]` to unsubscribe. `parse_frame` raises
`ProtocolError` for anything else; the connection then closes with code 1003.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from laurels.progress.identifiers import parse_scid, parse_xuid
from laurels.progress.outbox import Key, parse_key

SUBPROTOCOL = "rta.xboxlive.com.V2"
SUBSCRIBE, UNSUBSCRIBE, EVENT, RESYNC = 1, 2, 3, 4
SUCCESS, UNKNOWN_RESOURCE, LIMIT_REACHED, ACCESS_DENIED = 0, 1, 2, 3
THROTTLED, UNAVAILABLE = 1001, 1002
RESYNC_FRAME = "[4]"
MAX_SEQ = 2**53

_PROGRESS = re.compile(r"/users/xuid\(([^)]*)\)/achievements/([^/?#]+)/?", re.IGNORECASE)
_NOTIFY = re.compile(
    r"/users/xuid\(([^)]*)\)/deviceId/([^/?#]+)/titleId/([^/?#]+)/?", re.IGNORECASE
)


class ProtocolError(ValueError):
    """A frame the protocol does not allow."""


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
    try:
        return parse_key(since)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def parse_frame(text: str) -> Subscribe | Unsubscribe:
    """A client frame; raises ProtocolError naming what is wrong."""
    try:
        frame = json.loads(text)
    except ValueError:
        raise ProtocolError("a frame must be a JSON array") from None
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
    return json.dumps(frame, separators=(",", ":"))


def subscribed(seq: int, code: int, sub_id: int | None = None, data: Any = None) -> str:
    return _dump([SUBSCRIBE, seq, code, sub_id, data])


def unsubscribed(seq: int, code: int) -> str:
    return _dump([UNSUBSCRIBE, seq, code])


def event_frame(sub_id: int, data_json: str) -> str:
    """An event; `data_json` is the event's data already as JSON (rendered once
    for every device that gets it)."""
    return f"[{EVENT},{sub_id},{data_json}]"
