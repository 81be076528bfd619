"""Everything one service process holds between requests, started and stopped
together by the app's lifespan (and by commands that need the same parts)."""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from laurels.activity.service import ActivityReader
from laurels.auth.credentials import RevocationList
from laurels.auth.service import (
    SigningKey,
    TokenVerifier,
    ensure_signing_key,
    load_signing_keys,
    load_trusted_keys,
)
from laurels.db import Database
from laurels.metrics import Metrics
from laurels.polling import Poller
from laurels.portal import accounts
from laurels.progress import service as progress
from laurels.progress.drivers import batch_store
from laurels.progress.events import EventIntake
from laurels.progress.maintenance import AppliedEventPruner
from laurels.progress.reads import Reader
from laurels.progress.service import Applied
from laurels.progress.updates import TimePolicy, Updater
from laurels.progress.writer import GroupCommitWriter
from laurels.ratelimit import RateLimiter, build_rate_limiter
from laurels.realtime.hub import Hub
from laurels.realtime.relay import OutboxRelay
from laurels.schema import upgrade
from laurels.settings import Settings
from laurels.titles import Catalog
from laurels.webhooks.dispatcher import WebhookDispatcher
from laurels.wire.times import now_micros

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    catalog: Catalog
    writer: GroupCommitWriter
    updater: Updater
    # Event-based titles' events (spec/events.md), through the same writer.
    events: EventIntake
    reader: Reader
    # The activity feed and title history (reads progress through its face).
    activity: ActivityReader
    verifier: TokenVerifier
    rate_limiter: RateLimiter
    # The newest signing key (delivery credentials are minted with it).
    signing_key: SigningKey
    revocations: RevocationList
    # Signs continuation tokens (the activity feed and title history).
    paging_key: bytes
    metrics: Metrics
    hub: Hub
    relay: OutboxRelay
    webhooks: WebhookDispatcher
    # Closes every component above, in the reverse order of their start.
    closing: AsyncExitStack = field(repr=False)

    async def close(self) -> None:
        """Stop every component in the reverse order of their start: the rate limiter
        first, the database last. An exception from one close is raised after the
        others have run (AsyncExitStack)."""
        await self.closing.aclose()


