"""Handing unlock rows over to the webhooks, once each.

An unlock row is written with `published_at` NULL; the webhooks take it by setting
it, in their own write transaction. A row is taken once: the update only takes rows
still NULL, and PostgreSQL skips rows another process holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from laurels.outbox.tables import UNLOCKED, outbox
from laurels.sqlasync import AsyncConnection

_waiting = (outbox.c.published_at.is_(None), outbox.c.event_type == UNLOCKED)


async def has_waiting_unlocks(conn: AsyncConnection) -> bool:
    """Whether any unlock waits for the webhooks (the partial index answers)."""
    query = select(outbox.c.id).where(*_waiting).limit(1)
    return (await conn.execute(query)).first() is not None


async def hand_over_unlocks(conn: AsyncConnection, *, now_us: int, limit: int) -> Sequence[Any]:
    """Mark up to `limit` waiting unlocks (oldest first) handed over at `now_us`, in
    the caller's write transaction, and return them as rows with `id`, `sandbox`,
    `title_id`, `payload` (JSON text) and `created_at`, in no particular order. If
    the transaction rolls back, they wait again."""
    candidate = outbox.alias("candidate")
    oldest = (
        select(candidate.c.id)
        .where(candidate.c.published_at.is_(None), candidate.c.event_type == UNLOCKED)
        .order_by(candidate.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("claimed")  # evaluated once (a subquery may be run again, LIMIT and all)
    )
    statement = (
        outbox.update()
        .where(outbox.c.id.in_(select(oldest.c.id)), *_waiting)
        .values(published_at=now_us)
        .returning(
            outbox.c.id,
            outbox.c.sandbox,
            outbox.c.title_id,
            outbox.c.payload,
            outbox.c.created_at,
        )
    )
    return (await conn.execute(statement)).all()
