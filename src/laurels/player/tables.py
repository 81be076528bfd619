"""The player page's table: the links already exchanged for a session (a link
works once)."""

from sqlalchemy import Column, Index, String, Table

from laurels.db import Micros, metadata

# One row per link used: its `jti` (unique, so a second use is refused), whose link it
# was, and when it expires (after which the row may be forgotten: the link would be
# refused as expired anyway).
player_links = Table(
    "player_links",
    metadata,
    Column("jti", String(255), primary_key=True),
    Column("xuid", String(20), nullable=False),
    Column("used_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Index("ix_player_links_expires_at", "expires_at"),
)
