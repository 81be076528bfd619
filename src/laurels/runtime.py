"""Everything one service process holds between requests, started and stopped
together by the app's lifespan (and by commands that need the same parts)."""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

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
from laurels.progress.batch import batch_store
from laurels.progress.reads import Reader
from laurels.progress.service import Applied
from laurels.progress.updates import TimePolicy, Updater
from laurels.progress.writer import GroupCommitWriter
from laurels.ratelimit import RateLimiter, build_rate_limiter
from laurels.realtime.hub import Hub
from laurels.realtime.relay import OutboxRelay
from laurels.schema import upgrade
from laurels.settings import Settings
from laurels.titles.catalog import Catalog
from laurels.webhooks.dispatcher import WebhookDispatcher

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    catalog: Catalog
    writer: GroupCommitWriter
    updater: Updater
    reader: Reader
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

    async def close(self) -> None:
        await self.webhooks.close()
        await self.hub.close()
        await self.relay.close()
        await self.revocations.close()
        await self.writer.close()
        await self.catalog.close()
        await self.rate_limiter.close()
        await self.db.dispose()


async def start_runtime(settings: Settings) -> Runtime:
    """Open the database (creating or upgrading its schema), load the published
    configuration and the keys, and start the writer."""
    db = Database(settings.database_url, pool_size=settings.pool_size)
    await upgrade(db)
    key = await ensure_signing_key(db)
    async with db.read() as conn:
        own_keys = await load_signing_keys(conn)  # every stored key stays valid
    catalog = Catalog(db, refresh_seconds=settings.catalog_refresh_seconds)
    await catalog.start()
    writer = GroupCommitWriter(
        batch_store(db), max_batch=settings.max_batch, committers=1 if db.is_sqlite else 2
    )
    await writer.start()
    metrics, hub = Metrics(), Hub()
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
    await relay.start()
    webhooks = WebhookDispatcher.from_settings(db, catalog, settings)
    await webhooks.start()
    writer.on_commit(lambda applied: webhooks.wake() if applied.unlocks else None)
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
    revocations = RevocationList(db, refresh_seconds=settings.catalog_refresh_seconds)
    await revocations.start()
    trusted = load_trusted_keys(settings.trusted_keys_file) if settings.trusted_keys_file else None
    verifier = TokenVerifier(
        own_keys,
        trusted_keys=trusted,
        trusted_issuer=settings.trusted_issuer,
        trusted_audience=settings.trusted_audience,
        leeway_seconds=settings.token_leeway_seconds,
    )
    paging_key = hashlib.sha256(b"laurels-paging:" + key.private_key.private_bytes_raw()).digest()
    time_policy = TimePolicy(
        skew_us=settings.time_achieved_skew_seconds * 1_000_000,
        window_us=settings.time_achieved_window_seconds * 1_000_000,
    )
    return Runtime(
        settings=settings,
        db=db,
        catalog=catalog,
        writer=writer,
        updater=Updater(
            catalog, writer, max_items=settings.max_achievements_per_update, time_policy=time_policy
        ),
        reader=Reader(db, catalog, paging_key),
        paging_key=paging_key,
        metrics=metrics,
        hub=hub,
        relay=relay,
        webhooks=webhooks,
        verifier=verifier,
        rate_limiter=build_rate_limiter(settings),
        signing_key=key,
        revocations=revocations,
    )


def _exit_after_unlock(applied: Applied) -> None:
    """Fault injection (crash tests): die after an unlock's commit, before any
    event of it is relayed or any request answered."""
    if applied.unlocks:
        log.critical("fault injection: exiting after an unlock was committed")
        os._exit(70)
