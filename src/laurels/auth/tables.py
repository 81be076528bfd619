from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from laurels.db import Micros, metadata

# The service's own signing keys (Ed25519), generated once and kept with the database.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", Micros, nullable=False),
)

# Delivery credentials handed to devices (auth/credentials.py). The token itself is
# never stored: its `jti` is the id here, and revoking sets `revoked_at`.
delivery_credentials = Table(
    "delivery_credentials",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("sandbox", String(64), nullable=False),
    Column("title_id", BigInteger, nullable=False),
    Column("xuid", String(20), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Column("revoked_at", Micros, nullable=True),
    Index(None, "sandbox", "xuid"),
)
