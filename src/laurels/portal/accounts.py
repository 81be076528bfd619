"""People who use the portal: accounts and roles, passwords (argon2id), server-side
sessions, the sign-in throttle and the audit log. Each function takes a connection
and raises LaurelsErrors; none does HTTP.

Roles are ordered: a viewer reads; an editor also changes drafts; a publisher also
publishes and resets test players; an admin also manages people, credentials and
webhooks.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update

from laurels.errors import BadRequest, Conflict, LaurelsError, NotFound
from laurels.portal.tables import (
    audit_log,
    portal_sessions,
    portal_signin_failures,
    portal_users,
)
from laurels.sqlasync import AsyncConnection

ROLES = ("viewer", "editor", "publisher", "admin")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
# Sign-in throttle: so many failures in the window lock the account (or the address)
# until the window ends. An address serves many people (an office's NAT): higher.
WINDOW_US = 15 * 60 * 1_000_000
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 20
_hasher = PasswordHasher()  # argon2id, the library's (RFC 9106) parameters
# Verified against when the email is unknown, so both cases cost the same.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class SignInRefused(LaurelsError):
    status = 401
    code = 4010


class SignInThrottled(LaurelsError):
    """Too many failed sign-ins for the account or the address."""

    status = 429
    code = 4290

    def __init__(self, description: str, retry_after_seconds: int) -> None:
        super().__init__(description)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: str

    def can(self, role: str) -> bool:
        """Whether this person has `role` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in person: their account and the session's form token."""

    user: User
    session_id: str
    csrf: str


def normalize_email(email: str) -> str:
    """The email as stored (trimmed, lower-cased); BadRequest when it is not one."""
    value = email.strip().lower()
    if not EMAIL.fullmatch(value):
        raise BadRequest(f"{email!r} is not an email address")
    return value


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def _user(row: object) -> User:
    return User(row.id, row.email, row.role)  # type: ignore[attr-defined]


async def add_user(
    conn: AsyncConnection, *, email: str, password: str, role: str, now_us: int
) -> User:
    """A new account; Conflict when the email has one."""
    email, role = normalize_email(email), check_role(role)
    check_password(password)
    if await _find(conn, email) is not None:
        raise Conflict(f"{email} already has an account")
    user = User(str(uuid.uuid4()), email, role)
    await conn.execute(
        portal_users.insert().values(
            id=user.id,
            email=email,
            password_hash=_hasher.hash(password),
            role=role,
            created_at=now_us,
            updated_at=now_us,
        )
    )
    return user


async def _find(conn: AsyncConnection, email: str) -> object | None:
    return (
        await conn.execute(select(portal_users).where(portal_users.c.email == email))
    ).one_or_none()


async def get_user(conn: AsyncConnection, *, email: str) -> User:
    row = await _find(conn, normalize_email(email))
    if row is None:
        raise NotFound(f"no account {email}")
    return _user(row)


async def list_users(conn: AsyncConnection) -> list[User]:
    rows = await conn.execute(select(portal_users).order_by(portal_users.c.email))
    return [_user(row) for row in rows]


async def _admins(conn: AsyncConnection) -> int:
    query = select(func.count()).select_from(portal_users).where(portal_users.c.role == "admin")
    return int((await conn.execute(query)).scalar_one())


async def set_role(conn: AsyncConnection, *, email: str, role: str, now_us: int) -> User:
    """Change a person's role; the last admin cannot be demoted."""
    user, role = await get_user(conn, email=email), check_role(role)
    if user.role == "admin" and role != "admin" and await _admins(conn) == 1:
        raise Conflict(f"{user.email} is the last admin; make another admin first")
    await conn.execute(
        update(portal_users)
        .where(portal_users.c.id == user.id)
        .values(role=role, updated_at=now_us)
    )
    return User(user.id, user.email, role)


async def remove_user(conn: AsyncConnection, *, email: str) -> User:
    """Delete an account and its sessions; the last admin cannot be removed."""
    user = await get_user(conn, email=email)
    if user.role == "admin" and await _admins(conn) == 1:
        raise Conflict(f"{user.email} is the last admin; make another admin first")
    await conn.execute(delete(portal_sessions).where(portal_sessions.c.user_id == user.id))
    await conn.execute(delete(portal_users).where(portal_users.c.id == user.id))
    return user


async def set_password(conn: AsyncConnection, *, email: str, password: str, now_us: int) -> None:
    """A new password; every session of the person is closed."""
    user = await get_user(conn, email=email)
    await conn.execute(
        update(portal_users)
        .where(portal_users.c.id == user.id)
        .values(password_hash=_hasher.hash(check_password(password)), updated_at=now_us)
    )
    await conn.execute(delete(portal_sessions).where(portal_sessions.c.user_id == user.id))


# --- signing in ---------------------------------------------------------------------


def _throttle_keys(email: str, address: str) -> list[tuple[str, int]]:
    return [(f"account:{email}", ACCOUNT_FAILURES), (f"address:{address}", ADDRESS_FAILURES)]


