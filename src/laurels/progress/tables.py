"""Player tables are keyed by (sandbox, xuid, ...) first, so they can be distributed
by player without a change of schema."""

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from laurels.db import Micros, RowId, metadata

# A max-register per (sandbox, xuid, scid, achievement).
progress = Table(
    "progress",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("xuid", String(20), primary_key=True),
    Column("scid", String(36), primary_key=True),
    Column("achievement_id", String(64), primary_key=True),
    Column("percent", SmallInteger, nullable=False),
    Column("time_unlocked", Micros, nullable=True),
    Column("updated_at", Micros, nullable=False),
)

# Which players a title has in a sandbox (the denominator of rarity).
title_players = Table(
    "title_players",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("xuid", String(20), primary_key=True),
    Column("scid", String(36), primary_key=True),
    Column("first_seen", Micros, nullable=False),
)

# Counters kept in the unlock transaction, so rarity needs no scan.
title_stats = Table(
    "title_stats",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("scid", String(36), primary_key=True),
    Column("player_count", Integer, nullable=False),
)

achievement_stats = Table(
    "achievement_stats",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("scid", String(36), primary_key=True),
    Column("achievement_id", String(64), primary_key=True),
    Column("unlock_count", Integer, nullable=False),
)

# One row per unlock, ever: the unique key makes a second one impossible. Like the
# outbox, `txid` is the writing transaction's id on PostgreSQL (0 on SQLite), so a
# feed walk can take only rows of settled transactions, in (txid, id) order.
activity = Table(
    "activity",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("sandbox", String(64), nullable=False),
    Column("xuid", String(20), nullable=False),
    Column("scid", String(36), nullable=False),
    Column("title_id", BigInteger, nullable=False),
    Column("achievement_id", String(64), nullable=False),
    Column("time_unlocked", Micros, nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("txid", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("sandbox", "xuid", "scid", "achievement_id"),
    Index(None, "sandbox", "xuid", "txid", "id"),
)

# Events written in the update transaction and delivered after commit: one
# "achievement.progress" row per accepted update and one "achievement.unlocked" row
# per unlock. Readers follow it in commit order by (txid, id): on PostgreSQL `txid`
# is the writing transaction's id (a default of the column, see migration 0003), so
# a reader that only takes rows of transactions older than every running one never
# skips a row that commits late; SQLite commits one writer at a time, in id order.
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

PROGRESS_EVENT = "achievement.progress"
UNLOCK_EVENT = "achievement.unlocked"
