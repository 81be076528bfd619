"""The activity feed's table: one row per unlock, ever."""

from sqlalchemy import BigInteger, Column, Index, String, Table, UniqueConstraint

from laurels.db import Micros, RowId, metadata

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
