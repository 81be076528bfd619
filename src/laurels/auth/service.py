"""Tokens and who may do what.

The service signs its own tokens with an Ed25519 key generated once and kept in the
database. It also accepts tokens from a studio's own login server, verified with the
public key or JWKS file named in the settings. Claims, either way:

    sub  the player's XUID, or "server" for a game-server credential
    xuid the player's XUID (player tokens)
    tid  the title id;  sbx  the sandbox;  typ  "player" or "server";  exp, iat, iss

A third kind, typ "delivery" with a `jti`, is a delivery credential (auth/credentials.py):
it is accepted only when signed by the service's own keys, never from a studio.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.auth.tables import signing_keys
from laurels.db import Database
from laurels.errors import ConfigurationError, Forbidden, Unauthorized
from laurels.progress.identifiers import parse_xuid
from laurels.titles.schemas import is_sandbox_name

ISSUER = "laurels"
TRUSTED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
MAX_TTL_SECONDS = 30 * 24 * 3600
KEY_LOCK = 0x1A0E16  # any constant: serializes the first key's creation on PostgreSQL


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    kind: Literal["player", "server", "delivery"]
    xuid: str | None
    title_id: int
    sandbox: str
    expires_at: float
    # The `jti` of a delivery credential (checked against the revocation list).
    credential_id: str | None = None

    def require_player_access(self, *, xuid: str, title_id: int, sandbox: str) -> None:
        """Raise Forbidden unless this token may write that player's progress (and,
        for player and server tokens, read it: see `progress.reads.may_read`). A
        delivery credential is held to its own player, title and sandbox like a player."""
        if sandbox != self.sandbox:
            raise Forbidden(f"the token is for sandbox {self.sandbox}, not {sandbox}")
        if title_id != self.title_id:
            raise Forbidden(f"the token is for title {self.title_id}, not {title_id}")
        if self.kind != "server" and xuid != self.xuid:
            raise Forbidden(f"a {self.kind} token may only access its own player's achievements")

    def require_server(self, action: str) -> None:
        if self.kind != "server":
            raise Forbidden(f"{action} needs a game-server credential")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


def _new_key_row(now_us: int) -> dict[str, Any]:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {"kid": uuid.uuid4().hex, "private_pem": pem, "created_at": now_us}


def _load_private(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("the stored signing key is not an Ed25519 key")
    return key


async def load_signing_keys(conn: AsyncConnection) -> list[SigningKey]:
    """Every stored key, newest first."""
    rows = await conn.execute(
        select(signing_keys.c.kid, signing_keys.c.private_pem).order_by(
            signing_keys.c.created_at.desc(), signing_keys.c.kid
        )
    )
    return [SigningKey(row.kid, _load_private(row.private_pem)) for row in rows]


async def ensure_signing_key(db: Database) -> SigningKey:
    """The newest signing key, generated and stored on first use."""
    async with db.read() as conn:
        keys = await load_signing_keys(conn)
    if keys:
        return keys[0]
    async with db.write() as conn:
        if conn.dialect.name == "postgresql":  # two first starts at once make one key
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({KEY_LOCK})")
        keys = await load_signing_keys(conn)
        if not keys:
            await conn.execute(signing_keys.insert().values(_new_key_row(int(time.time() * 1e6))))
            keys = await load_signing_keys(conn)
    return keys[0]


def mint_token(
    key: SigningKey,
    *,
    title_id: int,
    sandbox: str,
    xuid: str | None = None,
    server: bool = False,
    ttl_seconds: int = 24 * 3600,
    now: float | None = None,
) -> str:
    """A signed token for one player (or, with `server`, any player) of one title in
    one sandbox. Raises ValueError for impossible arguments."""
    if not is_sandbox_name(sandbox):
        raise ValueError(f"{sandbox!r} is not a sandbox name (RETAIL or DEV.<name>)")
    if not 1 <= title_id <= 0xFFFFFFFF:
        raise ValueError("title id must be 1..4294967295")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl must be between 1 and {MAX_TTL_SECONDS} seconds")
    if server == (xuid is not None):
        raise ValueError("give either a xuid (player token) or server=True, not both")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "tid": title_id,
        "sbx": sandbox,
        "typ": "server" if server else "player",
        "sub": "server" if server else parse_xuid(xuid or ""),
    }
    if not server:
        claims["xuid"] = claims["sub"]
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def parse_authorization(header: str | None) -> str:
    """The token of an `Authorization` header: `Bearer <t>` or `XBL3.0 x=<hash>;<t>`."""
    if not header:
        raise Unauthorized("missing Authorization header")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if scheme.upper() == "XBL3.0" and rest.startswith("x=") and ";" in rest:
        token = rest.split(";", 1)[1].strip()
        if token:
            return token
    raise Unauthorized("Authorization must be 'Bearer <token>' or 'XBL3.0 x=<hash>;<token>'")


def _principal(claims: dict[str, Any]) -> Principal:
    kind, title_id, sandbox = claims.get("typ"), claims.get("tid"), claims.get("sbx")
    if kind not in ("player", "server", "delivery") or not isinstance(title_id, int):
        raise Unauthorized("token lacks valid typ/tid claims")
    if not isinstance(sandbox, str) or not is_sandbox_name(sandbox):
        raise Unauthorized("token lacks a valid sbx claim")
    xuid = credential_id = None
    if kind != "server":
        try:
            xuid = parse_xuid(str(claims.get("xuid", claims.get("sub", ""))))
        except ValueError:
            raise Unauthorized("token lacks a valid xuid claim") from None
    if kind == "delivery":
        credential_id = claims.get("jti")
        if not isinstance(credential_id, str) or not credential_id:
            raise Unauthorized("delivery credential lacks a jti claim")
    return Principal(kind, xuid, title_id, sandbox, float(claims["exp"]), credential_id)


def load_trusted_keys(path: Path) -> dict[str | None, Any]:
    """Public keys of a studio's login server: a JWKS file (by kid) or one PEM key."""
    text = path.read_text()
    if text.lstrip().startswith("{"):
        jwks = jwt.PyJWKSet.from_dict(json.loads(text))
        return {jwk.key_id: jwk.key for jwk in jwks.keys}
    return {None: serialization.load_pem_public_key(text.encode())}


