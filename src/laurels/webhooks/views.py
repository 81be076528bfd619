"""What the webhook service hands out: endpoints (never their secret, except once
when added), deliveries and their attempts."""

from __future__ import annotations

from dataclasses import dataclass

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
STATUSES = (PENDING, DELIVERED, FAILED)


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    title_id: int
    sandbox: str
    url: str
    description: str
    created_at_us: int
    disabled_at_us: int | None

    @property
    def active(self) -> bool:
        return self.disabled_at_us is None


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    """An endpoint just added, with its signing secret: the only time it is shown."""

    endpoint: Endpoint
    secret: str


@dataclass(frozen=True, slots=True)
class Removal:
    endpoint_id: str
    already_removed: bool
    # Pending deliveries to it, marked failed.
    cancelled: int


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    started_at_us: int
    duration_ms: int
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    endpoint_id: str
    event_id: int
    idempotency_key: str
    payload: str
    status: str
    attempts: int
    next_attempt_at_us: int
    created_at_us: int
    delivered_at_us: int | None
    last_error: str | None
    log: tuple[Attempt, ...]
