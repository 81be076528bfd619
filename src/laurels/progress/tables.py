"""Player tables are keyed by (sandbox, xuid, ...) first, so they can be distributed
by player without a change of schema."""

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    SmallInteger,
    String,
    Table,
)

from laurels.db import Micros, metadata

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

# An event-based title's stats, one row per player and stat once it has a value
# (spec/events.md); an unset stat has no row.
player_stats = Table(
    "player_stats",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("xuid", String(20), primary_key=True),
    Column("scid", String(36), primary_key=True),
    Column("stat", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
    Column("updated_at", Micros, nullable=False),
)

# The ids of the events applied per player and title: the unique key that makes a
# redelivered event a duplicate. Kept at least as long as the timeAchieved window
# (pruned by `created_at`).
applied_events = Table(
    "applied_events",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("xuid", String(20), primary_key=True),
    Column("scid", String(36), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("created_at", Micros, nullable=False, index=True),
)
