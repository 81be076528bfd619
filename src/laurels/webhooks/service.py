"""A studio's webhook endpoints and the log of what was sent to them.

An endpoint receives every unlock of one title in one sandbox. Its URL must be
http(s) with a host; in RETAIL the host must be public (see `policy.address_kind`),
which is checked here and again before every attempt. A title has at most one
active endpoint per URL in a sandbox (stored in one spelling, `canonical_url`).
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from laurels.errors import BadRequest, Conflict, NotFound
from laurels.sqlasync import AsyncConnection
from laurels.titles import is_sandbox_name
from laurels.titles import service as titles
from laurels.webhooks.addresses import Resolver, public_addresses, resolve_host
from laurels.webhooks.policy import (
    Target,
    UrlRefused,
    canonical_url,
    is_development,
    parse_url,
)
from laurels.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from laurels.webhooks.views import (
    FAILED,
    PENDING,
    STATUSES,
    Attempt,
    Delivery,
    Endpoint,
    NewEndpoint,
    Removal,
)
from laurels.wire.times import format_time, from_micros

SECRET_PREFIX = "whsec_"
MAX_DESCRIPTION = 200
MAX_LIST = 1000
REMOVED_ERROR = "the endpoint was removed"


async def check_endpoint_url(url: str, *, sandbox: str, resolve: Resolver = resolve_host) -> Target:
    """The parsed URL, if it may receive this sandbox's webhooks. Raises BadRequest
    when it is not an http(s) URL with a host, or when, in RETAIL, its host is (or
    resolves to) a non-public address or does not resolve."""
    try:
        target = parse_url(url)
        if not is_development(sandbox):
            await public_addresses(target, resolve=resolve)
    except UrlRefused as exc:
        raise BadRequest(f"webhook URL refused: {exc}") from None
    return target


async def add_endpoint(
    conn: AsyncConnection,
    *,
    title_id: int,
    sandbox: str,
    url: str,
    description: str = "",
    now_us: int,
    resolve: Resolver = resolve_host,
) -> NewEndpoint:
    """Store an endpoint for the title's unlocks in `sandbox` and return it with its
    new secret (shown this once). Raises BadRequest for a bad sandbox, description or
    URL (see `check_endpoint_url`) and NotFound when the title is not published in
    the sandbox; nothing is stored then."""
    if not is_sandbox_name(sandbox):
        raise BadRequest(f"{sandbox!r} is not a sandbox name (RETAIL or DEV.<name>)")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(f"the description must be at most {MAX_DESCRIPTION} characters")
    url = canonical_url_or_refuse(url)
    if (sandbox, title_id) not in await titles.latest_versions(conn):
        raise NotFound(f"title {title_id} is not published in {sandbox}; publish it first")
    await check_endpoint_url(url, sandbox=sandbox, resolve=resolve)
    endpoint = Endpoint(uuid.uuid4().hex, title_id, sandbox, url, description, now_us, None)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    await _insert_endpoint(conn, endpoint, secret)
    return NewEndpoint(endpoint, secret)


async def _insert_endpoint(conn: AsyncConnection, endpoint: Endpoint, secret: str) -> None:
    """Raises Conflict when the title already has an active endpoint with this URL
    in the sandbox (the database's unique index decides, so two concurrent adds
    cannot both pass)."""
    try:
        await conn.execute(
            webhook_endpoints.insert().values(
                id=endpoint.id,
                title_id=endpoint.title_id,
                sandbox=endpoint.sandbox,
                url=endpoint.url,
                secret=secret,
                description=endpoint.description,
                created_at=endpoint.created_at_us,
            )
        )
    except IntegrityError:
        raise Conflict(
            f"title {endpoint.title_id} already has an endpoint for {endpoint.url} in "
            f"{endpoint.sandbox}; see `laurels webhooks list`, remove it first to replace it"
        ) from None


def canonical_url_or_refuse(url: str) -> str:
    """The URL in the one spelling endpoints are stored in (`canonical_url`); raises
    BadRequest when it is not an http(s) URL with a host."""
    try:
        return canonical_url(url)
    except UrlRefused as exc:
        raise BadRequest(f"webhook URL refused: {exc}") from None


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        row.id,
        row.title_id,
        row.sandbox,
        row.url,
        row.description,
        row.created_at,
        row.disabled_at,
    )


_ENDPOINT_COLUMNS = [c for c in webhook_endpoints.columns if c.name != "secret"]


async def list_endpoints(
    conn: AsyncConnection, *, title_id: int | None = None, sandbox: str | None = None
) -> list[Endpoint]:
    """Endpoints, removed ones included, oldest first (secrets are never listed)."""
    query = select(*_ENDPOINT_COLUMNS).order_by(
        webhook_endpoints.c.created_at, webhook_endpoints.c.id
    )
    if title_id is not None:
        query = query.where(webhook_endpoints.c.title_id == title_id)
    if sandbox is not None:
        query = query.where(webhook_endpoints.c.sandbox == sandbox)
    return [_endpoint(row) for row in await conn.execute(query)]


async def get_endpoint(conn: AsyncConnection, *, endpoint_id: str) -> Endpoint:
    """One endpoint; raises NotFound when there is no such endpoint."""
    row = (
        await conn.execute(select(*_ENDPOINT_COLUMNS).where(webhook_endpoints.c.id == endpoint_id))
    ).first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return _endpoint(row)


async def remove_endpoint(conn: AsyncConnection, *, endpoint_id: str, now_us: int) -> Removal:
    """Disable an endpoint: nothing more is sent to it, and its pending deliveries
    are marked failed. Removing it again changes nothing. Raises NotFound when
    there is no such endpoint."""
    endpoint = await get_endpoint(conn, endpoint_id=endpoint_id)
    if not endpoint.active:
        return Removal(endpoint_id, already_removed=True, cancelled=0)
    await conn.execute(
        webhook_endpoints.update()
        .where(webhook_endpoints.c.id == endpoint_id)
        .values(disabled_at=now_us)
    )
    cancelled = await conn.execute(
        webhook_deliveries.update()
        .where(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.status == PENDING,
        )
        .values(status=FAILED, last_error=REMOVED_ERROR)
    )
    return Removal(endpoint_id, already_removed=False, cancelled=int(cancelled.rowcount))


async def list_deliveries(
    conn: AsyncConnection,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> list[Delivery]:
    """The newest deliveries, each with its attempts (oldest first). Raises
    BadRequest for an unknown status or a limit outside 1..1000."""
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    if not 1 <= limit <= MAX_LIST:
        raise BadRequest(f"limit must be 1..{MAX_LIST}")
    query = select(webhook_deliveries).order_by(webhook_deliveries.c.id.desc()).limit(limit)
    if endpoint_id is not None:
        query = query.where(webhook_deliveries.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    rows = (await conn.execute(query)).all()
    attempts = await _attempts(conn, [row.id for row in rows])
    return [_delivery(row, attempts.get(row.id, ())) for row in rows]


async def _attempts(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, tuple[Attempt, ...]]:
    if not ids:
        return {}
    rows = await conn.execute(
        select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(list(ids)))
        .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.attempt)
    )
    found: dict[int, list[Attempt]] = {}
    for row in rows:
        attempt = Attempt(row.attempt, row.started_at, row.duration_ms, row.status_code, row.error)
        found.setdefault(row.delivery_id, []).append(attempt)
    return {delivery_id: tuple(log) for delivery_id, log in found.items()}


def _delivery(row: Any, log: tuple[Attempt, ...]) -> Delivery:
    return Delivery(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        idempotency_key=row.idempotency_key,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at_us=row.next_attempt_at,
        created_at_us=row.created_at,
        delivered_at_us=row.delivered_at,
        last_error=row.last_error,
        log=log,
    )


async def count_pending(conn: AsyncConnection) -> int:
    """Deliveries still to be sent, by every process (one indexed count)."""
    query = select(func.count()).where(webhook_deliveries.c.status == PENDING)
    return int((await conn.execute(query)).scalar_one())


# --- sent from the portal: a test, and a failed delivery again ----------------------

TEST_EVENT = "laurels.test"


async def send_test(conn: AsyncConnection, *, endpoint_id: str, now_us: int) -> int:
    """Queue a test delivery to an active endpoint and return its id: a pending
    delivery of a `laurels.test` event, due now, that the dispatcher signs, sends,
    retries and logs exactly as it does an unlock's. Raises NotFound when there is no
    such endpoint and Conflict when it was removed (nothing queued then)."""
    endpoint = await get_endpoint(conn, endpoint_id=endpoint_id)
    if not endpoint.active:
        raise Conflict(f"webhook endpoint {endpoint_id!r} was removed; nothing is sent to it")
    key = uuid.uuid4().hex
    body = {
        "id": key,
        "type": TEST_EVENT,
        "createdAt": format_time(from_micros(now_us)),
        "data": {
            "sandbox": endpoint.sandbox,
            "titleId": endpoint.title_id,
            "endpointId": endpoint.id,
        },
    }
    inserted = await conn.execute(
        webhook_deliveries.insert()
        .values(
            endpoint_id=endpoint.id,
            event_id=0,  # no outbox row: nothing was unlocked
            idempotency_key=key,
            payload=json.dumps(body, separators=(",", ":"), ensure_ascii=False),
            status=PENDING,
            attempts=0,
            next_attempt_at=now_us,
            created_at=now_us,
        )
        .returning(webhook_deliveries.c.id)
    )
    return int(inserted.scalar_one())


async def get_delivery(conn: AsyncConnection, *, delivery_id: int) -> Delivery:
    """One delivery with its attempts; raises NotFound when there is no such delivery."""
    row = (
        await conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))
    ).first()
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    attempts = await _attempts(conn, [row.id])
    return _delivery(row, attempts.get(row.id, ()))


async def redeliver(conn: AsyncConnection, *, delivery_id: int, now_us: int) -> Delivery:
    """Make a failed delivery pending and due now, with the same body and idempotency
    key (a receiver that got it already can tell): the dispatcher then makes one more
    attempt, logged after the earlier ones, and retries it as the retry policy allows
    from the delivery's creation. Raises NotFound when there is no such delivery and
    Conflict when it is not failed or its endpoint was removed (nothing changed)."""
    delivery = await get_delivery(conn, delivery_id=delivery_id)
    endpoint = await get_endpoint(conn, endpoint_id=delivery.endpoint_id)
    if not endpoint.active:
        raise Conflict(f"webhook endpoint {endpoint.id!r} was removed; nothing is sent to it")
    done = await conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == FAILED)
        .values(status=PENDING, next_attempt_at=now_us)
    )
    if not done.rowcount:
        raise Conflict(f"webhook delivery {delivery_id} is {delivery.status}, not failed")
    return await get_delivery(conn, delivery_id=delivery_id)
