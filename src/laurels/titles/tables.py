from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from laurels.db import Micros, metadata

titles = Table(
    "titles",
    metadata,
    Column("title_id", BigInteger, primary_key=True, autoincrement=False),
    Column("scid", String(36), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", Micros, nullable=False),
)

# The editable draft of a title's configuration, as a validated JSON document.
# `revision` counts its saves: a save based on an older revision is refused (the
# portal), never silently overwritten.
title_drafts = Table(
    "title_drafts",
    metadata,
    Column(
        "title_id", BigInteger, ForeignKey("titles.title_id"), primary_key=True, autoincrement=False
    ),
    Column("document", Text, nullable=False),
    Column("updated_at", Micros, nullable=False),
    Column("revision", Integer, nullable=False, server_default="1"),
)

# Published versions: immutable once written.
config_versions = Table(
    "config_versions",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column(
        "title_id", BigInteger, ForeignKey("titles.title_id"), primary_key=True, autoincrement=False
    ),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", Text, nullable=False),
    Column("published_at", Micros, nullable=False),
)

# Icons uploaded as PNG files, content-addressed; served at /media/{sha256}.png.
media = Table(
    "media",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("content_type", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Micros, nullable=False),
)
