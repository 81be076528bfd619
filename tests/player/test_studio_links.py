"""A studio's login server hands out links itself: a "player-link" token signed by a
key of LAURELS_TRUSTED_KEYS_FILE, from LAURELS_TRUSTED_ISSUER, with a `jti` and an
`exp` at most 15 minutes away; it works once."""

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ec import generate_private_key as ec_key

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers.service import TITLE_ID, XUID, publish_config, running_service, title_config

STUDIO = "https://login.studio.test"


@pytest.fixture
async def studio(
    db: Database, settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, EllipticCurvePrivateKey]]:
    key = ec_key(SECP256R1())
    pem = tmp_path / "studio.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    await publish_config(db, title_config(2))
    trusting = settings.with_changes(trusted_keys_file=pem, trusted_issuer=STUDIO)
    async with running_service(trusting) as url, httpx.AsyncClient(base_url=url) as client:
        yield client, key


def studio_link(key: EllipticCurvePrivateKey, *, minutes: float = 10, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": STUDIO,
        "iat": now,
        "exp": now + int(minutes * 60),
        "typ": "player-link",
        "jti": uuid.uuid4().hex,
        "sub": XUID,
        "xuid": XUID,
        "tid": TITLE_ID,
        "sbx": "DEV.1",
        **changes,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="ES256")


async def test_a_studio_link_works_once(
    studio: tuple[httpx.AsyncClient, EllipticCurvePrivateKey],
) -> None:
    client, key = studio
    link = studio_link(key)
    first = await client.get("/play/enter", params={"link": link})
    assert first.status_code == 303
    assert first.headers["location"] == f"/play/{XUID}/"
    page = await client.get(f"/play/{XUID}/")
    assert page.status_code == 200
    assert (await client.get("/play/enter", params={"link": link})).status_code == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"minutes": 30},  # more than 15 minutes
        {"minutes": -1},  # expired
        {"jti": None},
        {"typ": "player"},
        {"iss": "https://someone.else.test"},
        {"sbx": "NOT A SANDBOX"},
    ],
)
async def test_a_studio_link_out_of_bounds_is_refused(
    studio: tuple[httpx.AsyncClient, EllipticCurvePrivateKey], changes: dict[str, Any]
) -> None:
    client, key = studio
    answer = await client.get("/play/enter", params={"link": studio_link(key, **changes)})
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
