"""Delivery credentials: issued to a player token, good only for posting that player's
progress updates, refused once expired or revoked (by the real `laurels credentials`
command, seen by a running service), and never accepted from a studio's login server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, inspect

from laurels.auth.credentials import (
    IssuedCredential,
    StoredCredential,
    issue_credential,
    list_credentials,
    mint_delivery_token,
)
from laurels.auth.service import (
    ISSUER,
    SigningKey,
    TokenVerifier,
    TrustedKey,
    ensure_signing_key,
)
from laurels.db import Database
from laurels.errors import Unauthorized
from laurels.schema import alembic_config, is_current, upgrade
from laurels.settings import Settings
from laurels.wire.times import format_time, parse_time, utcnow
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TIME_FORMAT,
    TITLE_ID,
    XUID,
    Api,
    answer,
    assert_error,
    laurels,
    pg_database,
    publish_config,
    running_service,
    title_config,
    token_for,
)

OTHER_TITLE_ID = 4321
OTHER_SCID = "6a2e0100-0000-0000-0000-0000000010e1"
STUDIO = "https://login.studio.example"


def credentials_path(xuid: str = XUID) -> str:
    return f"/users/xuid({xuid})/delivery-credentials"


async def get_credential(api: Api, token: str | None = None, xuid: str = XUID) -> dict[str, Any]:
    response = await api.client.post(credentials_path(xuid), json={}, headers=api.auth(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def stored(db: Database, xuid: str | None = XUID) -> list[StoredCredential]:
    async with db.read() as conn:
        return await list_credentials(conn, title_id=TITLE_ID, sandbox="DEV.1", xuid=xuid)


async def issue(db: Database, *, ttl_seconds: int, now: float | None = None) -> IssuedCredential:
    key = await ensure_signing_key(db)
    return await db.run_write(
        lambda conn: issue_credential(
            conn,
            key,
            xuid=XUID,
            title_id=TITLE_ID,
            sandbox="DEV.1",
            ttl_seconds=ttl_seconds,
            now=now,
        )
    )


Send = Callable[[], Awaitable[httpx.Response]]


# --- issuing ---------------------------------------------------------------------------


async def test_a_player_token_gets_a_delivery_credential(api: Api) -> None:
    before = utcnow()
    response = await api.client.post(credentials_path(), json={}, headers=api.auth())
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"credential", "id", "xuid", "titleId", "sandbox", "expiresAt"}
    assert (body["xuid"], body["titleId"], body["sandbox"]) == (XUID, TITLE_ID, "DEV.1")
    assert TIME_FORMAT.match(body["expiresAt"]), body["expiresAt"]
    lifetime = parse_time(body["expiresAt"]) - before
    assert timedelta(days=365) - timedelta(seconds=5) < lifetime <= timedelta(days=365, seconds=5)

    claims = jwt.decode(body["credential"], options={"verify_signature": False})
    header = jwt.get_unverified_header(body["credential"])
    assert header["alg"] == "EdDSA"
    assert (claims["typ"], claims["jti"], claims["iss"]) == ("delivery", body["id"], ISSUER)
    assert (claims["xuid"], claims["sub"], claims["tid"], claims["sbx"]) == (
        XUID,
        XUID,
        TITLE_ID,
        "DEV.1",
    )
    assert claims["exp"] - claims["iat"] == 365 * 24 * 3600
    assert parse_time(body["expiresAt"]).timestamp() == claims["exp"]

    [row] = await stored(api.db)
    assert (row.id, row.xuid, row.title_id, row.sandbox) == (body["id"], XUID, TITLE_ID, "DEV.1")
    assert row.expires_at_us == claims["exp"] * 1_000_000
    assert row.revoked_at_us is None

    # No body at all is fine too, and every request makes a new credential.
    bare = await api.client.post(credentials_path(), headers=api.auth())
    assert bare.status_code == 201, bare.text
    assert bare.json()["id"] != body["id"]
    assert len(await stored(api.db)) == 2


async def test_a_delivery_credential_posts_its_players_updates(api: Api) -> None:
    credential = (await get_credential(api))["credential"]
    assert (await api.update([("1", 40)], token=credential)).status_code == 200
    assert (await api.update([("1", 40)], token=credential)).status_code == 304
    earned = format_time(utcnow() - timedelta(hours=20))  # queued offline yesterday
    achieved = {"id": "2", "percentComplete": 100, "timeAchieved": earned}
    assert (await api.update([achieved], token=credential)).status_code == 200
    assert (await api.stored("1"), await api.stored("2")) == (40, 100)


async def test_what_a_delivery_credential_may_not_do(api: Api) -> None:
    credential = (await get_credential(api))["credential"]
    server = await token_for(api.db, server=True)
    other_player = await token_for(api.db, xuid=OTHER_XUID)
    await publish_config(api.db, title_config(2, title_id=OTHER_TITLE_ID, scid=OTHER_SCID))
    client = api.client
    one = f"/users/xuid({XUID})/achievements/{SCID}/1"
    reset = f"/users/xuid({XUID})/achievements/{SCID}"
    attempts: list[tuple[str, Send, int]] = [
        (
            "update another player",
            lambda: api.update([("1", 50)], xuid=OTHER_XUID, token=credential),
            403,
        ),
        ("update a serverOnly one", lambda: api.update([("server", 100)], token=credential), 403),
        ("read the list", lambda: api.achievements(token=credential), 403),
        ("read one", lambda: client.get(one, headers=api.auth(credential)), 403),
        ("reset", lambda: client.delete(reset, headers=api.auth(credential)), 403),
        (
            "mint a credential",
            lambda: client.post(credentials_path(), headers=api.auth(credential)),
            403,
        ),
        ("server mints", lambda: client.post(credentials_path(), headers=api.auth(server)), 403),
        (
            "player mints for another",
            lambda: client.post(credentials_path(), headers=api.auth(other_player)),
            403,
        ),
        ("no token", lambda: client.post(credentials_path(), headers=api.headers), 401),
        ("garbage", lambda: client.post(credentials_path(), headers=api.auth("not.a.token")), 401),
    ]
    # The other title reaches the service's catalog within its refresh interval.
    other_title = await answer(
        lambda: api.update([("1", 50)], scid=OTHER_SCID, token=credential),
        lambda r: r.status_code == 403,
    )
    assert_error(other_title, 403, "update another title")
    failures = []
    for what, send, status in attempts:
        try:
            assert_error(await send(), status, what)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
    assert await api.stored("1", OTHER_XUID) is None
    assert await api.stored("server") is None
    assert len(await stored(api.db, xuid=None)) == 1  # only the one minted above


async def test_an_expired_delivery_credential_is_refused(api: Api) -> None:
    issued = await issue(api.db, ttl_seconds=60, now=time.time() - 120)
    response = await api.update([("1", 10)], token=issued.credential)
    assert_error(response, 401)
    assert "expired" in response.json()["description"]
    assert await api.stored("1") is None


async def test_a_credential_revoked_by_the_command_line_is_refused_at_once(
    api: Api, database_url: str
) -> None:
    kept, revoked = await get_credential(api), await get_credential(api)
    assert (await api.update([("1", 10)], token=revoked["credential"])).status_code == 200

    done = await asyncio.to_thread(
        laurels, database_url, "credentials", "revoke", "--id", revoked["id"]
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert revoked["id"] in done.stdout

    # Until the service has seen the revocation these answer 304 (nothing to raise).
    response = await answer(
        lambda: api.update([("1", 10)], token=revoked["credential"]), lambda r: r.status_code == 401
    )
    assert response.json()["description"] == "delivery credential revoked"
    assert_error(await api.update([("1", 20)], token=revoked["credential"]), 401)
    assert await api.stored("1") == 10
    assert (await api.update([("1", 30)], token=kept["credential"])).status_code == 200
    assert (await api.update([("1", 40)])).status_code == 200  # the player token is untouched

    listed = await asyncio.to_thread(
        laurels,
        database_url,
        "credentials",
        "list",
        "--title-id",
        str(TITLE_ID),
        "--sandbox",
        "DEV.1",
    )
    assert listed.returncode == 0
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(lines) == {kept["id"], revoked["id"]}
    assert lines[kept["id"]].endswith("active")
    assert " revoked " in lines[revoked["id"]]

    revoked_all = await asyncio.to_thread(
        laurels,
        database_url,
        *("credentials", "revoke", "--xuid", XUID, "--title-id", str(TITLE_ID)),
        *("--sandbox", "DEV.1"),
    )
    assert revoked_all.returncode == 0
    assert "revoked 1 delivery credential(s)" in revoked_all.stdout
    await answer(
        lambda: api.update([("1", 40)], token=kept["credential"]), lambda r: r.status_code == 401
    )
    assert_error(await api.update([("1", 50)], token=kept["credential"]), 401)
    assert await api.stored("1") == 40


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["revoke", "--id", "0" * 32], "no delivery credential with id"),
        (["revoke", "--xuid", XUID], "give --id, or all of"),
        (["revoke", "--id", "x", "--xuid", XUID], "not both"),
        (["list", "--title-id", str(TITLE_ID), "--sandbox", "DEV.1", "--xuid", "gamer"], "XUID"),
    ],
)
async def test_the_command_line_refuses_with_one_line(
    database_url: str, args: list[str], message: str
) -> None:
    done = await asyncio.to_thread(laurels, database_url, "credentials", *args)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert done.stdout == ""


# --- tokens from elsewhere --------------------------------------------------------------


def test_only_this_service_issues_delivery_credentials() -> None:
    own = SigningKey("k1", Ed25519PrivateKey.generate())
    studio = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    trusted: dict[str | None, TrustedKey] = {None: TrustedKey.of(studio.public_key())}
    verifier = TokenVerifier([own], trusted_keys=trusted, trusted_issuer=STUDIO)
    token = mint_delivery_token(
        own, credential_id="c1", xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", ttl_seconds=60
    )
    principal = verifier.verify(token)
    assert (principal.kind, principal.xuid, principal.credential_id) == ("delivery", XUID, "c1")

    claims = jwt.decode(token, options={"verify_signature": False})
    for forged in ({**claims, "iss": STUDIO}, {**claims, "iss": STUDIO, "jti": None}):
        with pytest.raises(Unauthorized, match=r"^invalid token$"):
            verifier.verify(jwt.encode(forged, studio, algorithm="RS256"))
    without_jti = {k: v for k, v in claims.items() if k != "jti"}
    with pytest.raises(Unauthorized, match=r"^invalid token$"):
        verifier.verify(
            jwt.encode(without_jti, own.private_key, algorithm="EdDSA", headers={"kid": "k1"})
        )


@dataclass
class StudioService:
    client: httpx.AsyncClient
    db: Database
    studio: rsa.RSAPrivateKey

    def studio_token(self, typ: str) -> str:
        now = int(time.time())
        claims = {
            "iss": STUDIO,
            "iat": now,
            "exp": now + 600,
            "typ": typ,
            "jti": "forged",
            "sub": XUID,
            "xuid": XUID,
            "tid": TITLE_ID,
            "sbx": "DEV.1",
        }
        return jwt.encode(claims, self.studio, algorithm="RS256")

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}


@pytest.fixture
async def studio_service(
    db: Database, settings: Settings, tmp_path: Path
) -> AsyncIterator[StudioService]:
    studio = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "studio.pem"
    pem.write_bytes(
        studio.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    await publish_config(db, title_config(2))
    trusting = settings.with_changes(trusted_keys_file=pem, trusted_issuer=STUDIO)
    async with running_service(trusting) as url, httpx.AsyncClient(base_url=url) as client:
        yield StudioService(client, db, studio)


async def test_a_studio_delivery_token_is_refused_but_a_studio_player_gets_one(
    studio_service: StudioService,
) -> None:
    service = studio_service
    path = f"/users/xuid({XUID})/achievements/{SCID}/update"
    body = {
        "action": "progressUpdate",
        "serviceConfigId": SCID,
        "titleId": TITLE_ID,
        "userId": XUID,
        "achievements": [{"id": "1", "percentComplete": 100}],
    }
    forged = service.studio_token("delivery")
    response = await service.client.post(path, json=body, headers=service.headers(forged))
    assert_error(response, 401)

    player = service.studio_token("player")
    minted = await service.client.post(credentials_path(), headers=service.headers(player))
    assert minted.status_code == 201, minted.text
    credential = minted.json()["credential"]
    assert jwt.decode(credential, options={"verify_signature": False})["iss"] == ISSUER
    response = await service.client.post(path, json=body, headers=service.headers(credential))
    assert response.status_code == 200, response.text


# --- the migration ----------------------------------------------------------------------


def _upgrade_to_0001(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "0001")


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _upgrade_from_0001(url: str) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.write() as conn:
            await conn.run_sync(_upgrade_to_0001)
        async with db.read() as conn:
            before = await conn.run_sync(_tables)
        assert "signing_keys" in before
        assert "delivery_credentials" not in before
        assert not await is_current(db)
        await ensure_signing_key(db)  # data written at 0001 survives the upgrade
        await upgrade(db)
        assert await is_current(db)
        async with db.read() as conn:
            assert "delivery_credentials" in await conn.run_sync(_tables)
        issued = await issue(db, ttl_seconds=60)
        assert [c.id for c in await stored(db)] == [issued.id]
    finally:
        await db.dispose()


def test_the_migration_upgrades_a_0001_database(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("sqlite"):
        asyncio.run(_upgrade_from_0001(f"sqlite:///{tmp_path}/at-0001.db"))
        return
    with pg_database() as url:  # a fresh, empty one (not the migrated template)
        asyncio.run(_upgrade_from_0001(url))
