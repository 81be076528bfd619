"""Tokens and who may do what.

The service signs its own tokens with an Ed25519 key generated once and kept in the
database. It also accepts tokens from a studio's own login server, verified with the
public key or JWKS file named in the settings. Claims, either way:

    sub  the player's XUID, or "server" for a game-server credential
    xuid the player's XUID (player tokens)
    tid  the title id;  sbx  the sandbox;  typ  "player" or "server";  exp, iat, iss
    aud  (studio tokens) the audience named by LAURELS_TRUSTED_AUDIENCE, when set

Each claim must have its type: a number for exp/iat/nbf, an integer title id, a XUID
as a string of digits. Only the algorithms that fit a key are accepted (EdDSA for our
own; for a studio's, those of its key type). Times are checked with a leeway
(LAURELS_TOKEN_LEEWAY_SECONDS). A refused token is a 401 "invalid token" (or "token
expired", "token not yet valid"), whatever the reason, which goes to the log only.

A third kind, typ "delivery" with a `jti`, is a delivery credential (auth/credentials.py):
it is accepted only when signed by the service's own keys, never from a studio.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from sqlalchemy import select

from laurels.auth.tables import signing_keys
from laurels.db import Database
from laurels.errors import ConfigurationError, Unauthorized
from laurels.sqlasync import AsyncConnection
from laurels.titles import is_sandbox_name
from laurels.wire.identifiers import parse_xuid
from laurels.wire.principal import Principal

log = logging.getLogger(__name__)
ISSUER = "laurels"
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"secp256r1": ("ES256",), "secp384r1": ("ES384",), "secp521r1": ("ES512",)}
KINDS = ("player", "server", "delivery")
TIME_CLAIMS = ("exp", "nbf", "iat")
MAX_TITLE_ID = 0xFFFFFFFF
# The only descriptions a refused token gets: nothing about why, or which library.
INVALID, EXPIRED, NOT_YET_VALID = "invalid token", "token expired", "token not yet valid"
MAX_TTL_SECONDS = 30 * 24 * 3600
KEY_LOCK = 0x1A0E16  # any constant: serializes the first key's creation on PostgreSQL


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


def _is_number(value: object) -> bool:
    """A JSON NumericDate: an integer or a finite float, never a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _xuid_claim(claims: dict[str, Any]) -> str:
    """The player of a player or delivery token: `xuid`, else `sub`, a string of digits."""
    text = claims["xuid"] if "xuid" in claims else claims.get("sub")
    if not isinstance(text, str):
        raise Unauthorized(INVALID)
    try:
        return parse_xuid(text)
    except ValueError:
        raise Unauthorized(INVALID) from None


def principal_of(claims: dict[str, Any]) -> Principal:
    """The Principal of verified claims; raises Unauthorized ("invalid token") for any
    missing claim or claim of the wrong type or range. Does not look at the time."""
    kind, title_id, sandbox = claims.get("typ"), claims.get("tid"), claims.get("sbx")
    if kind not in KINDS or isinstance(title_id, bool) or not isinstance(title_id, int):
        raise Unauthorized(INVALID)
    if not 1 <= title_id <= MAX_TITLE_ID:
        raise Unauthorized(INVALID)
    if not isinstance(sandbox, str) or not is_sandbox_name(sandbox):
        raise Unauthorized(INVALID)
    if not all(_is_number(claims[name]) for name in TIME_CLAIMS if name in claims):
        raise Unauthorized(INVALID)
    if "exp" not in claims:
        raise Unauthorized(INVALID)
    xuid = None if kind == "server" else _xuid_claim(claims)
    credential_id = claims.get("jti") if kind == "delivery" else None
    if kind == "delivery" and not (isinstance(credential_id, str) and 0 < len(credential_id) < 256):
        raise Unauthorized(INVALID)
    return Principal(kind, xuid, title_id, sandbox, float(claims["exp"]), credential_id)


def check_times(claims: dict[str, Any], *, now: float, leeway: float) -> None:
    """Raise Unauthorized unless `now` is within the token's lifetime, give or take
    `leeway` seconds: "token expired" from `exp` + leeway on, "token not yet valid"
    while `nbf` or `iat` is more than leeway ahead. Claims are numbers (principal_of)."""
    if now >= float(claims["exp"]) + leeway:
        raise Unauthorized(EXPIRED)
    for name in ("nbf", "iat"):
        if name in claims and float(claims[name]) - leeway > now:
            raise Unauthorized(NOT_YET_VALID)


def algorithms_for(key: object) -> tuple[str, ...]:
    """The JWS algorithms that can verify with this public key: RSA keys the RS and PS
    families, an EC key the one ES algorithm of its curve, Ed25519/Ed448 EdDSA; none
    for anything else (private keys and shared secrets included)."""
    if isinstance(key, RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, EllipticCurvePublicKey):
        return EC_ALGORITHMS.get(key.curve.name, ())
    if isinstance(key, Ed25519PublicKey | Ed448PublicKey):
        return ("EdDSA",)
    return ()


