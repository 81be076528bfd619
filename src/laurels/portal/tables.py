"""The portal's tables: people who sign in, their sessions, the sign-in throttle,
the audit log, and the test accounts of development sandboxes."""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from laurels.db import Micros, RowId, metadata

# People who use the portal; `email` is stored lower-cased, `password_hash` is argon2id.
portal_users = Table(
    "portal_users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
)

# Server-side sessions: the cookie holds a random token, the table its SHA-256 (a
# stolen table opens no session); `csrf` is the session's form token.
portal_sessions = Table(
    "portal_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "user_id",
        String(36),
        ForeignKey("portal_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Micros, nullable=False),
    Column("expires_at", Micros, nullable=False),
    Column("last_seen_at", Micros, nullable=False),
)

# Failed sign-ins per account ("account:<email>") and per address ("address:<ip>"),
# in the current window; a key past its limit is refused until `locked_until`.
portal_signin_failures = Table(
    "portal_signin_failures",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_at", Micros, nullable=False),
    Column("locked_until", Micros, nullable=True),
)

# Who changed, published, reset or revoked what, and when.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("at", Micros, nullable=False),
    Column("actor", String(254), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(300), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_log_at", "at"),
)

# A development sandbox's test players: an xuid and a name to recognise it by.
test_accounts = Table(
    "test_accounts",
    metadata,
    Column("sandbox", String(64), primary_key=True),
    Column("xuid", String(20), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("created_at", Micros, nullable=False),
)