class TokenVerifier:
    """Verifies tokens and remembers verified ones until they expire, so the hot
    path pays for a signature check once per token, not once per request."""

    def __init__(
        self,
        own_keys: list[SigningKey],
        *,
        trusted_keys: dict[str | None, Any] | None = None,
        trusted_issuer: str | None = None,
        cache_size: int = 50_000,
    ) -> None:
        self._own = {key.kid: key.private_key.public_key() for key in own_keys}
        self._trusted = trusted_keys or {}
        self._trusted_issuer = trusted_issuer
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        """The token's Principal; raises Unauthorized if it is malformed, forged,
        expired or from an issuer we do not trust."""
        moment = time.time() if now is None else now
        cached = self._cache.get(token)
        if cached is not None:
            if cached.expires_at > moment:
                return cached
            del self._cache[token]
            raise Unauthorized("token expired")
        principal = _principal(self._decode(token))
        if principal.expires_at <= moment:
            raise Unauthorized("token expired")
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    def _decode(self, token: str) -> dict[str, Any]:
        try:  # one unverified parse tells the issuer and key; then one verified
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        issuer, kid = unverified["payload"].get("iss"), unverified["header"].get("kid")
        key: Any
        own = self._own.get(kid) if issuer == ISSUER and isinstance(kid, str) else None
        if own is not None:
            key, algorithms = own, ["EdDSA"]
        elif self._trusted and issuer == self._trusted_issuer:
            key = self._trusted.get(kid) or self._trusted.get(None)
            algorithms = TRUSTED_ALGORITHMS
        else:
            raise Unauthorized("token from an unknown issuer or key")
        if own is None and unverified["payload"].get("typ") == "delivery":
            # Only this service issues delivery credentials (and can revoke them).
            raise Unauthorized("a delivery credential must be issued by this service")
        if key is None:
            raise Unauthorized("token signed with an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                # Expiry is checked by verify() against its clock, cached or not.
                options={"require": ["exp", "iss"], "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        return claims
