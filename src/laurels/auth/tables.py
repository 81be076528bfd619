from sqlalchemy import Column, String, Table, Text

from laurels.db import Micros, metadata

# The service's own signing keys (Ed25519), generated once and kept with the database.
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", Micros, nullable=False),
)
