"""The SDK's pure decisions about tokens (`laurels.sdk._token`): what a token says
of itself, whom it may deliver for, whether it may be kept in the queue file, and
what a 401/403 to a queued update costs, by what the update was sent with."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from laurels.auth.credentials import mint_delivery_token
from laurels.auth.service import SigningKey, mint_token
from laurels.sdk._token import (
    Blocked,
    Refusal,
    Source,
    Speaks,
    TokenClaims,
    on_refusal,
    read_claims,
    speaks_for,
    storable,
)

XUID = "2533274790395904"
OTHER = "2533274790395905"
NOW = 1_714_587_727.0
KEY = SigningKey("kid", Ed25519PrivateKey.generate())


def shaped(payload: Any) -> str:
    """A JWT-shaped token with this payload (the SDK never checks the signature)."""

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'EdDSA'})}.{part(payload)}.c2lnbmF0dXJl"


PLAYER = {"typ": "player", "sub": XUID, "xuid": XUID, "tid": 1234, "sbx": "DEV.1", "exp": NOW + 60}


@pytest.mark.parametrize(
    ("token", "claims"),
    [
        (
            mint_token(KEY, title_id=1234, sandbox="DEV.1", xuid=XUID, now=NOW),
            TokenClaims("player", XUID, 1234, "DEV.1", NOW + 24 * 3600),
        ),
        (
            mint_token(KEY, title_id=1234, sandbox="DEV.1", server=True, now=NOW),
            TokenClaims("server", None, 1234, "DEV.1", NOW + 24 * 3600),
        ),
        (
            mint_delivery_token(
                KEY,
                credential_id="c1",
                xuid=XUID,
                title_id=7,
                sandbox="RETAIL",
                ttl_seconds=10,
                now=NOW,
            ),
            TokenClaims("delivery", XUID, 7, "RETAIL", NOW + 10),
        ),
        (
            shaped({**PLAYER, "xuid": None, "sub": XUID}),
            TokenClaims("player", None, 1234, "DEV.1", NOW + 60),
        ),
        (shaped({"typ": "player", "sub": XUID}), TokenClaims("player", XUID, None, None, None)),
        (
            shaped({**PLAYER, "xuid": int(XUID)}),
            TokenClaims("player", XUID, 1234, "DEV.1", NOW + 60),
        ),
        (
            shaped({**PLAYER, "xuid": "abc", "sub": "abc"}),
            TokenClaims("player", None, 1234, "DEV.1", NOW + 60),
        ),
        (shaped({**PLAYER, "xuid": True}), TokenClaims("player", None, 1234, "DEV.1", NOW + 60)),
        (
            shaped({**PLAYER, "tid": "1234", "exp": "soon"}),
            TokenClaims("player", XUID, None, "DEV.1", None),
        ),
        (
            shaped({**PLAYER, "tid": True, "sbx": 5}),
            TokenClaims("player", XUID, None, None, NOW + 60),
        ),
        (shaped({**PLAYER, "typ": "admin"}), None),
        (shaped([PLAYER]), None),
        (shaped("player"), None),
        ("player-token", None),
        ("a.b.c", None),
        ("a.!!!.c", None),
        ("", None),
        ("a." + base64.urlsafe_b64encode(b"\xff\xfe").decode() + ".c", None),
    ],
)
def test_read_claims(token: str, claims: TokenClaims | None) -> None:
    assert read_claims(token) == claims


P = TokenClaims("player", XUID, 1234, "DEV.1", NOW + 60)
S = TokenClaims("server", None, 1234, "DEV.1", NOW + 60)


@pytest.mark.parametrize(
    ("claims", "xuid", "title_id", "sandbox", "verdict"),
    [
        (P, XUID, 1234, "DEV.1", Speaks.YES),
        (P, OTHER, 1234, "DEV.1", Speaks.NO),  # another player's token: never sent
        (P, XUID, 99, "DEV.1", Speaks.NO),
        (P, XUID, 1234, "DEV.2", Speaks.NO),
        (TokenClaims("player", XUID, 1234, "DEV.1", NOW), XUID, 1234, "DEV.1", Speaks.MAYBE),
        (TokenClaims("player", OTHER, 1234, "DEV.1", NOW), XUID, 1234, "DEV.1", Speaks.NO),
        (TokenClaims("player", None, 1234, "DEV.1", NOW + 60), XUID, 1234, "DEV.1", Speaks.MAYBE),
        (TokenClaims("player", XUID, None, None, None), XUID, 1234, "DEV.1", Speaks.YES),
        (S, XUID, 1234, "DEV.1", Speaks.YES),
        (S, OTHER, 1234, "DEV.1", Speaks.YES),
        (S, OTHER, 1, "DEV.1", Speaks.NO),
        (None, XUID, 1234, "DEV.1", Speaks.MAYBE),  # unreadable: tried last, never costly
    ],
)
def test_speaks_for(
    claims: TokenClaims | None, xuid: str, title_id: int, sandbox: str, verdict: Speaks
) -> None:
    assert speaks_for(claims, xuid=xuid, title_id=title_id, sandbox=sandbox, now=NOW) is verdict


@pytest.mark.parametrize(
    ("claims", "xuid", "kept"),
    [
        (P, XUID, True),
        (P, OTHER, False),
        (S, XUID, False),  # a game server's token never goes to a device's disk
        (None, XUID, False),  # nor one whose expiry we cannot read
        (TokenClaims("player", XUID, 1234, "DEV.1", None), XUID, False),
        (TokenClaims("player", XUID, 1234, "DEV.1", NOW), XUID, False),  # expired
        (TokenClaims("delivery", XUID, 1234, "DEV.1", NOW + 60), XUID, False),
        (TokenClaims("player", XUID, 99, "DEV.1", NOW + 60), XUID, False),
    ],
)
def test_storable(claims: TokenClaims | None, xuid: str, kept: bool) -> None:
    assert storable(claims, xuid=xuid, title_id=1234, sandbox="DEV.1", now=NOW) is kept


@pytest.mark.parametrize(
    ("source", "status", "from_service", "action"),
    [
        (Source.CREDENTIAL, 401, True, Refusal.FORGET_CREDENTIAL),  # revoked or expired
        (Source.CREDENTIAL, 401, False, Refusal.KEEP),  # a proxy's 401 costs nothing
        (Source.CREDENTIAL, 403, True, Refusal.SETTLE),  # e.g. a serverOnly achievement
        (Source.STORED_TOKEN, 401, True, Refusal.FORGET_STORED_TOKEN),
        (Source.STORED_TOKEN, 403, True, Refusal.FORGET_STORED_TOKEN),
        (Source.STORED_TOKEN, 403, False, Refusal.KEEP),
        (Source.TRY, 403, True, Refusal.KEEP),  # not that player's: keep, never dead-letter
        (Source.TRY, 401, True, Refusal.KEEP),
        (Source.TRY, 403, False, Refusal.KEEP),
        (Source.SESSION, 401, True, Refusal.SETTLE),
        (Source.SESSION, 403, True, Refusal.SETTLE),
        (Source.CREDENTIAL, 404, True, Refusal.SETTLE),
        (Source.TRY, 200, False, Refusal.SETTLE),
    ],
)
def test_on_refusal(source: Source, status: int, from_service: bool, action: Refusal) -> None:
    assert on_refusal(source, status, from_service=from_service) is action


@pytest.mark.parametrize(
    ("expired_at", "why"),
    [
        (None, "no session token is stored for them"),
        (NOW, "the session token stored for them has expired"),
    ],
)
def test_blocked_says_why_and_what_will_deliver(expired_at: float | None, why: str) -> None:
    text = Blocked("http://s", "DEV.1", 1234, XUID, 3, expired_at).describe()
    assert f"3 update(s) of player {XUID} (title 1234, DEV.1, http://s)" in text
    assert why in text
    assert "next game session" in text
    assert "`laurels sync`" in text
