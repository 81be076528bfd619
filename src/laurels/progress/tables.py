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
    UniqueConstraint,
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
# outbox (`laurels.outbox`), `txid` is the writing transaction's id on PostgreSQL
# (0 on SQLite), so a feed walk can take only rows of settled transactions, in
# (txid, id) order.
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
