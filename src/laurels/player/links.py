"""Links that open the player page: minted, verified and exchanged once.

A link is `<base>/play/enter?link=<token>`; the token is a JWT with typ
"player-link", the player's claims (`xuid`/`sub`, `tid`, `sbx`), a `jti` and an
`exp`. Either the service signs it (`laurels player link`, with its own Ed25519 key)
or a studio's login server does, with a key of LAURELS_TRUSTED_KEYS_FILE (issuer
LAURELS_TRUSTED_ISSUER, audience LAURELS_TRUSTED_AUDIENCE when set) and an `exp` at
most 15 minutes after the moment it is used. Its `jti` is recorded when it is used:
a second use is refused. Every refusal is `LinkRefused`; the reason goes to the log.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError

from laurels.auth.service import (
    ISSUER,
    SigningKey,
    TrustedKey,
    check_times,
    mint_token,
    principal_of,
)
from laurels.db import Database
from laurels.errors import Unauthorized
from laurels.player.tables import player_links
from laurels.sqlasync import AsyncConnection

log = logging.getLogger(__name__)
LINK_TYPE = "player-link"
MAX_MINUTES = 24 * 60
# A studio's link may live this long at most (checked against its `exp`).
MAX_STUDIO_SECONDS = 15 * 60
SESSION_SECONDS = 12 * 3600
# A used link's row is kept a day past its expiry, then forgotten.
FORGET_AFTER_US = 86_400 * 1_000_000


class LinkRefused(Exception):
    """The link is forged, garbled, expired, already used or not a player's link."""


@dataclass(frozen=True, slots=True)
class Link:
    """A verified link: whose page it opens, and its single-use id and expiry."""

    xuid: str
    title_id: int
    sandbox: str
    jti: str
    expires_at: float


def mint_link(
    key: SigningKey,
    *,
    xuid: str,
    title_id: int,
    sandbox: str,
    minutes: int = 10,
    now: float | None = None,
) -> str:
    """A link token signed by the service. Raises ValueError for impossible
    arguments (a bad XUID, sandbox or title id; minutes outside 1..1440)."""
    if not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be between 1 and {MAX_MINUTES}")
    # mint_token checks the claims; the link's own are added to a copy of them.
    checked = mint_token(
        key, xuid=xuid, title_id=title_id, sandbox=sandbox, ttl_seconds=minutes * 60, now=now
    )
    claims = jwt.decode(checked, options={"verify_signature": False})
    claims.update(typ=LINK_TYPE, jti=uuid.uuid4().hex)
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/play/enter?link={token}"


@dataclass(frozen=True)
class LinkKeys:
    """What verifies a link: the service's own keys (kid → SigningKey) and a studio's
    (as in `auth.service.TokenVerifier`)."""

    own: Mapping[str, SigningKey]
    trusted: Mapping[str | None, TrustedKey]
    trusted_issuer: str | None = None
    trusted_audience: str | None = None
    leeway_seconds: float = 0.0


def _refused(reason: str) -> LinkRefused:
    log.info("player link refused: %s", reason[:200])
    return LinkRefused(reason)


def _key_for(keys: LinkKeys, header: Mapping[str, Any], issuer: object) -> tuple[bool, TrustedKey]:
    """(studio?, the key and its algorithms) for a link's header and issuer."""
    kid = header.get("kid")
    if issuer == ISSUER and isinstance(kid, str) and kid in keys.own:
        return False, TrustedKey(keys.own[kid].private_key.public_key(), ("EdDSA",))
    if not keys.trusted or issuer != keys.trusted_issuer:
        raise _refused("unknown issuer or key")
    found = (keys.trusted.get(kid) if isinstance(kid, str) else None) or keys.trusted.get(None)
    if found is None:
        raise _refused(f"unknown studio key {kid!r}")
    return True, found


def _claims(token: str, keys: LinkKeys) -> tuple[bool, dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(token)
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        studio, key = _key_for(keys, header, issuer)
        audience = keys.trusted_audience if studio else None
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=list(key.algorithms),
            issuer=str(issuer),
            audience=audience,
            options={
                "require": ["exp", "iss", "jti"] + (["aud"] if audience else []),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        raise _refused(str(exc)) from None
    return studio, claims


def verify_link(token: str, keys: LinkKeys, *, now: float | None = None) -> Link:
    """The link's player, title, sandbox and `jti`; raises LinkRefused when it is
    garbled, forged, from an untrusted issuer, not a "player-link", expired, not yet
    valid, or (a studio's) valid for more than 15 minutes from `now`."""
    moment = time.time() if now is None else now
    studio, claims = _claims(token, keys)
    jti = claims.get("jti")
    if claims.get("typ") != LINK_TYPE or not (isinstance(jti, str) and 0 < len(jti) <= 255):
        raise _refused("not a player link")
    try:
        principal = principal_of({**claims, "typ": "player"})
        check_times(claims, now=moment, leeway=keys.leeway_seconds)
    except Unauthorized as exc:
        raise _refused(exc.description) from None
    if studio and principal.expires_at - moment > MAX_STUDIO_SECONDS + keys.leeway_seconds:
        raise _refused("a studio's link valid for more than 15 minutes")
    assert principal.xuid is not None  # a player's claims always name one
    return Link(principal.xuid, principal.title_id, principal.sandbox, jti, principal.expires_at)


async def use_link(db: Database, link: Link, *, now: float | None = None) -> None:
    """Record that `link` was used (forgetting links expired long ago); raises
    LinkRefused when it was used before."""
    moment = time.time() if now is None else now
    now_us = int(moment * 1_000_000)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(
            delete(player_links).where(player_links.c.expires_at < now_us - FORGET_AFTER_US)
        )
        await conn.execute(
            insert(player_links).values(
                jti=link.jti,
                xuid=link.xuid,
                used_at=now_us,
                expires_at=int(link.expires_at * 1_000_000),
            )
        )

    try:
        await db.run_write(work)
    except IntegrityError:
        raise _refused(f"link {link.jti} used before") from None
