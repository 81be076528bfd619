"""event-based achievements: players' stats and applied event ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAYER = ("sandbox", "xuid", "scid")


def _player_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("sandbox", sa.String(length=64), nullable=False),
        sa.Column("xuid", sa.String(length=20), nullable=False),
        sa.Column("scid", sa.String(length=36), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "player_stats",
        *_player_columns(),
        sa.Column("stat", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*PLAYER, "stat", name="pk_player_stats"),
    )
    op.create_table(
        "applied_events",
        *_player_columns(),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*PLAYER, "event_id", name="pk_applied_events"),
    )
    op.create_index("ix_applied_events_created_at", "applied_events", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_applied_events_created_at", table_name="applied_events")
    op.drop_table("applied_events")
    op.drop_table("player_stats")