@dataclass(frozen=True)
class TrustedKey:
    """A studio's public key and the only algorithms a token signed with it may name."""

    key: Any
    algorithms: tuple[str, ...]

    @classmethod
    def of(cls, key: object, declared: object = None) -> TrustedKey:
        """Raises ValueError for a key that cannot verify signatures, or whose
        declared `alg` does not fit it."""
        algorithms = algorithms_for(key)
        if not algorithms:
            raise ValueError(f"a {type(key).__name__} is not an RSA, EC or EdDSA public key")
        if declared is None:
            return cls(key, algorithms)
        if declared not in algorithms:
            raise ValueError(f"alg {declared!r} does not fit a {type(key).__name__}")
        return cls(key, (str(declared),))


def _jwks_keys(document: Any) -> dict[str | None, TrustedKey]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWKS is an object with a "keys" list')
    found: dict[str | None, TrustedKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use") == "enc":
            continue  # encryption keys sign nothing
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            raise ValueError(f"key {entry.get('kid')!r}: {exc}") from None
        found[jwk.key_id] = TrustedKey.of(jwk.key, entry.get("alg"))
    if not found:
        raise ValueError("the JWKS holds no signing key")
    return found


def load_trusted_keys(path: Path) -> dict[str | None, TrustedKey]:
    """Public keys of a studio's login server: a JWKS file (by kid) or one PEM key.
    Raises ConfigurationError naming LAURELS_TRUSTED_KEYS_FILE when the file cannot
    be read or holds a key that cannot verify signatures."""
    try:
        text = path.read_text()
        if text.lstrip().startswith("{"):
            return _jwks_keys(json.loads(text))
        return {None: TrustedKey.of(serialization.load_pem_public_key(text.encode()))}
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigurationError(f"LAURELS_TRUSTED_KEYS_FILE: {path}: {exc}") from None


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a token, before any check; Unauthorized if garbled."""
    try:
        parsed = jwt.decode_complete(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
        log.info("token refused: %s", exc)
        raise Unauthorized(INVALID) from None
    return parsed["header"], parsed["payload"]


class TokenVerifier:
    """Verifies tokens and remembers verified ones until they expire, so the hot
    path pays for a signature check once per token, not once per request.

    Our own tokens must be EdDSA with a key we hold; a studio's must come from
    `trusted_issuer`, name an algorithm that fits the trusted key, and carry
    `trusted_audience` in `aud` when one is set (with none set, a token that has an
    `aud` is refused). `leeway_seconds` forgives clocks that disagree, for `exp`,
    `nbf` and `iat`. Every refusal is Unauthorized with one of three descriptions
    ("invalid token", "token expired", "token not yet valid"); the reason is logged."""

    def __init__(
        self,
        own_keys: list[SigningKey],
        *,
        trusted_keys: dict[str | None, TrustedKey] | None = None,
        trusted_issuer: str | None = None,
        trusted_audience: str | None = None,
        leeway_seconds: float = 0.0,
        cache_size: int = 50_000,
    ) -> None:
        self._own = {key.kid: key.private_key.public_key() for key in own_keys}
        self._trusted = trusted_keys or {}
        self._trusted_issuer = trusted_issuer
        self._trusted_audience = trusted_audience
        self._leeway = leeway_seconds
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        """The token's Principal; raises Unauthorized if it is malformed, forged,
        expired, not yet valid or from an issuer we do not trust."""
        moment = time.time() if now is None else now
        cached = self._cache.get(token)
        if cached is not None:
            if moment < cached.expires_at + self._leeway:
                return cached
            del self._cache[token]
            raise Unauthorized(EXPIRED)
        claims = self._decode(token)
        principal = principal_of(claims)
        check_times(claims, now=moment, leeway=self._leeway)
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    def _key_for(self, header: dict[str, Any], claims: dict[str, Any]) -> tuple[str, TrustedKey]:
        """The issuer the token names and the key (with its algorithms) to verify it."""
        issuer, kid = claims.get("iss"), header.get("kid")
        if not isinstance(issuer, str):
            raise self._refuse("no issuer")
        own = self._own.get(kid) if issuer == ISSUER and isinstance(kid, str) else None
        if own is not None:
            return issuer, TrustedKey(own, ("EdDSA",))
        if not self._trusted or issuer != self._trusted_issuer:
            raise self._refuse("unknown issuer or key")
        if claims.get("typ") == "delivery":  # only this service issues (and revokes) them
            raise self._refuse("a delivery credential from a studio")
        key = self._trusted.get(kid) if isinstance(kid, str) else None
        key = key or self._trusted.get(None)
        if key is None:
            raise self._refuse(f"unknown studio key {kid!r}")
        return issuer, key

    def _decode(self, token: str) -> dict[str, Any]:
        header, unverified = _unverified(token)  # tells the issuer and key
        issuer, trusted = self._key_for(header, unverified)
        studio = issuer != ISSUER
        audience = self._trusted_audience if studio else None
        required = ["exp", "iss", "aud"] if audience is not None else ["exp", "iss"]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                trusted.key,
                algorithms=list(trusted.algorithms),
                issuer=issuer,
                audience=audience,
                # Times are checked by check_times() against verify()'s clock.
                options={
                    "require": required,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except (jwt.PyJWTError, ValueError, TypeError, RecursionError) as exc:
            raise self._refuse(str(exc)) from None
        return claims

    @staticmethod
    def _refuse(reason: str) -> Unauthorized:
        log.info("token refused: %s", reason[:200])
        return Unauthorized(INVALID)
