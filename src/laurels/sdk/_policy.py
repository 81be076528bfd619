"""Pure decisions of the SDK, without I/O, tested with tables: argument checks,
classification of answers, backoff, Retry-After and coalescing; the same for
events (spec/events.md)."""

from __future__ import annotations

import email.utils
import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

HTTP_E_BASE = 0x80190000
E_INVALIDARG = 0x80070057
E_UNEXPECTED = 0x8000FFFF
E_BOUNDS = 0x8000000B
E_NOT_SUPPORTED = 0x80070032
NOT_MODIFIED = HTTP_E_BASE | 304
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
# No wait this SDK writes lies further ahead than this: a Retry-After is bounded by
# it too, so a time stored further ahead means the wall clock was stepped back.
MAX_WAIT = BACKOFF_CAP
CLOCK_SLACK = 30.0
MAX_ERROR_BODY = 16_384  # the service's error bodies are a few hundred bytes


class Outcome(Enum):
    UPDATED = "updated"
    NOT_MODIFIED = "not_modified"
    RETRY = "retry"  # queue it (or keep it queued) and try again later
    REJECTED = "rejected"  # the service said no for good: never queue, dead-letter


def hresult(status: int) -> int:
    """0 for success, else `0x80190000 | status` as the reference SDK reports it."""
    return 0 if status in (200, 201, 204) else HTTP_E_BASE | status


def json_object(body: bytes, limit: int = MAX_ERROR_BODY) -> dict[str, object] | None:
    """A body that is a JSON object of at most `limit` bytes, else None: empty, too
    large, not JSON, not UTF-8, nested too deep to parse, or JSON of another type.
    The one parser of the service's small JSON answers: it never raises."""
    if not body or len(body) > limit:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return None
    return data if isinstance(data, dict) else None


def service_error(body: bytes) -> dict[str, object] | None:
    """The service's JSON error body (`{"code": int, "source": "achievements",
    "description": str}`, spec/wire.md), or None for any other body: HTML, JSON
    that is not an object, another source, or more than `MAX_ERROR_BODY` bytes."""
    data = json_object(body)
    if data is None or data.get("source") != "achievements":
        return None
    code, description = data.get("code"), data.get("description")
    if not isinstance(code, int) or isinstance(code, bool) or not isinstance(description, str):
        return None
    return data


def classify(status: int, body: bytes = b"", *, queued: bool = False) -> Outcome:
    """What an answer to an update means (network errors are RETRY too). Only an
    answer recognisably the service's settles an update: the update route's empty
    200 or 304, or a 4xx with the service's error body. Anything else (a captive
    portal's HTML page, a redirect to a login page, a proxy's 407, a 4xx with some
    other body) is RETRY: the update stays queued. A 401 is the caller's to fix when
    it calls directly; for an update already queued it is a credential problem,
    kept until a token or credential works."""
    if status == 200 and not body:
        return Outcome.UPDATED
    if status == 304 and not body:
        return Outcome.NOT_MODIFIED
    if not 400 <= status < 500 or status in (408, 429) or service_error(body) is None:
        return Outcome.RETRY
    if queued and status == 401:
        return Outcome.RETRY
    return Outcome.REJECTED


@dataclass(frozen=True)
class IssuedCredential:
    """A delivery credential the service issued, and when it expires (ISO-8601)."""

    credential: str
    expires_at: str


def issued_credential(status: int, body: bytes) -> IssuedCredential | None:
    """The credential of the service's answer to `POST /users/xuid({xuid})/
    delivery-credentials`: a 201 whose body is a JSON object with a non-empty
    string `credential` and a string `expiresAt`. None for anything else, which
    is not the service's issuing answer: another status, a proxy's or captive
    portal's page, JSON that is not an object or is nested too deep, a field
    missing or of another type. Never raises."""
    data = json_object(body) if status == 201 else None
    if data is None:
        return None
    credential, expires_at = data.get("credential"), data.get("expiresAt")
    if not isinstance(credential, str) or not credential or not isinstance(expires_at, str):
        return None
    return IssuedCredential(credential, expires_at)


def describe(status: int, body: bytes, reason: str) -> str:
    """The service's description of an answer, else its reason phrase, saying so
    when the answer is not the service's (a captive portal, a proxy)."""
    error = service_error(body)
    if error is not None:
        return str(error["description"])
    phrase = reason or f"HTTP {status}"
    if (status in (200, 304) and not body) or status == 429:
        return phrase
    return f"{phrase} (not an answer of the achievements service: a proxy or captive portal?)"


def check_update(xuid: object, achievement_id: object, percent: object) -> tuple[str, str, int]:
    """(xuid, id, percent clamped to 100); ValueError for arguments that can never
    succeed."""
    if isinstance(xuid, int) and not isinstance(xuid, bool):
        xuid = str(xuid)
    if not isinstance(xuid, str) or not xuid.isdigit() or not 0 < int(xuid) < 2**64:
        raise ValueError(f"xuid must be a decimal uint64, not {xuid!r}")
    if not isinstance(achievement_id, str) or not achievement_id.strip():
        raise ValueError("achievement_id must be a non-empty string")
    if len(achievement_id) > 64:
        raise ValueError("achievement_id must be at most 64 characters")
    if not isinstance(percent, int) or isinstance(percent, bool):
        raise ValueError(f"percent_complete must be an integer, not {percent!r}")
    if percent < 1:
        raise ValueError("percent_complete must be 1..100 (above 100 acts as 100)")
    return str(int(xuid)), achievement_id, min(percent, 100)


