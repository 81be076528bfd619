"""Delivery credentials: narrow, long-lived tokens with which a device delivers the
achievement updates it queued offline, days after the player's session token expired.

Threat model. A delivery credential is a JWT signed by the service's own Ed25519 key
(`typ: "delivery"`, its id as `jti`); a token claiming that type from a studio's login
server is refused, because only this service can list and revoke what it issued. The
service grants it one thing: `POST .../achievements/{scid}/update` for one player, one
title and one sandbox, never `serverOnly` achievements. It reads nothing (no list, no
single achievement, so it reveals neither progress nor secret achievements), resets
nothing and cannot mint further credentials. Whoever steals one can therefore at most
raise that player's progress in that title, as a cheat could with the game itself, and
only until it expires or is revoked; it does not reveal the player's session token or
any other player's data. The SDK keeps it on the device next to the queue it serves,
in the queue file created with mode 0600 (readable by the player's own OS account
only), so that updates queued while offline can be delivered by `laurels sync` after
the game and its session have gone.

A game that is offline from start to end has no credential yet: the SDK then keeps
the player's session token in the same 0600 file, with the updates it queued, and only
until a deliverer (`laurels sync`, or the game's next session) has exchanged it for a
credential here or it has expired; then it is erased. Only a token that says it is
that player's (`typ: "player"`, its `xuid`, this title and sandbox, an `exp`) is kept,
never a game server's or one the SDK cannot read, and none while the player has a
credential. For that window, whoever can read the player's files holds the session
token itself, which also reads that player's progress and mints a credential until
it expires (`laurels token --ttl`, 24 hours by default): no more than the game, run
by the same account, can do. A credential the service refuses (revoked, expired) is
erased from the file; its updates stay queued, and the player's next session (its
token, online or kept as above) gets a new one.
The studio revokes credentials one by one or per player and title (`laurels credentials
revoke`): every service process reloads the revoked ids every
`catalog_refresh_seconds` and then answers 401 to them, though a cached signature check
would still pass. Lifetime is `delivery_credential_days` (365 by default); a device
asks for a fresh one with a valid player token whenever it has one.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import and_, select, update

from laurels.auth.service import ISSUER, SigningKey
from laurels.auth.tables import delivery_credentials
from laurels.db import Database
from laurels.errors import Forbidden, NotFound, Unauthorized
from laurels.polling import Poller
from laurels.sqlasync import AsyncConnection
from laurels.titles import is_sandbox_name
from laurels.wire.identifiers import parse_xuid
from laurels.wire.principal import Principal
from laurels.wire.times import format_time, from_micros

log = logging.getLogger(__name__)
DELIVERY = "delivery"
DAY_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A credential just minted and stored; `credential` is the token itself."""

    credential: str
    id: str
    xuid: str
    title_id: int
    sandbox: str
    expires_at_us: int

    def as_json(self) -> dict[str, Any]:
        """The 201 body of `POST /users/xuid({xuid})/delivery-credentials`."""
        return {
            "credential": self.credential,
            "id": self.id,
            "xuid": self.xuid,
            "titleId": self.title_id,
            "sandbox": self.sandbox,
            "expiresAt": format_time(from_micros(self.expires_at_us)),
        }


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A credential as the database keeps it (never the token)."""

    id: str
    xuid: str
    title_id: int
    sandbox: str
    created_at_us: int
    expires_at_us: int
    revoked_at_us: int | None

    def state(self, now_us: int) -> str:
        """`revoked <time>`, `expired` or `active`."""
        if self.revoked_at_us is not None:
            return f"revoked {format_time(from_micros(self.revoked_at_us))}"
        return "expired" if self.expires_at_us <= now_us else "active"


def may_issue(principal: Principal, *, xuid: str) -> None:
    """Raise Forbidden unless `principal` may get a delivery credential for `xuid`:
    only a player token, for its own player."""
    if principal.kind == DELIVERY:
        raise Forbidden("a delivery credential cannot mint delivery credentials")
    if principal.kind != "player":
        raise Forbidden("a delivery credential is issued to a player token only")
    if principal.xuid != xuid:
        raise Forbidden("a player token may only get a delivery credential for its own player")


def mint_delivery_token(
    key: SigningKey,
    *,
    credential_id: str,
    xuid: str,
    title_id: int,
    sandbox: str,
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    """The signed token of a delivery credential. Raises ValueError for impossible
    arguments; does not store anything (see `issue_credential`)."""
    if not is_sandbox_name(sandbox):
        raise ValueError(f"{sandbox!r} is not a sandbox name (RETAIL or DEV.<name>)")
    if not 1 <= title_id <= 0xFFFFFFFF:
        raise ValueError("title id must be 1..4294967295")
    if ttl_seconds < 1:
        raise ValueError("ttl must be at least 1 second")
    if not credential_id:
        raise ValueError("a delivery credential needs an id")
    player = parse_xuid(xuid)
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "typ": DELIVERY,
        "jti": credential_id,
        "sub": player,
        "xuid": player,
        "tid": title_id,
        "sbx": sandbox,
    }
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


async def issue_credential(
    conn: AsyncConnection,
    key: SigningKey,
    *,
    xuid: str,
    title_id: int,
    sandbox: str,
    ttl_seconds: int,
    now: float | None = None,
) -> IssuedCredential:
    """Mint a delivery credential valid for `ttl_seconds` and store its row in the
    caller's write transaction. Raises ValueError for impossible arguments."""
    moment = time.time() if now is None else now
    credential_id = uuid.uuid4().hex
    player = parse_xuid(xuid)
    token = mint_delivery_token(
        key,
        credential_id=credential_id,
        xuid=player,
        title_id=title_id,
        sandbox=sandbox,
        ttl_seconds=ttl_seconds,
        now=moment,
    )
    expires_at_us = (int(moment) + ttl_seconds) * 1_000_000  # the token's own exp
    await conn.execute(
        delivery_credentials.insert().values(
            id=credential_id,
            sandbox=sandbox,
            title_id=title_id,
            xuid=player,
            created_at=int(moment * 1_000_000),
            expires_at=expires_at_us,
            revoked_at=None,
        )
    )
    return IssuedCredential(token, credential_id, player, title_id, sandbox, expires_at_us)


