"""events in commit order, and webhooks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL: every outbox row records its transaction's id, and every transaction
# that writes outbox rows wakes the listening service processes when it commits
# (NOTIFY is delivered at commit, and only if the transaction commits).
PG_TXID_DEFAULT = "(pg_current_xact_id()::text)::bigint"
PG_NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION laurels_outbox_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('laurels_outbox', pg_current_xact_id()::text);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
PG_NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
FOR EACH STATEMENT EXECUTE FUNCTION laurels_outbox_notify()
"""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "txid",
                sa.BigInteger(),
                nullable=False,
                server_default=sa.text(PG_TXID_DEFAULT) if postgres else sa.text("0"),
            )
        )
        batch_op.create_index("ix_outbox_player", ["sandbox", "xuid", "id"], unique=False)
        batch_op.create_index(
            "ix_outbox_unpublished",
            ["id"],
            unique=False,
            postgresql_where=sa.text("published_at IS NULL"),
            sqlite_where=sa.text("published_at IS NULL"),
        )
    if postgres:  # readers follow (txid, id); SQLite's txid is always 0 (id order)
        op.create_index("ix_outbox_order", "outbox", ["txid", "id"])
        op.execute(PG_NOTIFY_FUNCTION)
        op.execute(PG_NOTIFY_TRIGGER)
    # Unlocks stored before this revision have been neither relayed nor handed to
    # webhooks (there were none): mark them so no endpoint gets old history.
    op.execute("UPDATE outbox SET published_at = created_at WHERE published_at IS NULL")
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("title_id", sa.BigInteger(), nullable=False),
        sa.Column("sandbox", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("description", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index("ix_webhook_endpoints_title", "webhook_endpoints", ["title_id", "sandbox"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id",
            "idempotency_key",
            name=op.f("uq_webhook_deliveries_endpoint_id_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "attempt"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute("DROP FUNCTION IF EXISTS laurels_outbox_notify()")
        op.drop_index("ix_outbox_order", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unpublished")
        batch_op.drop_index("ix_outbox_player")
        batch_op.drop_column("txid")
