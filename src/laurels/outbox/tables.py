"""The outbox table and the kinds of row it holds."""

from sqlalchemy import BigInteger, Column, Index, String, Table, Text, text

from laurels.db import Micros, RowId, metadata

# What a row says, kept in its `event_type` column (the name the schema has had since
# migration 0001) and sent to webhooks as their `type`.
PROGRESS_CHANGED = "achievement.progress"
UNLOCKED = "achievement.unlocked"

# Rows written in the update transaction and delivered after commit: one
# PROGRESS_CHANGED row per accepted update and one UNLOCKED row per unlock. Readers
# follow it in commit order by (txid, id): on PostgreSQL `txid` is the writing
# transaction's id (a default of the column, see migration 0003), so a reader that
# only takes rows of transactions older than every running one never skips a row
# that commits late; SQLite commits one writer at a time, in id order.
# Both columns are 64-bit (migration 0004).
# `published_at` is set once an unlock has been handed to the webhooks (progress
# rows are written with it set).
outbox = Table(
    "outbox",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("event_type", String(32), nullable=False),
    Column("sandbox", String(64), nullable=False),
    Column("xuid", String(20), nullable=False),
    Column("scid", String(36), nullable=False),
    Column("title_id", BigInteger, nullable=False),
    Column("achievement_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("published_at", Micros, nullable=True),
    Column("txid", BigInteger, nullable=False, server_default="0"),
    Index("ix_outbox_player", "sandbox", "xuid", "id"),
    Index(
        "ix_outbox_unpublished",
        "id",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
)
