"""delivery credentials

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("sandbox", sa.String(length=64), nullable=False),
        sa.Column("title_id", sa.BigInteger(), nullable=False),
        sa.Column("xuid", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_credentials")),
    )
    with op.batch_alter_table("delivery_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delivery_credentials_sandbox_xuid"), ["sandbox", "xuid"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_credentials_sandbox_xuid"))
    op.drop_table("delivery_credentials")