class _Component(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


C = TypeVar("C", bound=_Component)


async def _started(stack: AsyncExitStack, component: C) -> C:
    """Start `component`, its close registered first: a start that fails half-way is
    closed too (each close is safe on a component that never started)."""
    stack.push_async_callback(component.close)
    await component.start()
    return component


async def start_runtime(settings: Settings) -> Runtime:
    """Open the database (creating or upgrading its schema), load the published
    configuration and the keys, and start the writer, the relay, the webhook
    dispatcher and the revocation list. When any step fails, what already started is
    closed in the reverse order (tasks cancelled, the database disposed) before the
    step's exception propagates."""
    async with AsyncExitStack() as stack:
        db = Database(settings.database_url, pool_size=settings.pool_size)
        stack.push_async_callback(db.dispose)
        runtime = await _start_components(stack, db, settings)
        # Started: the closes move to the runtime, and leaving the block closes nothing.
        runtime.closing = stack.pop_all()
        return runtime


async def _start_components(stack: AsyncExitStack, db: Database, settings: Settings) -> Runtime:
    """Everything after the database, each close pushed onto `stack` as it starts."""
    await upgrade(db)
    key = await ensure_signing_key(db)
    async with db.read() as conn:
        own_keys = await load_signing_keys(conn)  # every stored key stays valid
    catalog = await _started(stack, Catalog(db, refresh_seconds=settings.catalog_refresh_seconds))
    writer = await _started(
        stack,
        GroupCommitWriter(
            batch_store(db),
            max_batch=settings.max_batch,
            committers=1 if db.is_sqlite else settings.writer_committers,
        ),
    )
    metrics, hub = Metrics(), Hub()
    stack.push_async_callback(hub.close)
    metrics.sockets.set_function(lambda: len(hub))
    relay = OutboxRelay(
        db,
        catalog,
        hub,
        poll_seconds=settings.event_poll_seconds,
        progress_retention_seconds=settings.progress_event_retention_seconds,
        unlock_retention_seconds=settings.event_retention_seconds,
        on_relayed=metrics.relayed,
    )
    if settings.fault_exit_after_unlock_commit:
        writer.on_commit(_exit_after_unlock)
    writer.on_commit(metrics.committed)
    writer.on_commit(relay.wake)
    await _started(stack, relay)
    webhooks = await _started(stack, WebhookDispatcher.from_settings(db, catalog, settings))
    writer.on_commit(lambda applied: webhooks.wake() if applied.unlocks else None)
    _count_webhooks(metrics, webhooks)
    revocations = await _started(
        stack, RevocationList(db, refresh_seconds=settings.catalog_refresh_seconds)
    )
    verifier = _token_verifier(settings, own_keys)
    rate_limiter = build_rate_limiter(settings)
    stack.push_async_callback(rate_limiter.close)
    paging_key = hashlib.sha256(b"laurels-paging:" + key.private_key.private_bytes_raw()).digest()
    time_policy = TimePolicy(
        skew_us=settings.time_achieved_skew_seconds * 1_000_000,
        window_us=settings.time_achieved_window_seconds * 1_000_000,
    )
    await _started(
        stack, AppliedEventPruner(db, keep_us=time_policy.window_us + time_policy.skew_us)
    )
    await _started(stack, _PortalSweeper(db))
    return Runtime(
        settings=settings,
        db=db,
        catalog=catalog,
        writer=writer,
        updater=Updater(
            catalog, writer, max_items=settings.max_achievements_per_update, time_policy=time_policy
        ),
        events=EventIntake(catalog, writer, time_policy=time_policy),
        reader=Reader(db, catalog, paging_key),
        activity=ActivityReader(db, catalog, paging_key, progress=progress),
        paging_key=paging_key,
        metrics=metrics,
        hub=hub,
        relay=relay,
        webhooks=webhooks,
        verifier=verifier,
        rate_limiter=rate_limiter,
        signing_key=key,
        revocations=revocations,
        closing=stack,
    )


class _PortalSweeper:
    """Forgets the portal's expired sessions and old sign-in failures, hourly."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._poller = Poller(
            self._sweep,
            every_seconds=3600.0,
            name="laurels-portal-sweeper",
            failure="could not forget the portal's expired sessions",
        )

    async def _sweep(self) -> None:
        await self._db.run_write(lambda conn: accounts.forget_stale(conn, now_us=now_micros()))

    async def start(self) -> None:
        self._poller.start()

    async def close(self) -> None:
        await self._poller.close()


def _count_webhooks(metrics: Metrics, webhooks: WebhookDispatcher) -> None:
    metrics.read_counter(
        "laurels_webhook_failures",
        "Webhook delivery attempts that failed in this process.",
        lambda: webhooks.failures,
    )
    metrics.read_counter(
        "laurels_webhook_deliveries",
        "Webhook deliveries this process completed.",
        lambda: webhooks.delivered,
    )


def _token_verifier(settings: Settings, own_keys: list[SigningKey]) -> TokenVerifier:
    """Raises ConfigurationError when LAURELS_TRUSTED_KEYS_FILE cannot be used."""
    trusted = load_trusted_keys(settings.trusted_keys_file) if settings.trusted_keys_file else None
    return TokenVerifier(
        own_keys,
        trusted_keys=trusted,
        trusted_issuer=settings.trusted_issuer,
        trusted_audience=settings.trusted_audience,
        leeway_seconds=settings.token_leeway_seconds,
    )


def _exit_after_unlock(applied: Applied) -> None:
    """Fault injection (crash tests): die after an unlock's commit, before any
    event of it is relayed or any request answered."""
    if applied.unlocks:
        log.critical("fault injection: exiting after an unlock was committed")
        os._exit(70)
