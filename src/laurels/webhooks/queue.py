"""The delivery queue in the database, safe with any number of service processes.

Claim: unlocks the outbox has not yet handed to the webhooks
(`outbox.hand_over_unlocks`) become one pending delivery per active endpoint of their
title and sandbox, in the transaction that takes them. The outbox hands a row over
once, and the unique (endpoint, idempotency key) is the backstop.

Lease: a sender takes due deliveries by pushing their `next_attempt_at` forward by a
lease, so no other process takes them while it sends; the result is recorded only
if that lease is still its own (compare-and-set on `next_attempt_at`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Update, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from laurels import outbox
from laurels.sqlasync import AsyncConnection
from laurels.titles import PublishedTitle
from laurels.webhooks.policy import RetryPolicy, idempotency_key
from laurels.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from laurels.webhooks.views import DELIVERED, FAILED, PENDING
from laurels.wire.times import format_time, from_micros

log = logging.getLogger(__name__)

# (sandbox, title id, config version) → that published version, if any.
Describe = Callable[[str, int, int], Awaitable[PublishedTitle | None]]


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery taken for one attempt, with what sending it needs."""

    id: int
    endpoint_id: str
    url: str
    secret: str
    sandbox: str
    idempotency_key: str
    payload: str
    attempts: int  # made before this one
    created_at_us: int
    lease_until_us: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt: a status code when the endpoint answered, else an error."""

    started_at_us: int
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        if self.error is not None:
            return self.error
        return f"HTTP {self.status_code}"


async def has_unclaimed(conn: AsyncConnection) -> bool:
    """Whether any unlock waits for the webhooks (the partial index answers)."""
    return await outbox.has_waiting_unlocks(conn)


async def claim_unlocks(
    conn: AsyncConnection, *, describe: Describe, now_us: int, limit: int
) -> tuple[int, int]:
    """Hand up to `limit` unlocks (oldest first) to the webhooks, in the caller's
    write transaction; returns (unlocks claimed, deliveries created). An unlock
    whose title has no active endpoint is only marked."""
    handed = await outbox.hand_over_unlocks(conn, now_us=now_us, limit=limit)
    rows = sorted(handed, key=lambda r: r.id)
    if not rows:
        return 0, 0
    endpoints = await _active_endpoints(conn, {(row.sandbox, row.title_id) for row in rows})
    values: list[dict[str, Any]] = []
    for row in rows:
        targets = endpoints.get((row.sandbox, row.title_id), [])
        if not targets:
            continue
        try:
            key, payload = await _event(row, describe)
        except (ValueError, KeyError, TypeError):  # one bad row must not hold back the rest
            log.exception("outbox row %d is not an unlock the webhooks can send; skipped", row.id)
            continue
        values.extend(_pending(row.id, target, key, payload, now_us) for target in targets)
    if not values:
        return len(rows), 0
    created = (await conn.execute(_insert_new(conn.dialect.name), values)).all()
    return len(rows), len(created)


async def _active_endpoints(
    conn: AsyncConnection, pairs: set[tuple[str, int]]
) -> dict[tuple[str, int], list[str]]:
    titles = {title_id for _, title_id in pairs}
    rows = await conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.sandbox, webhook_endpoints.c.title_id)
        .where(
            webhook_endpoints.c.title_id.in_(sorted(titles)),
            webhook_endpoints.c.disabled_at.is_(None),
        )
        .order_by(webhook_endpoints.c.id)
    )
    found: dict[tuple[str, int], list[str]] = {}
    for row in rows:
        if (row.sandbox, row.title_id) in pairs:
            found.setdefault((row.sandbox, row.title_id), []).append(row.id)
    return found


async def _event(row: Any, describe: Describe) -> tuple[str, str]:
    """The idempotency key and the JSON body of one unlock."""
    unlock = json.loads(row.payload)
    key = idempotency_key(
        sandbox=unlock["sandbox"],
        xuid=unlock["xuid"],
        scid=unlock["serviceConfigId"],
        achievement_id=unlock["achievementId"],
        unlock_time=unlock["unlockTime"],
    )
    title = await describe(row.sandbox, row.title_id, int(unlock["configVersion"]))
    achievement = None if title is None else title.achievement(unlock["achievementId"])
    data = {
        "sandbox": unlock["sandbox"],
        "xuid": unlock["xuid"],
        "titleId": unlock["titleId"],
        "serviceConfigId": unlock["serviceConfigId"],
        "achievementId": unlock["achievementId"],
        "achievementName": None if achievement is None else achievement.name,
        "achievementDescription": None if achievement is None else achievement.description,
        "gamerscore": None if achievement is None else achievement.gamerscore,
        "unlockTime": unlock["unlockTime"],
    }
    body = {
        "id": key,
        "type": outbox.UNLOCKED,
        "createdAt": format_time(from_micros(row.created_at)),
        "data": data,
    }
    return key, json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _pending(event_id: int, endpoint_id: str, key: str, payload: str, now_us: int) -> Any:
    return {
        "endpoint_id": endpoint_id,
        "event_id": event_id,
        "idempotency_key": key,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now_us,
        "created_at": now_us,
    }


def _insert_new(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(webhook_deliveries)
        .on_conflict_do_nothing(index_elements=["endpoint_id", "idempotency_key"])
        .returning(webhook_deliveries.c.id)
    )


async def has_due(conn: AsyncConnection, *, now_us: int) -> bool:
    """Whether a pending delivery is due (the due index answers)."""
    query = select(
        exists().where(
            webhook_deliveries.c.status == PENDING,
            webhook_deliveries.c.next_attempt_at <= now_us,
        )
    )
    return bool((await conn.execute(query)).scalar_one())


async def take_due(conn: AsyncConnection, *, now_us: int, lease_us: int, limit: int) -> list[Due]:
    """Take up to `limit` due deliveries of active endpoints, most overdue first,
    leasing each until `now_us + lease_us`."""
    lease_until = now_us + lease_us
    rows = (await conn.execute(_lease(now_us, lease_until, limit))).all()
    if not rows:
        return []
    endpoints = {
        row.id: row
        for row in await conn.execute(
            select(
                webhook_endpoints.c.id,
                webhook_endpoints.c.url,
                webhook_endpoints.c.secret,
                webhook_endpoints.c.sandbox,
            ).where(webhook_endpoints.c.id.in_(sorted({row.endpoint_id for row in rows})))
        )
    }
    return [_due(row, endpoints[row.endpoint_id], lease_until) for row in rows]


def _lease(now_us: int, lease_until: int, limit: int) -> Update:
    candidate = webhook_deliveries.alias("candidate")
    active = select(webhook_endpoints.c.id).where(webhook_endpoints.c.disabled_at.is_(None))
    due = (
        select(candidate.c.id)
        .where(
            candidate.c.status == PENDING,
            candidate.c.next_attempt_at <= now_us,
            candidate.c.endpoint_id.in_(active),
        )
        .order_by(candidate.c.next_attempt_at, candidate.c.id)
        .limit(limit)
        .with_for_update(of=candidate, skip_locked=True)
        .cte("leased")  # evaluated once (a subquery may be run again, LIMIT and all)
    )
    return (
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.id.in_(select(due.c.id)),
            webhook_deliveries.c.status == PENDING,
            webhook_deliveries.c.next_attempt_at <= now_us,
        )
        .values(next_attempt_at=lease_until)
        .returning(
            webhook_deliveries.c.id,
            webhook_deliveries.c.endpoint_id,
            webhook_deliveries.c.idempotency_key,
            webhook_deliveries.c.payload,
            webhook_deliveries.c.attempts,
            webhook_deliveries.c.created_at,
        )
    )


def _due(row: Any, endpoint: Any, lease_until: int) -> Due:
    return Due(
        id=row.id,
        endpoint_id=row.endpoint_id,
        url=endpoint.url,
        secret=endpoint.secret,
        sandbox=endpoint.sandbox,
        idempotency_key=row.idempotency_key,
        payload=row.payload,
        attempts=row.attempts,
        created_at_us=row.created_at,
        lease_until_us=lease_until,
    )


def _still_leased(due: Due) -> Any:
    return (
        (webhook_deliveries.c.id == due.id)
        & (webhook_deliveries.c.status == PENDING)
        & (webhook_deliveries.c.next_attempt_at == due.lease_until_us)
        & (webhook_deliveries.c.attempts == due.attempts)
    )


async def record_attempt(
    conn: AsyncConnection,
    *,
    due: Due,
    outcome: Outcome,
    now_us: int,
    retry: RetryPolicy,
    random: float,
) -> str | None:
    """Log the attempt and move the delivery on: delivered on a 2xx, otherwise
    retried later or, once older than the give-up period, failed. Returns the new
    status, or None (nothing written) if the lease was lost to another process."""
    attempt = due.attempts + 1
    changes: dict[str, Any] = {"attempts": attempt}
    if outcome.ok:
        changes.update(status=DELIVERED, delivered_at=now_us, last_error=None)
    else:
        later = retry.next_attempt_us(
            attempts=attempt, created_us=due.created_at_us, now_us=now_us, random=random
        )
        changes["last_error"] = outcome.describe()
        if later is None:
            changes["status"] = FAILED
        else:
            changes["next_attempt_at"] = later
    updated = await conn.execute(
        webhook_deliveries.update().where(_still_leased(due)).values(**changes)
    )
    if updated.rowcount == 0:
        return None
    await conn.execute(
        webhook_attempts.insert().values(
            delivery_id=due.id,
            attempt=attempt,
            started_at=outcome.started_at_us,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=outcome.error,
        )
    )
    return str(changes.get("status", PENDING))


async def release(conn: AsyncConnection, *, due: Due, now_us: int) -> None:
    """Give back the lease of an attempt that was interrupted (shutdown): the
    delivery is due again at once, and the attempt is not counted."""
    await conn.execute(
        webhook_deliveries.update()
        .where(_still_leased(due))
        .values(next_attempt_at=min(now_us, due.lease_until_us))
    )