def backoff(
    attempt: int,
    rng: random.Random | None = None,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
) -> float:
    """Seconds to wait before attempt `attempt + 1`: exponential, full jitter, capped."""
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return (rng or random).uniform(0, ceiling)


def retry_after(header: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date),
    bounded by `MAX_WAIT` so that no answer can park an update for longer; None
    for a missing or malformed header."""
    text = (header or "").strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
            seconds = when.timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(0.0, seconds), MAX_WAIT)


def due_time(at: float, now: float, horizon: float = MAX_WAIT) -> float:
    """When a stored time (a next attempt, a Retry-After, a lease end) is due: `at`,
    unless it lies more than `horizon` (and CLOCK_SLACK) ahead of `now`, which no
    wait written by this clock can: the wall clock was stepped back since (or was
    ahead when it was written), and the entry is due now rather than parked. The
    slack covers two threads reading the clock in one order and writing in the
    other, and small steps, which cost no more than a short wait."""
    return now if at > now + horizon + CLOCK_SLACK else at


def next_attempt(
    attempt: int, retry_after_seconds: float | None, now: float, rng: random.Random | None = None
) -> tuple[float, float]:
    """(soft, hard) times of the next attempt: the backoff, and the Retry-After
    minimum that even a flush must honour."""
    soft = now + backoff(attempt, rng)
    hard = now + retry_after_seconds if retry_after_seconds else now
    return max(soft, hard), hard


@dataclass(frozen=True)
class Queued:
    """An update waiting in the queue: the maximum percentage sent, and when the
    player first reached it."""

    percent: int
    time_achieved: float


def coalesce(stored: Queued | None, percent: int, now: float) -> Queued:
    """Merge an update into what is queued: keep the maximum, and keep the time
    the player first reached that maximum."""
    if stored is None or percent > stored.percent:
        return Queued(percent, now)
    return stored


def iso_time(moment: float) -> str:
    """ISO-8601 UTC with seven fractional digits, as the service speaks it."""
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond:06d}0Z"


# -- events (spec/events.md) -----------------------------------------------------------

EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_EVENTS = 100  # the service's cap per request
MAX_FIELDS = 20  # dimensions, measurements: the most an event may declare
# A full queue refuses an event with this hresult (E_OUTOFMEMORY: the offline
# buffer has no room) and this description.
E_QUEUE_FULL = 0x8007000E
QUEUE_FULL = "queue full"
FAULTY_EVENT = re.compile(r"events\[(\d+)\]")


def check_event(
    xuid: object, name: object, dimensions: object, measurements: object
) -> tuple[str, str, dict[str, str], dict[str, int]]:
    """(xuid, name, dimensions, measurements) of an event to write; ValueError for
    arguments that can never succeed: a name off `EVENT_NAME`, a field name off it
    too, a dimension that is not a string, a measurement that is not an int (a
    bool is not) or beyond int64. None stands for no fields."""
    player, _, _ = check_update(xuid, "-", 1)
    if not isinstance(name, str) or EVENT_NAME.fullmatch(name) is None:
        raise ValueError(f"an event name must match {EVENT_NAME.pattern}, not {name!r}")
    texts: dict[str, str] = {}
    for key, value in _fields(dimensions, "dimensions").items():
        if not isinstance(value, str):
            raise ValueError(f"dimensions[{key!r}] must be a string, not {value!r}")
        texts[key] = value
    numbers: dict[str, int] = {}
    for key, value in _fields(measurements, "measurements").items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"measurements[{key!r}] must be an int, not {value!r}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"measurements[{key!r}] must fit in int64, not {value}")
        numbers[key] = int(value)  # (an int subclass is sent as a plain int)
    return player, name, texts, numbers


def _fields(values: object, what: str) -> dict[str, object]:
    """A mapping of field names (None: empty); ValueError for anything else."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"{what} must be a dict, not {type(values).__name__}")
    if len(values) > MAX_FIELDS:
        raise ValueError(f"{what} may hold at most {MAX_FIELDS} fields")
    for key in values:
        if not isinstance(key, str) or EVENT_NAME.fullmatch(key) is None:
            raise ValueError(f"{what} names must match {EVENT_NAME.pattern}, not {key!r}")
    return dict(values)


def classify_events(status: int, body: bytes = b"", *, queued: bool = False) -> Outcome:
    """What an answer to `POST /events` means, by `classify`'s rules: only the
    service's 200 (`{"accepted": n, "duplicates": m}`) settles events as sent (as
    UPDATED), and only a 4xx with its error body rejects them; anything else, and
    408, 429, 5xx, is RETRY."""
    if status == 200:
        data = json_object(body)
        counts = None if data is None else (data.get("accepted"), data.get("duplicates"))
        good = counts is not None and all(
            isinstance(n, int) and not isinstance(n, bool) for n in counts
        )
        return Outcome.UPDATED if good else Outcome.RETRY
    if status == 304:
        return Outcome.RETRY
    return classify(status, body, queued=queued)


def faulty_event(status: int, body: bytes) -> int | None:
    """The index of the one event a 400 or 403 blames (its description starts with
    `events[i]`), or None when the refusal is of the whole request."""
    error = service_error(body) if status in (400, 403) else None
    found = None if error is None else FAULTY_EVENT.match(str(error["description"]))
    return None if found is None else int(found.group(1))
