"""The real-time protocol without I/O (docs/realtime.md): resource URIs, frames
built and parsed, event ids remembered with bounded memory, and the reconnect
delay. The subscriber (`_realtime`) does the I/O around these."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from laurels.sdk._models import ProgressEvent, UnlockNotification
from laurels.sdk._policy import backoff

SUBPROTOCOL = "rta.xboxlive.com.V2"
SUBSCRIBE, UNSUBSCRIBE, EVENT, RESYNC = 1, 2, 3, 4
OK, UNKNOWN_RESOURCE, LIMIT_REACHED, ACCESS_DENIED = 0, 1, 2, 3
THROTTLED, UNAVAILABLE = 1001, 1002
TRANSIENT_CODES = frozenset({THROTTLED, UNAVAILABLE})  # try again on a new connection
AUTH_STATUSES = frozenset({401, 403})  # the token was refused: retried only so often
RECONNECT_BASE = 0.5
RECONNECT_CAP = 30.0
SubId = int | str
Kind = Literal["progress", "notifications"]


@dataclass(frozen=True)
class Resource:
    """Something a connection subscribes to; `uri` identifies it on the wire."""

    kind: Kind
    xuid: str
    uri: str


def player(xuid: str | int) -> str:
    """A XUID as the wire writes it; ValueError for anything but a decimal uint64."""
    text = str(xuid) if isinstance(xuid, int) and not isinstance(xuid, bool) else xuid
    if not isinstance(text, str) or not text.isdigit() or not 0 < int(text) < 2**64:
        raise ValueError(f"xuid must be a decimal uint64, not {xuid!r}")
    return str(int(text))


def progress_resource(xuid: str, scid: str) -> Resource:
    uri = f"https://achievements.xboxlive.com/users/xuid({xuid})/achievements/{scid}"
    return Resource("progress", xuid, uri)


def notification_resource(xuid: str, title_id: int) -> Resource:
    uri = f"https://notify.xboxlive.com/users/xuid({xuid})/deviceId/current/titleId/{title_id}"
    return Resource("notifications", xuid, uri)


def websocket_url(service: str) -> str:
    """The service's `/connect` URL (http → ws, https → wss); ValueError for a URL
    of another scheme."""
    scheme, sep, rest = service.rstrip("/").partition("://")
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if not sep or scheme.lower() not in schemes:
        raise ValueError(f"the service URL must be http(s)://..., not {service!r}")
    return f"{schemes[scheme.lower()]}://{rest}/connect"


# -- frames ------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscribeAnswer:
    seq: int
    code: int
    sub_id: SubId | None
    data: dict[str, Any] | None

    @property
    def last_event_id(self) -> str | None:
        value = (self.data or {}).get("lastEventId")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class UnsubscribeAnswer:
    seq: int
    code: int


@dataclass(frozen=True)
class EventFrame:
    sub_id: SubId
    data: dict[str, Any]


@dataclass(frozen=True)
class ResyncFrame:
    pass


Frame = SubscribeAnswer | UnsubscribeAnswer | EventFrame | ResyncFrame


def subscribe_frame(seq: int, uri: str, since: str | None = None) -> str:
    message: list[Any] = [SUBSCRIBE, seq, uri]
    if since is not None:
        message.append({"since": since})
    return json.dumps(message, separators=(",", ":"))


def unsubscribe_frame(seq: int, sub_id: SubId) -> str:
    return json.dumps([UNSUBSCRIBE, seq, sub_id], separators=(",", ":"))


def parse_frame(text: str | bytes) -> Frame:
    """One message from the service; ValueError for anything the protocol does
    not define (bad JSON, unknown type, wrong arity or types)."""
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(message, list) or not message or not _is_int(message[0]):
        raise ValueError(f"not a message array: {text!r:.200}")
    kind = message[0]
    if kind == SUBSCRIBE and len(message) == 5:
        return _subscribe_answer(message)
    if kind == UNSUBSCRIBE and len(message) == 3 and _is_int(message[1]) and _is_int(message[2]):
        return UnsubscribeAnswer(message[1], message[2])
    if kind == EVENT and len(message) == 3 and _is_sub_id(message[1]):
        if not isinstance(message[2], dict):
            raise ValueError("event data must be an object")
        return EventFrame(message[1], message[2])
    if kind == RESYNC and len(message) == 1:
        return ResyncFrame()
    raise ValueError(f"unknown message: {text!r:.200}")


def _subscribe_answer(message: list[Any]) -> SubscribeAnswer:
    _, seq, code, sub_id, data = message
    if not (_is_int(seq) and _is_int(code)):
        raise ValueError("subscribe answer: seq and code must be integers")
    if code == OK and not _is_sub_id(sub_id):
        raise ValueError("subscribe answer: a success needs a subId")
    if data is not None and not isinstance(data, dict):
        raise ValueError("subscribe answer: data must be an object or null")
    return SubscribeAnswer(seq, code, sub_id if code == OK else None, data)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_sub_id(value: object) -> bool:
    return _is_int(value) or isinstance(value, str)


def parse_event(resource: Resource, data: dict[str, Any]) -> ProgressEvent | UnlockNotification:
    """The typed event of a resource's data; KeyError, TypeError or ValueError
    when the data is not shaped as docs/realtime.md says."""
    if resource.kind == "progress":
        return ProgressEvent.from_wire(resource.xuid, data)
    return UnlockNotification.from_wire(resource.xuid, data)


# -- exactly once ------------------------------------------------------------------


class EventIds:
    """The event ids seen last, at most `capacity` of them (the oldest forgotten
    first). The service never replays older than what a `since` asks for, so a
    window of recent ids is enough to drop the duplicates a reconnect can bring."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    def first_time(self, resource: str, event_id: str) -> bool:
        """Whether this is the first time the event is seen; remembers it."""
        key = (resource, event_id)
        if key in self._ids:
            return False
        self._ids[key] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)


def transient_refusal(status: int) -> bool:
    """Whether an HTTP status at the handshake refuses only for now: 408, 429 (the
    player's socket limit, docs/realtime.md) or a 5xx. Such a refusal is retried
    for as long as it lasts, after its Retry-After; it never counts against the
    token (only 401 and 403 do)."""
    return status in (408, 429) or 500 <= status <= 599


def refusal_delay(delay: float, asked: float | None) -> float:
    """Seconds before the next handshake after a refusal: the reconnect backoff
    `delay`, or the Retry-After the service `asked` for (already bounded by
    `_policy.retry_after`) when that is longer."""
    return delay if asked is None else max(delay, asked)


def reconnect_delay(
    attempt: int,
    rng: random.Random | None = None,
    *,
    base: float = RECONNECT_BASE,
    cap: float = RECONNECT_CAP,
) -> float:
    """Seconds before reconnect attempt `attempt + 1` (0 for the first after a
    healthy connection): exponential, full jitter, capped, so a fleet of devices
    does not come back at one instant after a service restart."""
    return backoff(attempt, rng, base=base, cap=cap)