async def list_credentials(
    conn: AsyncConnection, *, title_id: int, sandbox: str, xuid: str | None = None
) -> list[StoredCredential]:
    """The title's credentials in the sandbox (one player's, with `xuid`), oldest first."""
    table = delivery_credentials
    where = [table.c.title_id == title_id, table.c.sandbox == sandbox]
    if xuid is not None:
        where.append(table.c.xuid == parse_xuid(xuid))
    rows = await conn.execute(
        select(table).where(and_(*where)).order_by(table.c.created_at, table.c.id)
    )
    return [
        StoredCredential(
            r.id, r.xuid, r.title_id, r.sandbox, r.created_at, r.expires_at, r.revoked_at
        )
        for r in rows
    ]


async def revoke_credential(conn: AsyncConnection, *, credential_id: str, now_us: int) -> bool:
    """Revoke one credential: True if revoked now, False if it was revoked already.
    Raises NotFound for an id that was never issued."""
    table = delivery_credentials
    done = await conn.execute(
        update(table)
        .where(table.c.id == credential_id, table.c.revoked_at.is_(None))
        .values(revoked_at=now_us)
    )
    if done.rowcount:
        return True
    found = await conn.execute(select(table.c.id).where(table.c.id == credential_id))
    if found.first() is None:
        raise NotFound(f"no delivery credential with id {credential_id!r}")
    return False


async def revoke_player_credentials(
    conn: AsyncConnection, *, xuid: str, title_id: int, sandbox: str, now_us: int
) -> int:
    """Revoke every active (unrevoked, unexpired) credential of the player for the
    title in the sandbox; returns how many."""
    if not is_sandbox_name(sandbox):
        raise ValueError(f"{sandbox!r} is not a sandbox name (RETAIL or DEV.<name>)")
    table = delivery_credentials
    done = await conn.execute(
        update(table)
        .where(
            table.c.sandbox == sandbox,
            table.c.xuid == parse_xuid(xuid),
            table.c.title_id == title_id,
            table.c.revoked_at.is_(None),
            table.c.expires_at > now_us,
        )
        .values(revoked_at=now_us)
    )
    return int(done.rowcount)


async def revoked_credential_ids(conn: AsyncConnection) -> frozenset[str]:
    """Every revoked credential's id."""
    # Cheap while revocations are few. A large fleet would want a bounded query
    # (revoked since the last check, and only those not yet expired).
    table = delivery_credentials
    rows = await conn.execute(select(table.c.id).where(table.c.revoked_at.is_not(None)))
    return frozenset(row.id for row in rows)


class RevocationList:
    """The revoked credential ids, held in memory and reloaded in the background every
    `refresh_seconds`, so that a revocation made by any process (the CLI) is refused
    here within that interval. Verified tokens are cached, so this is checked per
    request (`check`), for delivery credentials only."""

    def __init__(self, db: Database, *, refresh_seconds: float = 2.0) -> None:
        self._db = db
        self._refresh_seconds = refresh_seconds
        self._revoked: frozenset[str] = frozenset()
        # A failed refresh keeps refusing the ids known.
        self._poller = Poller(
            self.refresh,
            every_seconds=refresh_seconds,
            name="laurels-revocations",
            failure="could not refresh the revoked delivery credentials",
        )

    async def start(self) -> None:
        """Load the list once (raising if the database fails) and start polling."""
        await self.refresh()
        self._poller.start()

    async def close(self) -> None:
        """Stop polling; a refresh under way finishes first."""
        await self._poller.close()

    async def refresh(self) -> None:
        async with self._db.read() as conn:
            self._revoked = await revoked_credential_ids(conn)

    def is_revoked(self, credential_id: str | None) -> bool:
        return credential_id is not None and credential_id in self._revoked

    def check(self, principal: Principal) -> None:
        """Raise Unauthorized if `principal` is a revoked delivery credential."""
        if principal.kind == DELIVERY and self.is_revoked(principal.credential_id):
            raise Unauthorized("delivery credential revoked")
