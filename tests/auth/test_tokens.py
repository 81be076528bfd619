"""Tokens: minting, verifying (own Ed25519 keys and a studio's login server), the
Authorization header, and who may access what. Pure: no database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from laurels.auth.service import (
    ISSUER,
    MAX_TTL_SECONDS,
    RSA_ALGORITHMS,
    SigningKey,
    TokenVerifier,
    algorithms_for,
    load_trusted_keys,
    mint_token,
)
from laurels.errors import ConfigurationError, Forbidden, Unauthorized
from laurels.web.auth import parse_authorization
from laurels.wire.principal import Principal
from tests.helpers import OTHER_XUID, TITLE_ID, XUID

STUDIO = "https://login.studio.example"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("k1", Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def player_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": now,
        "exp": now + 3600,
        "tid": TITLE_ID,
        "sbx": "DEV.1",
        "typ": "player",
        "sub": XUID,
        "xuid": XUID,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def own_signed(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


# --- the Authorization header ------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("  Bearer   abc.def.ghi  ", "abc.def.ghi"),
        ("XBL3.0 x=1234567890;abc.def.ghi", "abc.def.ghi"),
        ("xbl3.0 x=1234567890;abc.def.ghi", "abc.def.ghi"),
        ("XBL3.0 x=-;abc.def.ghi", "abc.def.ghi"),
    ],
)
def test_the_authorization_header_forms(header: str, token: str) -> None:
    assert parse_authorization(header) == token


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "Bearer",
        "Bearer    ",
        "abc.def.ghi",
        "Basic dXNlcjpwYXNz",
        "XBL3.0 abc.def.ghi",
        "XBL3.0 x=1234",
        "XBL3.0 x=1234;",
        "XBL3.0 y=1234;abc.def.ghi",
        "Token abc",
    ],
)
def test_a_missing_or_garbled_header_is_unauthorized(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        parse_authorization(header)


# --- minting and verifying our own tokens ----------------------------------------


def test_a_player_token_round_trips(key: SigningKey) -> None:
    now = time.time()
    token = mint_token(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=60)
    principal = TokenVerifier([key]).verify(token)
    assert (principal.kind, principal.xuid, principal.title_id, principal.sandbox) == (
        "player",
        XUID,
        TITLE_ID,
        "DEV.1",
    )
    assert now + 59 <= principal.expires_at <= now + 61
    assert jwt.get_unverified_header(token)["kid"] == key.kid


def test_a_server_token_round_trips(key: SigningKey) -> None:
    token = mint_token(key, server=True, title_id=TITLE_ID, sandbox="RETAIL")
    principal = TokenVerifier([key]).verify(token)
    assert (principal.kind, principal.xuid, principal.sandbox) == ("server", None, "RETAIL")


def test_a_xuid_is_stored_in_canonical_form(key: SigningKey) -> None:
    token = mint_token(key, xuid="00" + XUID, title_id=TITLE_ID, sandbox="DEV.1")
    assert TokenVerifier([key]).verify(token).xuid == XUID


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"xuid": XUID, "sandbox": "PROD"}, "sandbox"),
        ({"xuid": XUID, "sandbox": "dev.1"}, "sandbox"),
        ({"xuid": XUID, "sandbox": ""}, "sandbox"),
        ({"xuid": XUID, "ttl_seconds": 0}, "ttl"),
        ({"xuid": XUID, "ttl_seconds": -5}, "ttl"),
        ({"xuid": XUID, "ttl_seconds": MAX_TTL_SECONDS + 1}, "ttl"),
        ({"xuid": XUID, "server": True}, "either"),
        ({}, "either"),
        ({"xuid": "gamer"}, "XUID"),
        ({"xuid": "0"}, "XUID"),
        ({"xuid": str(2**64)}, "XUID"),
    ],
)
def test_impossible_tokens_are_not_minted(
    key: SigningKey, arguments: dict[str, Any], message: str
) -> None:
    arguments = {"title_id": TITLE_ID, "sandbox": "DEV.1", **arguments}
    with pytest.raises(ValueError, match=message):
        mint_token(key, **arguments)


def test_the_longest_ttl_is_allowed(key: SigningKey) -> None:
    token = mint_token(
        key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=MAX_TTL_SECONDS
    )
    assert TokenVerifier([key]).verify(token).kind == "player"


def test_an_expired_token_is_refused(key: SigningKey) -> None:
    past = time.time() - 7200
    token = mint_token(
        key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=3600, now=past
    )
    with pytest.raises(Unauthorized, match="expired"):
        TokenVerifier([key]).verify(token)


def test_the_cache_does_not_keep_an_expired_token_valid(key: SigningKey) -> None:
    now = time.time()
    token = mint_token(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=60, now=now)
    verifier = TokenVerifier([key])
    assert verifier.verify(token, now=now).xuid == XUID
    assert verifier.verify(token, now=now + 30).xuid == XUID  # from the cache
    expires = int(now) + 60
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token, now=expires)


def test_the_cache_expires_a_token_at_its_exp(key: SigningKey) -> None:
    now = time.time()
    token = mint_token(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=60, now=now)
    expires = int(now) + 60
    verifier = TokenVerifier([key])
    verifier.verify(token, now=now)
    assert verifier.verify(token, now=expires - 0.001).expires_at == expires
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token, now=expires)


def test_now_decides_expiry_whether_or_not_the_token_is_cached(key: SigningKey) -> None:
    now = time.time()
    token = mint_token(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=60, now=now)
    verifier = TokenVerifier([key])
    verifier.verify(token, now=now)
    for later in (now + 61, now + 62):  # the first call evicts it from the cache
        with pytest.raises(Unauthorized, match="expired"):
            verifier.verify(token, now=later)
    with pytest.raises(Unauthorized, match="expired"):
        TokenVerifier([key]).verify(token, now=now + 3600)


def test_a_token_from_another_key_is_refused(key: SigningKey) -> None:
    forger = SigningKey(key.kid, Ed25519PrivateKey.generate())  # same kid, other key
    token = mint_token(forger, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1")
    with pytest.raises(Unauthorized):
        TokenVerifier([key]).verify(token)
    stranger = SigningKey("k2", forger.private_key)  # a kid we do not know
    with pytest.raises(Unauthorized):
        TokenVerifier([key]).verify(mint_token(stranger, xuid=XUID, title_id=1, sandbox="DEV.1"))


def test_a_tampered_token_is_refused(key: SigningKey) -> None:
    token = mint_token(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1")
    header, _, signature = token.split(".")
    other = b64(json.dumps(player_claims(xuid=OTHER_XUID, sub=OTHER_XUID)).encode())
    with pytest.raises(Unauthorized):
        TokenVerifier([key]).verify(f"{header}.{other}.{signature}")


def test_every_key_of_the_verifier_is_accepted(key: SigningKey) -> None:
    newer = SigningKey("k2", Ed25519PrivateKey.generate())
    verifier = TokenVerifier([newer, key])
    for signer in (key, newer):
        token = mint_token(signer, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1")
        assert verifier.verify(token).xuid == XUID


def hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", **header}, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_hs256_with_our_public_key_as_secret_is_refused(key: SigningKey) -> None:
    public = key.private_key.public_key()
    secrets = [
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    ]
    verifier = TokenVerifier([key])
    for secret in secrets:
        with pytest.raises(Unauthorized):
            verifier.verify(hs256(secret, {"kid": key.kid}, player_claims()))


def test_alg_none_is_refused(key: SigningKey) -> None:
    verifier = TokenVerifier([key])
    for alg in ("none", "None", "NONE"):
        token = unsigned({"alg": alg, "typ": "JWT", "kid": key.kid}, player_claims()) + "."
        with pytest.raises(Unauthorized):
            verifier.verify(token)


@pytest.mark.parametrize(
    "changes",
    [
        {"tid": None},
        {"sbx": None},
        {"typ": None},
        {"exp": None},
        {"tid": str(TITLE_ID)},
        {"sbx": "PROD"},
        {"typ": "admin"},
        {"xuid": "gamer", "sub": "gamer"},
        {"xuid": None, "sub": None},
        {"iss": "someone-else"},
        {"iss": None},
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_a_token_with_missing_or_bad_claims_is_refused(
    key: SigningKey, changes: dict[str, Any]
) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier([key]).verify(own_signed(key, player_claims(**changes)))


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "a.b", "....", "eyJhbGciOiJFZERTQSJ9.e30.AAAA"],
)
def test_garbage_tokens_are_unauthorized(key: SigningKey, token: str) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier([key]).verify(token)


# --- a studio's own login server ---------------------------------------------------


def studio_claims(**changes: Any) -> dict[str, Any]:
    return player_claims(**{"iss": STUDIO, **changes})


def studio_token(private: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str | None) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, private, algorithm="RS256", headers=headers)


def write_pem(path: Path, private: rsa.RSAPrivateKey) -> Path:
    path.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def write_jwks(path: Path, private: rsa.RSAPrivateKey, kid: str) -> Path:
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    path.write_text(json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}))
    return path


@pytest.mark.parametrize("form", ["pem", "jwks"])
def test_a_studio_token_verifies_with_its_issuer_only(
    key: SigningKey, rsa_key: rsa.RSAPrivateKey, tmp_path: Path, form: str
) -> None:
    if form == "pem":
        trusted = load_trusted_keys(write_pem(tmp_path / "studio.pem", rsa_key))
    else:
        trusted = load_trusted_keys(write_jwks(tmp_path / "studio.jwks", rsa_key, "studio-1"))
    verifier = TokenVerifier([key], trusted_keys=trusted, trusted_issuer=STUDIO)

    principal = verifier.verify(studio_token(rsa_key, studio_claims(), "studio-1"))
    assert (principal.kind, principal.xuid, principal.title_id, principal.sandbox) == (
        "player",
        XUID,
        TITLE_ID,
        "DEV.1",
    )
    server = verifier.verify(
        studio_token(rsa_key, studio_claims(typ="server", sub="server", xuid=None), "studio-1")
    )
    assert (server.kind, server.xuid) == ("server", None)

    for issuer in ("https://evil.example", ISSUER, None):
        with pytest.raises(Unauthorized):
            verifier.verify(studio_token(rsa_key, studio_claims(iss=issuer), "studio-1"))
    # Our own tokens still verify next to the studio's.
    assert verifier.verify(mint_token(key, xuid=XUID, title_id=1, sandbox="DEV.1")).title_id == 1


def test_a_studio_token_needs_the_studio_key(
    key: SigningKey, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    trusted = load_trusted_keys(write_jwks(tmp_path / "studio.jwks", rsa_key, "studio-1"))
    verifier = TokenVerifier([key], trusted_keys=trusted, trusted_issuer=STUDIO)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = [
        studio_token(other, studio_claims(), "studio-1"),  # forged
        studio_token(rsa_key, studio_claims(), "studio-2"),  # unknown kid
        studio_token(rsa_key, studio_claims(), None),  # no kid, JWKS has only kids
        studio_token(rsa_key, studio_claims(exp=int(time.time()) - 10), "studio-1"),  # expired
        studio_token(rsa_key, studio_claims(tid=None), "studio-1"),  # no title
    ]
    for token in refused:
        with pytest.raises(Unauthorized):
            verifier.verify(token)
    # Without a trusted issuer configured, a studio token is never accepted.
    with pytest.raises(Unauthorized):
        TokenVerifier([key], trusted_keys=trusted).verify(
            studio_token(rsa_key, studio_claims(), "studio-1")
        )


def test_hs256_with_the_studio_public_key_as_secret_is_refused(
    key: SigningKey, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    pem = write_pem(tmp_path / "studio.pem", rsa_key)
    verifier = TokenVerifier([key], trusted_keys=load_trusted_keys(pem), trusted_issuer=STUDIO)
    for header in ({}, {"kid": "studio-1"}):
        with pytest.raises(Unauthorized):
            verifier.verify(hs256(pem.read_bytes(), header, studio_claims()))
    with pytest.raises(Unauthorized):
        verifier.verify(unsigned({"alg": "none"}, studio_claims()) + ".")


@pytest.mark.parametrize(
    ("make", "algorithms"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), RSA_ALGORITHMS),
        (lambda: ec.generate_private_key(ec.SECP256R1()), ("ES256",)),
        (lambda: ec.generate_private_key(ec.SECP384R1()), ("ES384",)),
        (lambda: ec.generate_private_key(ec.SECP521R1()), ("ES512",)),
        (lambda: ec.generate_private_key(ec.SECP256K1()), ()),
        (Ed25519PrivateKey.generate, ("EdDSA",)),
        (Ed448PrivateKey.generate, ("EdDSA",)),
    ],
    ids=["rsa", "p-256", "p-384", "p-521", "secp256k1", "ed25519", "ed448"],
)
def test_each_key_type_fits_its_own_algorithms_only(
    make: Callable[[], Any], algorithms: tuple[str, ...]
) -> None:
    private = make()
    assert algorithms_for(private.public_key()) == algorithms
    assert algorithms_for(private) == ()  # a private key is never a trusted key
    assert algorithms_for(b"a shared secret") == ()


def test_an_ec_studio_key_takes_its_curve_algorithm_only(key: SigningKey, tmp_path: Path) -> None:
    studio = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "studio.pem"
    pem.write_bytes(
        studio.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    verifier = TokenVerifier([key], trusted_keys=load_trusted_keys(pem), trusted_issuer=STUDIO)
    assert verifier.verify(jwt.encode(studio_claims(), studio, algorithm="ES256")).xuid == XUID
    other_curve = ec.generate_private_key(ec.SECP384R1())
    for token in (
        jwt.encode(studio_claims(), other_curve, algorithm="ES384"),
        unsigned({"alg": "RS256"}, studio_claims()) + "." + b64(b"\0" * 256),
        unsigned({"alg": "EdDSA"}, studio_claims()) + "." + b64(b"\0" * 64),
    ):
        with pytest.raises(Unauthorized, match=r"^invalid token$"):
            verifier.verify(token)


def test_a_jwks_alg_narrows_the_key_to_it(
    key: SigningKey, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    trusted = load_trusted_keys(write_jwks(tmp_path / "studio.jwks", rsa_key, "studio-1"))
    assert trusted["studio-1"].algorithms == ("RS256",)
    verifier = TokenVerifier([key], trusted_keys=trusted, trusted_issuer=STUDIO)
    claims = studio_claims()
    assert verifier.verify(studio_token(rsa_key, claims, "studio-1")).xuid == XUID
    ps256 = jwt.encode(claims, rsa_key, algorithm="PS256", headers={"kid": "studio-1"})
    with pytest.raises(Unauthorized, match=r"^invalid token$"):
        verifier.verify(ps256)


def rsa_jwk(private: rsa.RSAPrivateKey, **extra: Any) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(private.public_key())), **extra}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{"keys": "none"}', "keys"),
        ('{"keys": []}', "no signing key"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}', "not an RSA, EC or EdDSA"),
        ("RSA_ES256", "key 'a'"),
        ("P256_ES384", "does not fit"),
        ("RSA_PRIVATE", "not an RSA, EC or EdDSA"),
        ("RSA_ENC_ONLY", "no signing key"),
        ("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", "TRUSTED"),
        ("{not json", "TRUSTED"),
    ],
    ids=["keys-not-list", "empty", "secret", "alg", "curve", "private", "enc", "pem", "json"],
)
def test_a_trusted_keys_file_that_cannot_verify_is_refused_at_start(
    rsa_key: rsa.RSAPrivateKey, tmp_path: Path, document: str, message: str
) -> None:
    keys = {
        "RSA_ES256": [rsa_jwk(rsa_key, kid="a", alg="ES256")],
        "RSA_PRIVATE": [json.loads(RSAAlgorithm.to_jwk(rsa_key)) | {"kid": "p"}],
        "P256_ES384": [
            json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
            | {"kid": "c", "alg": "ES384"}
        ],
        "RSA_ENC_ONLY": [rsa_jwk(rsa_key, kid="e", use="enc")],
    }
    text = json.dumps({"keys": keys[document]}) if document in keys else document
    path = tmp_path / "studio.jwks"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message) as refused:
        load_trusted_keys(path)
    assert "LAURELS_TRUSTED_KEYS_FILE" in str(refused.value)


@pytest.mark.parametrize(
    ("offset", "leeway", "refused"),
    [
        (-1, 0, None),
        (0, 0, "token expired"),
        (29, 30, None),
        (30, 30, "token expired"),
        (100, 30, "token expired"),
    ],
)
def test_exp_is_forgiven_by_the_leeway_cached_or_not(
    key: SigningKey, offset: int, leeway: int, refused: str | None
) -> None:
    now = time.time()
    token = mint_token(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=60, now=now)
    moment = int(now) + 60 + offset
    warm = TokenVerifier([key], leeway_seconds=leeway)
    warm.verify(token, now=now)
    for verifier in (warm, TokenVerifier([key], leeway_seconds=leeway)):
        if refused is None:
            assert verifier.verify(token, now=moment).xuid == XUID
        else:
            with pytest.raises(Unauthorized, match=f"^{refused}$"):
                verifier.verify(token, now=moment)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize(("ahead", "accepted"), [(0, True), (30, True), (31, False)])
def test_nbf_and_iat_ahead_of_the_clock_are_forgiven_by_the_leeway(
    key: SigningKey, claim: str, ahead: int, accepted: bool
) -> None:
    now = int(time.time())
    token = own_signed(key, player_claims(**{claim: now + ahead}))
    verifier = TokenVerifier([key], leeway_seconds=30)
    if accepted:
        assert verifier.verify(token, now=now).xuid == XUID
    else:
        with pytest.raises(Unauthorized, match=r"^token not yet valid$"):
            verifier.verify(token, now=now)


# --- who may access what -----------------------------------------------------------

PLAYER = Principal("player", XUID, TITLE_ID, "DEV.1", time.time() + 3600)
SERVER = Principal("server", None, TITLE_ID, "DEV.1", time.time() + 3600)


@pytest.mark.parametrize(
    ("principal", "xuid", "title_id", "sandbox", "allowed"),
    [
        (PLAYER, XUID, TITLE_ID, "DEV.1", True),
        (PLAYER, OTHER_XUID, TITLE_ID, "DEV.1", False),
        (PLAYER, XUID, TITLE_ID + 1, "DEV.1", False),
        (PLAYER, XUID, TITLE_ID, "DEV.2", False),
        (PLAYER, XUID, TITLE_ID, "RETAIL", False),
        (SERVER, XUID, TITLE_ID, "DEV.1", True),
        (SERVER, OTHER_XUID, TITLE_ID, "DEV.1", True),
        (SERVER, XUID, TITLE_ID + 1, "DEV.1", False),
        (SERVER, XUID, TITLE_ID, "RETAIL", False),
    ],
)
def test_require_player_access(
    principal: Principal, xuid: str, title_id: int, sandbox: str, allowed: bool
) -> None:
    if allowed:
        principal.require_player_access(xuid=xuid, title_id=title_id, sandbox=sandbox)
    else:
        with pytest.raises(Forbidden):
            principal.require_player_access(xuid=xuid, title_id=title_id, sandbox=sandbox)


def test_require_server() -> None:
    SERVER.require_server("resetting a player")
    with pytest.raises(Forbidden, match="resetting a player"):
        PLAYER.require_server("resetting a player")
