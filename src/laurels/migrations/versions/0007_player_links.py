"""the player page: links already exchanged for a session

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "player_links",
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("xuid", sa.String(length=20), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_player_links"),
    )
    op.create_index("ix_player_links_expires_at", "player_links", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_player_links_expires_at", table_name="player_links")
    op.drop_table("player_links")
