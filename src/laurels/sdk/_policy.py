"""Pure decisions of the SDK, without I/O, tested with tables: argument checks,
classification of answers, backoff, Retry-After and coalescing."""

from __future__ import annotations

import email.utils
import random
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


class Outcome(Enum):
    UPDATED = "updated"
    NOT_MODIFIED = "not_modified"
    RETRY = "retry"  # queue it (or keep it queued) and try again later
    REJECTED = "rejected"  # the service said no for good: never queue, dead-letter


def hresult(status: int) -> int:
    """0 for success, else `0x80190000 | status` as the reference SDK reports it."""
    return 0 if status in (200, 201, 204) else HTTP_E_BASE | status


def classify(status: int, *, queued: bool = False) -> Outcome:
    """What an HTTP status means for an update (network errors are RETRY too).
    A 401 is the caller's to fix when it calls directly; for an update already
    queued it is a credential problem, kept until a token or credential works."""
    if 200 <= status < 300:
        return Outcome.UPDATED
    if status == 304:
        return Outcome.NOT_MODIFIED
    if status in (408, 429) or status >= 500 or (queued and status == 401):
        return Outcome.RETRY
    return Outcome.REJECTED


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
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date)."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


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
