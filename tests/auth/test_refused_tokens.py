"""Refused tokens, through the real HTTP API: a malformed, forged, mistyped or
out-of-date token gets a 401 with the generic JSON error body on every route that
takes a token (and a refused WebSocket handshake), and changes nothing. The same
table runs against the verifier alone, one case at a time, for a readable failure."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.typing import Subprotocol

from laurels.auth.credentials import list_credentials
from laurels.auth.service import (
    ISSUER,
    SigningKey,
    TokenVerifier,
    ensure_signing_key,
    load_trusted_keys,
)
from laurels.errors import Unauthorized
from laurels.realtime.protocol import SUBPROTOCOL
from laurels.settings import Settings
from tests.helpers import OTHER_XUID, SCID, TITLE_ID, XUID, Api, update_body

STUDIO = "https://login.studio.example"
AUDIENCE = "https://laurels.studio.example"
LEEWAY = 30  # the default of LAURELS_TOKEN_LEEWAY_SECONDS
INVALID, EXPIRED, NOT_YET_VALID = "invalid token", "token expired", "token not yet valid"


@dataclass(frozen=True)
class Keys:
    """What the cases sign with: the service's own key and the studio's RSA key."""

    own: SigningKey
    studio: rsa.RSAPrivateKey
    now: int


Build = Callable[[Keys], str]


@pytest.fixture(scope="module")
def studio_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def studio_pem(tmp_path: Path, studio_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "studio.pem"
    path.write_bytes(
        studio_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


@pytest.fixture
def settings(database_url: str, studio_pem: Path) -> Settings:
    """The `api` fixture's service, trusting the studio and expecting its audience."""
    return Settings(
        database_url=database_url,
        catalog_refresh_seconds=0.2,
        trusted_keys_file=studio_pem,
        trusted_issuer=STUDIO,
        trusted_audience=AUDIENCE,
    )


# --- building tokens, right or wrong --------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(value if isinstance(value, bytes) else json.dumps(value).encode())


def forged(header: Any, claims: Any, signature: bytes = b"\0" * 64) -> str:
    """A token with any header and claims and a signature that proves nothing."""
    return f"{segment(header)}.{segment(claims)}.{b64(signature)}"


