"""A studio's webhook endpoints, one delivery per (endpoint, unlock), and a log row
per attempt."""

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from laurels.db import Micros, RowId, metadata

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("title_id", BigInteger, nullable=False),
    Column("sandbox", String(64), nullable=False),
    Column("url", Text, nullable=False),
    # HMAC-SHA256 key; shown once when the endpoint is added.
    Column("secret", String(128), nullable=False),
    Column("description", String(200), nullable=False, server_default=""),
    Column("created_at", Micros, nullable=False),
    Column("disabled_at", Micros, nullable=True),
    Index("ix_webhook_endpoints_title", "title_id", "sandbox"),
    # One active endpoint per URL (stored in its canonical form) for a title and
    # sandbox: adding it again is refused by the database, not by a prior look.
    Index(
        "uq_webhook_endpoints_active_url",
        "title_id",
        "sandbox",
        "url",
        unique=True,
        postgresql_where=text("disabled_at IS NULL"),
        sqlite_where=text("disabled_at IS NULL"),
    ),
)

# status: "pending" (waiting for next_attempt_at), "delivered" or "failed" (gave up).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("endpoint_id", String(32), nullable=False),
    Column("event_id", RowId, nullable=False),  # the outbox row
    Column("idempotency_key", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Micros, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("delivered_at", Micros, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("endpoint_id", "idempotency_key"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("delivery_id", RowId, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", Micros, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),
)