async def _locked_for(conn: AsyncConnection, keys: Sequence[str], now_us: int) -> int:
    """Seconds until every key in `keys` may try again (0: now)."""
    rows = await conn.execute(
        select(portal_signin_failures.c.locked_until).where(portal_signin_failures.c.key.in_(keys))
    )
    until = max((r.locked_until or 0 for r in rows), default=0)
    return max(0, -(-(until - now_us) // 1_000_000))


async def _count_failure(conn: AsyncConnection, key: str, limit: int, now_us: int) -> None:
    row = (
        await conn.execute(
            select(portal_signin_failures).where(portal_signin_failures.c.key == key)
        )
    ).one_or_none()
    if row is None or row.first_at <= now_us - WINDOW_US:
        await conn.execute(
            delete(portal_signin_failures).where(portal_signin_failures.c.key == key)
        )
        await conn.execute(
            portal_signin_failures.insert().values(
                key=key, failures=1, first_at=now_us, locked_until=None
            )
        )
        return
    failures = row.failures + 1
    locked = row.first_at + WINDOW_US if failures >= limit else None
    await conn.execute(
        update(portal_signin_failures)
        .where(portal_signin_failures.c.key == key)
        .values(failures=failures, locked_until=locked)
    )


async def check_throttle(conn: AsyncConnection, *, email: str, address: str, now_us: int) -> None:
    """SignInThrottled when the account or the address is locked out."""
    keys = [key for key, _ in _throttle_keys(email.strip().lower(), address)]
    wait = await _locked_for(conn, keys, now_us)
    if wait:
        minutes = -(-wait // 60)
        raise SignInThrottled(
            f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes != 1)}.",
            wait,
        )


async def count_failure(conn: AsyncConnection, *, email: str, address: str, now_us: int) -> None:
    """Count a failed sign-in against the account and the address."""
    for key, limit in _throttle_keys(email.strip().lower(), address):
        await _count_failure(conn, key, limit, now_us)


async def authenticate(conn: AsyncConnection, *, email: str, password: str, now_us: int) -> User:
    """The account when the password is right; SignInRefused otherwise (the same
    answer, and about the same time, for an unknown email). The caller checks and
    counts the throttle (`check_throttle`, `count_failure`) in its own transactions:
    a failure must be counted even though the sign-in is refused."""
    try:
        wanted = normalize_email(email)
    except BadRequest:
        wanted = ""
    row = await _find(conn, wanted) if wanted else None
    stored = row.password_hash if row is not None else _DUMMY_HASH  # type: ignore[attr-defined]
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        raise SignInRefused("The email or password is not right.") from None
    if row is None:
        raise SignInRefused("The email or password is not right.")
    user = _user(row)
    if _hasher.check_needs_rehash(stored):
        await conn.execute(
            update(portal_users)
            .where(portal_users.c.id == user.id)
            .values(password_hash=_hasher.hash(password), updated_at=now_us)
        )
    await conn.execute(
        delete(portal_signin_failures).where(portal_signin_failures.c.key == f"account:{wanted}")
    )
    return user


# --- sessions -------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(
    conn: AsyncConnection, *, user: User, now_us: int, lifetime_us: int
) -> tuple[str, Session]:
    """A new session: (the cookie's token, the session). Only the token's digest is
    stored."""
    token = secrets.token_urlsafe(32)
    session = Session(user, _digest(token), secrets.token_urlsafe(32))
    await conn.execute(
        portal_sessions.insert().values(
            id=session.session_id,
            user_id=user.id,
            csrf=session.csrf,
            created_at=now_us,
            expires_at=now_us + lifetime_us,
            last_seen_at=now_us,
        )
    )
    return token, session


async def find_session(conn: AsyncConnection, *, token: str, now_us: int) -> Session | None:
    """The session the cookie's token opens; None when unknown or expired."""
    row = (
        await conn.execute(
            select(
                portal_sessions.c.id,
                portal_sessions.c.csrf,
                portal_sessions.c.expires_at,
                portal_users.c.id.label("user_id"),
                portal_users.c.email,
                portal_users.c.role,
            )
            .join(portal_users, portal_users.c.id == portal_sessions.c.user_id)
            .where(portal_sessions.c.id == _digest(token))
        )
    ).one_or_none()
    if row is None or row.expires_at <= now_us:
        return None
    return Session(User(row.user_id, row.email, row.role), row.id, row.csrf)


async def close_session(conn: AsyncConnection, *, session_id: str) -> None:
    await conn.execute(delete(portal_sessions).where(portal_sessions.c.id == session_id))


async def forget_stale(conn: AsyncConnection, *, now_us: int) -> int:
    """Delete expired sessions and sign-in failures whose window has passed; returns
    how many rows went."""
    expired = await conn.execute(
        delete(portal_sessions).where(portal_sessions.c.expires_at <= now_us)
    )
    stale = await conn.execute(
        delete(portal_signin_failures).where(
            portal_signin_failures.c.first_at <= now_us - WINDOW_US,
            (portal_signin_failures.c.locked_until.is_(None))
            | (portal_signin_failures.c.locked_until <= now_us),
        )
    )
    return int(expired.rowcount) + int(stale.rowcount)


# --- the audit log --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: int  # microseconds
    actor: str
    action: str
    target: str
    detail: str


async def record(
    conn: AsyncConnection, *, actor: str, action: str, target: str, detail: str = "", now_us: int
) -> None:
    """Write who did what to what, in the caller's transaction (so an entry exists
    exactly when the change was committed)."""
    await conn.execute(
        audit_log.insert().values(
            at=now_us, actor=actor, action=action, target=target[:300], detail=detail
        )
    )


async def read_audit(
    conn: AsyncConnection, *, limit: int = 100, before_id: int | None = None
) -> list[AuditEntry]:
    """The newest entries first (those older than `before_id` when given)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    rows = await conn.execute(query)
    return [AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.detail) for r in rows]