def signed(key: Any, algorithm: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Really signed, whatever the claims hold (PyJWT's encode would check them)."""
    return jwt.api_jws.encode(json.dumps(claims).encode(), key, algorithm, headers=header)


def own_claims(k: Keys, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": k.now,
        "exp": k.now + 3600,
        "tid": TITLE_ID,
        "sbx": "DEV.1",
        "typ": "player",
        "sub": XUID,
        "xuid": XUID,
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not MISSING}


def studio_claims(k: Keys, **changes: Any) -> dict[str, Any]:
    return own_claims(k, **{"iss": STUDIO, "aud": AUDIENCE, **changes})


MISSING: Any = object()


def own(**changes: Any) -> Build:
    """Signed with the service's own key, with these claims changed (MISSING drops one)."""
    return lambda k: signed(
        k.own.private_key, "EdDSA", {"kid": k.own.kid}, own_claims(k, **changes)
    )


def studio(algorithm: str = "RS256", **changes: Any) -> Build:
    return lambda k: signed(k.studio, algorithm, {}, studio_claims(k, **changes))


def hs256_with(secret: Callable[[Keys], bytes], claims: Callable[[Keys], dict[str, Any]]) -> Build:
    """HS256 with a public key as the shared secret: the algorithm-confusion attack."""

    def build(k: Keys) -> str:
        kid = {"kid": k.own.kid} if claims(k)["iss"] == ISSUER else {}
        signing_input = f"{segment({'alg': 'HS256', **kid})}.{segment(claims(k))}"
        mac = hmac.new(secret(k), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"

    return build


def own_public_raw(k: Keys) -> bytes:
    return k.own.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def studio_public_pem(k: Keys) -> bytes:
    return k.studio.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def tampered(k: Keys) -> str:
    header, _, signature = own()(k).split(".")
    return f"{header}.{segment(own_claims(k, sub=OTHER_XUID, xuid=OTHER_XUID))}.{signature}"


def other_own_key(k: Keys) -> str:
    impostor = Ed25519PrivateKey.generate()
    return signed(impostor, "EdDSA", {"kid": k.own.kid}, own_claims(k))


@functools.cache
def impostor_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def other_studio_key(k: Keys) -> str:
    return signed(impostor_rsa(), "RS256", {}, studio_claims(k))


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


REFUSED: list[Any] = [
    # Not a token at all.
    pytest.param(lambda k: "garbage", INVALID, id="garbage"),
    pytest.param(lambda k: "a.b", INVALID, id="two-parts"),
    pytest.param(lambda k: "a.b.c.d", INVALID, id="four-parts"),
    pytest.param(lambda k: "!!!.???.***", INVALID, id="not-base64"),
    pytest.param(lambda k: "x" * 6000, INVALID, id="long-garbage"),
    pytest.param(lambda k: forged(b"{", own_claims(k)), INVALID, id="header-not-json"),
    pytest.param(lambda k: forged([], own_claims(k)), INVALID, id="header-a-list"),
    pytest.param(lambda k: forged({"alg": "EdDSA"}, b"{"), INVALID, id="claims-not-json"),
    pytest.param(lambda k: forged({"alg": "EdDSA"}, [1]), INVALID, id="claims-a-list"),
    pytest.param(lambda k: forged(nested(2500), own_claims(k)), INVALID, id="header-nested"),
    pytest.param(lambda k: forged({"alg": "EdDSA"}, nested(2500)), INVALID, id="claims-nested"),
    # Forged or signed with an algorithm that does not fit the key.
    pytest.param(
        lambda k: forged({"alg": "none", "kid": k.own.kid}, own_claims(k), b""),
        INVALID,
        id="own-alg-none",
    ),
    pytest.param(
        lambda k: forged({"alg": "RS256", "kid": k.own.kid}, own_claims(k)),
        INVALID,
        id="own-alg-rs256",
    ),
    pytest.param(
        lambda k: forged({"alg": "ES256", "kid": k.own.kid}, own_claims(k)),
        INVALID,
        id="own-alg-es256",
    ),
    pytest.param(hs256_with(own_public_raw, own_claims), INVALID, id="own-hs256-public-key"),
    pytest.param(lambda k: forged({"alg": "EdDSA", "kid": 7}, own_claims(k)), INVALID, id="kid-7"),
    pytest.param(
        lambda k: forged({"alg": "EdDSA", "kid": "nobody"}, own_claims(k)),
        INVALID,
        id="kid-unknown",
    ),
    pytest.param(other_own_key, INVALID, id="own-kid-other-key"),
    pytest.param(tampered, INVALID, id="tampered-claims"),
    pytest.param(lambda k: own()(k)[:-6], INVALID, id="truncated-signature"),
    pytest.param(lambda k: forged({"alg": "ES256"}, studio_claims(k)), INVALID, id="studio-es256"),
    pytest.param(
        lambda k: forged({"alg": "ES512"}, studio_claims(k), b"\0" * 132),
        INVALID,
        id="studio-es512",
    ),
    pytest.param(lambda k: forged({"alg": "EdDSA"}, studio_claims(k)), INVALID, id="studio-eddsa"),
    pytest.param(
        lambda k: forged({"alg": "PS256"}, studio_claims(k), b"\0" * 256),
        INVALID,
        id="studio-ps256-unsigned",
    ),
    pytest.param(
        lambda k: forged({"alg": "none"}, studio_claims(k), b""), INVALID, id="studio-alg-none"
    ),
    pytest.param(
        hs256_with(studio_public_pem, studio_claims), INVALID, id="studio-hs256-public-key"
    ),
    pytest.param(other_studio_key, INVALID, id="studio-other-key"),
    # Claims of the wrong type or range, really signed.
    pytest.param(own(exp="x"), INVALID, id="exp-x"),
    pytest.param(own(exp="9999999999"), INVALID, id="exp-numeric-string"),
    pytest.param(own(exp=True), INVALID, id="exp-true"),
    pytest.param(own(exp=float("inf")), INVALID, id="exp-infinity"),
    pytest.param(own(exp=float("nan")), INVALID, id="exp-nan"),
    pytest.param(own(exp=None), INVALID, id="exp-null"),
    pytest.param(own(exp=[1]), INVALID, id="exp-list"),
    pytest.param(own(exp=MISSING), INVALID, id="exp-missing"),
    pytest.param(own(iat="x"), INVALID, id="iat-x"),
    pytest.param(own(nbf=True), INVALID, id="nbf-true"),
    pytest.param(own(tid=True), INVALID, id="tid-true"),
    pytest.param(own(tid=str(TITLE_ID)), INVALID, id="tid-string"),
    pytest.param(own(tid=float(TITLE_ID)), INVALID, id="tid-float"),
    pytest.param(own(tid=0), INVALID, id="tid-0"),
    pytest.param(own(tid=2**32), INVALID, id="tid-2**32"),
    pytest.param(own(tid=MISSING), INVALID, id="tid-missing"),
    pytest.param(own(sbx=1), INVALID, id="sbx-1"),
    pytest.param(own(sbx="PROD"), INVALID, id="sbx-prod"),
    pytest.param(own(sbx=MISSING), INVALID, id="sbx-missing"),
    pytest.param(own(typ="admin"), INVALID, id="typ-admin"),
    pytest.param(own(typ=["player"]), INVALID, id="typ-list"),
    pytest.param(own(typ=MISSING), INVALID, id="typ-missing"),
    pytest.param(own(xuid=int(XUID)), INVALID, id="xuid-number"),
    pytest.param(own(xuid="gamer"), INVALID, id="xuid-letters"),
    pytest.param(own(xuid=" " + XUID), INVALID, id="xuid-space"),
    pytest.param(own(xuid="-1"), INVALID, id="xuid-negative"),
    pytest.param(own(xuid="0"), INVALID, id="xuid-0"),
    pytest.param(own(xuid=str(2**64)), INVALID, id="xuid-2**64"),
    pytest.param(own(xuid=[XUID]), INVALID, id="xuid-list"),
    pytest.param(own(xuid=MISSING, sub=int(XUID)), INVALID, id="sub-number"),
    pytest.param(own(xuid=MISSING, sub=MISSING), INVALID, id="no-player"),
    pytest.param(own(iss=MISSING), INVALID, id="iss-missing"),
    pytest.param(own(iss=[ISSUER]), INVALID, id="iss-list"),
    pytest.param(own(iss="https://evil.example"), INVALID, id="iss-other"),
    pytest.param(own(aud=AUDIENCE), INVALID, id="own-with-aud"),
    pytest.param(own(typ="delivery"), INVALID, id="delivery-without-jti"),
    pytest.param(own(typ="delivery", jti=5), INVALID, id="delivery-jti-number"),
    pytest.param(own(typ="delivery", jti=""), INVALID, id="delivery-jti-empty"),
    pytest.param(studio(exp="x"), INVALID, id="studio-exp-x"),
    pytest.param(studio(tid=True), INVALID, id="studio-tid-true"),
    pytest.param(studio(typ="delivery", jti="c1"), INVALID, id="studio-delivery"),
    # The studio's audience.
    pytest.param(studio(aud=MISSING), INVALID, id="studio-no-aud"),
    pytest.param(studio(aud="https://other.example"), INVALID, id="studio-other-aud"),
    pytest.param(studio(aud=["https://other.example"]), INVALID, id="studio-aud-list-other"),
    pytest.param(studio(aud=7), INVALID, id="studio-aud-number"),
    # Out of date beyond the leeway.
    pytest.param(lambda k: own(exp=k.now - LEEWAY - 5)(k), EXPIRED, id="own-expired"),
    pytest.param(lambda k: studio(exp=k.now - LEEWAY - 5)(k), EXPIRED, id="studio-expired"),
    pytest.param(lambda k: own(nbf=k.now + LEEWAY + 60)(k), NOT_YET_VALID, id="nbf-ahead"),
    pytest.param(lambda k: own(iat=k.now + LEEWAY + 60)(k), NOT_YET_VALID, id="iat-ahead"),
    pytest.param(
        lambda k: studio(nbf=k.now + LEEWAY + 60)(k), NOT_YET_VALID, id="studio-nbf-ahead"
    ),
]

ACCEPTED: list[Any] = [
    pytest.param(own(), id="own"),
    pytest.param(lambda k: own(exp=k.now - LEEWAY + 10)(k), id="own-expired-within-leeway"),
    pytest.param(lambda k: own(iat=k.now + LEEWAY - 10)(k), id="own-iat-within-leeway"),
    pytest.param(lambda k: own(nbf=k.now + LEEWAY - 10)(k), id="own-nbf-within-leeway"),
    pytest.param(studio(), id="studio-rs256"),
    pytest.param(studio("RS512"), id="studio-rs512"),
    pytest.param(studio("PS256"), id="studio-ps256"),
    pytest.param(studio(aud=["https://other.example", AUDIENCE]), id="studio-aud-list"),
    pytest.param(studio(exp=float(time.time() + 600)), id="studio-exp-float"),
]


def service_verifier(keys: Keys, pem: Path) -> TokenVerifier:
    """A verifier configured as the `settings` fixture configures the service."""
    return TokenVerifier(
        [keys.own],
        trusted_keys=load_trusted_keys(pem),
        trusted_issuer=STUDIO,
        trusted_audience=AUDIENCE,
        leeway_seconds=LEEWAY,
    )


@pytest.fixture(scope="module")
def own_key() -> SigningKey:
    return SigningKey("k1", Ed25519PrivateKey.generate())


@pytest.mark.parametrize(("build", "description"), REFUSED)
def test_the_verifier_refuses_with_a_generic_description(
    build: Build,
    description: str,
    own_key: SigningKey,
    studio_key: rsa.RSAPrivateKey,
    studio_pem: Path,
) -> None:
    keys = Keys(own_key, studio_key, int(time.time()))
    with pytest.raises(Unauthorized) as refused:
        service_verifier(keys, studio_pem).verify(build(keys))
    assert refused.value.description == description


@pytest.mark.parametrize("build", ACCEPTED)
def test_the_verifier_accepts_good_tokens(
    build: Build, own_key: SigningKey, studio_key: rsa.RSAPrivateKey, studio_pem: Path
) -> None:
    keys = Keys(own_key, studio_key, int(time.time()))
    principal = service_verifier(keys, studio_pem).verify(build(keys))
    assert (principal.kind, principal.xuid, principal.title_id) == ("player", XUID, TITLE_ID)


# --- through the real service -------------------------------------------------------


def routes() -> list[tuple[str, str, Any]]:
    """Every HTTP route that takes a token: (method, path, JSON body)."""
    user = f"/users/xuid({XUID})"
    return [
        ("POST", f"{user}/achievements/{SCID}/update", update_body([("1", 100)])),
        ("GET", f"{user}/achievements?titleId={TITLE_ID}", None),
        ("GET", f"{user}/achievements/{SCID}/1", None),
        ("DELETE", f"{user}/achievements/{SCID}", None),
        ("POST", f"{user}/delivery-credentials", {}),
        ("GET", f"{user}/activity", None),
        ("GET", f"{user}/history/titles?titleId={TITLE_ID}", None),
    ]


async def refusals(api: Api, token: str, description: str) -> list[str]:
    """What went wrong on each route (nothing, when every one answered the 401)."""
    expected = {"code": 4500, "source": "achievements", "description": description}
    wrong = []
    for method, path, body in routes():
        response = await api.client.request(method, path, json=body, headers=api.auth(token))
        if response.status_code != 401 or response.json() != expected:
            wrong.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
    return wrong


async def handshake_status(api: Api, token: str) -> int:
    """The HTTP status that answers a WebSocket handshake with this token."""
    url = api.base_url.replace("http", "ws", 1) + "/connect"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with websockets.connect(
            url, additional_headers=headers, subprotocols=[Subprotocol(SUBPROTOCOL)]
        ):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def test_every_route_refuses_bad_tokens_and_changes_nothing(
    api: Api, studio_key: rsa.RSAPrivateKey
) -> None:
    keys = Keys(await ensure_signing_key(api.db), studio_key, int(time.time()))
    wrong: list[str] = []
    for case in REFUSED:
        build, description = case.values
        token = build(keys)
        wrong += [f"{case.id}: {problem}" for problem in await refusals(api, token, description)]
        if (status := await handshake_status(api, token)) != 403:
            wrong.append(f"{case.id}: the WebSocket handshake got {status}")
    assert wrong == []

    assert await api.stored("1") is None
    async with api.db.read() as conn:
        assert await list_credentials(conn, title_id=TITLE_ID, sandbox="DEV.1") == []
    # The same routes take good tokens, from the studio and from within the leeway.
    for case in ACCEPTED:
        [build] = case.values
        response = await api.update([("1", 100)], token=build(keys))
        assert response.status_code in (200, 304), (case.id, response.text)
    assert await api.stored("1") == 100
