"""64-bit event ids, the feed in commit order, one endpoint per URL

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 10:00:00.000000

- PostgreSQL: the ids of the outbox, the activity, webhook deliveries and attempts,
  and the columns that refer to them, become BIGINT, and so do their sequences (a
  serial's sequence is `AS integer` and stops at 2^31 - 1 on its own). Changing a
  column's type rewrites the table under an exclusive lock: on a large outbox,
  upgrade in a quiet hour. SQLite's integers are 64-bit already.
- `activity.txid`: the writing transaction's id on PostgreSQL (0 on SQLite), so
  feed walks read in commit order, as the outbox readers do (see 0003). Rows
  stored before this revision get 0: they are all settled.
- `webhook_endpoints.url` is kept in one spelling (see `policy.canonical_url`) and
  an active URL is unique per title and sandbox. An older duplicate sent every
  unlock twice to one receiver: the oldest stays, the others are removed as
  `laurels webhooks remove` would.
"""

import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_TXID_DEFAULT = "(pg_current_xact_id()::text)::bigint"
SERIAL_IDS = ("outbox", "activity", "webhook_deliveries", "webhook_attempts")
REFERENCES = (("webhook_deliveries", "event_id"), ("webhook_attempts", "delivery_id"))
DUPLICATE_ERROR = "the endpoint was removed: a duplicate of endpoint {kept}"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _widen_ids(sa.BigInteger(), sa.Integer(), "bigint")
    _order_activity_by_commit(postgres)
    _one_endpoint_per_url()


def downgrade() -> None:
    """Back to 0003. Fails (and changes nothing) once an id is past 2^31 - 1 on
    PostgreSQL: such rows cannot be kept in the older schema."""
    op.drop_index("uq_webhook_endpoints_active_url", table_name="webhook_endpoints")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_sandbox_xuid_txid_id")
        batch_op.create_index("ix_activity_sandbox_xuid_id", ["sandbox", "xuid", "id"])
        batch_op.drop_column("txid")
    if op.get_bind().dialect.name == "postgresql":
        _widen_ids(sa.Integer(), sa.BigInteger(), "integer")


# --- 64-bit ids -----------------------------------------------------------------------


def _widen_ids(new: sa.types.TypeEngine[int], old: sa.types.TypeEngine[int], sql: str) -> None:
    bind = op.get_bind()
    for table in SERIAL_IDS:
        op.alter_column(table, "id", type_=new, existing_type=old, existing_nullable=False)
        sequence = bind.execute(
            sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
        ).scalar_one()
        # AS also moves a default MAXVALUE to the new type's bound.
        op.execute(f"ALTER SEQUENCE {sequence} AS {sql}")
    for table, column in REFERENCES:
        op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=False)


# --- the feed in commit order -------------------------------------------------------------


def _order_activity_by_commit(postgres: bool) -> None:
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("txid", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.drop_index("ix_activity_sandbox_xuid_id")
        batch_op.create_index("ix_activity_sandbox_xuid_txid_id", ["sandbox", "xuid", "txid", "id"])
    if postgres:  # rows written from now on carry their transaction's id
        op.execute(f"ALTER TABLE activity ALTER COLUMN txid SET DEFAULT {PG_TXID_DEFAULT}")


# --- one endpoint per URL -------------------------------------------------------------------

endpoints = sa.table(
    "webhook_endpoints",
    sa.column("id", sa.String()),
    sa.column("title_id", sa.BigInteger()),
    sa.column("sandbox", sa.String()),
    sa.column("url", sa.Text()),
    sa.column("created_at", sa.BigInteger()),
    sa.column("disabled_at", sa.BigInteger()),
)
deliveries = sa.table(
    "webhook_deliveries",
    sa.column("endpoint_id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("last_error", sa.Text()),
)


def canonical_url(url: str) -> str:
    """A frozen copy of `laurels.webhooks.policy.canonical_url` for stored URLs
    (which were checked when added)."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    default = 443 if scheme == "https" else 80
    netloc = f"[{host}]" if ":" in host else host
    if parts.port not in (None, default):
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _one_endpoint_per_url() -> None:
    bind = op.get_bind()
    active = bind.execute(
        sa.select(endpoints.c.id, endpoints.c.title_id, endpoints.c.sandbox, endpoints.c.url)
        .where(endpoints.c.disabled_at.is_(None))
        .order_by(endpoints.c.created_at, endpoints.c.id)
    ).all()
    kept: dict[tuple[int, str, str], str] = {}
    now_us = time.time_ns() // 1000
    for row in active:
        url = canonical_url(row.url)
        first = kept.setdefault((row.title_id, row.sandbox, url), row.id)
        if first != row.id:
            _remove_duplicate(row.id, first, now_us)
        elif url != row.url:
            bind.execute(endpoints.update().where(endpoints.c.id == row.id).values(url=url))
    op.create_index(
        "uq_webhook_endpoints_active_url",
        "webhook_endpoints",
        ["title_id", "sandbox", "url"],
        unique=True,
        postgresql_where=sa.text("disabled_at IS NULL"),
        sqlite_where=sa.text("disabled_at IS NULL"),
    )


def _remove_duplicate(endpoint_id: str, kept: str, now_us: int) -> None:
    bind = op.get_bind()
    bind.execute(endpoints.update().where(endpoints.c.id == endpoint_id).values(disabled_at=now_us))
    bind.execute(
        deliveries.update()
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending")
        .values(status="failed", last_error=DUPLICATE_ERROR.format(kept=kept))
    )
