"""Xbox's time format: ISO-8601 UTC with seven fractional digits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

NEVER = "0001-01-01T00:00:00Z"


def format_time(moment: datetime | None) -> str:
    """`2024-05-01T18:22:07.1234560Z`; None is Xbox's "never"."""
    if moment is None:
        return NEVER
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_time(text: str) -> datetime:
    """Parse an ISO-8601 time that names its offset; raises ValueError otherwise."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("time must carry a UTC offset, e.g. 2024-05-01T18:22:07Z")
    return moment.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_micros(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int | None) -> datetime | None:
    if value is None:
        return None
    return EPOCH + timedelta(microseconds=value)


def now_micros() -> int:
    return to_micros(utcnow())


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
