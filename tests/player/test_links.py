"""Getting in: a link works once, then is refused; an expired, forged or garbled
link is refused; the session cookie's flags."""

import asyncio
import time

import httpx
import jwt

from laurels.auth.service import ensure_signing_key
from laurels.player.links import link_url, mint_link
from laurels.settings import Settings
from tests.helpers.cli import laurels
from tests.helpers.service import TITLE_ID, XUID, Api, running_service, token_for
from tests.player.conftest import Player


async def test_a_link_printed_by_the_cli_works_once(player: Player, database_url: str) -> None:
    done = await asyncio.to_thread(
        laurels,
        database_url,
        "player",
        "link",
        "--xuid",
        XUID,
        "--title-id",
        str(TITLE_ID),
        "--sandbox",
        "DEV.1",
        "--base-url",
        player.api.base_url,
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(f"{player.api.base_url}/play/enter?link=")
    first = await player.enter(url)
    assert first.status_code == 303
    assert first.headers["location"] == f"/play/{XUID}/"
    page = await player.get(f"/play/{XUID}/", session=first.cookies["laurels_play"])
    assert page.status_code == 200
    again = await player.enter(url)
    assert again.status_code == 401
    assert "set-cookie" not in again.headers
    assert "This link does not work" in again.text


async def test_the_session_cookie_is_httponly_lax_on_the_whole_site(player: Player) -> None:
    answer = await player.enter(await player.link())
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("laurels_play=")
    assert "httponly" in cookie
    assert "path=/;" in cookie + ";"
    assert "samesite=lax" in cookie
    assert "secure" not in cookie  # plain HTTP, portal_secure_cookies=auto
    assert "max-age=43200" in cookie


async def test_the_cookie_is_secure_when_the_settings_say_so(api: Api, settings: Settings) -> None:
    key = await ensure_signing_key(api.db)
    token = mint_link(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1")
    secure = settings.with_changes(portal_secure_cookies="always")
    async with running_service(secure) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.get(link_url("", token))
    assert answer.status_code == 303
    assert "secure" in answer.headers["set-cookie"].lower()


async def test_an_expired_link_is_refused(player: Player) -> None:
    key = await ensure_signing_key(player.api.db)
    old = mint_link(
        key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", minutes=1, now=time.time() - 3600
    )
    answer = await player.enter(link_url("", old))
    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers


async def test_bad_links_are_refused(player: Player) -> None:
    key = await ensure_signing_key(player.api.db)
    good = jwt.decode(
        mint_link(key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1"),
        options={"verify_signature": False},
    )
    no_jti = {k: v for k, v in good.items() if k != "jti"}
    bad = [
        "",
        "garbage",
        await token_for(player.api.db),  # a player token is no link
        jwt.encode(no_jti, key.private_key, algorithm="EdDSA", headers={"kid": key.kid}),
        jwt.encode(good, "a shared secret that is long enough to sign", algorithm="HS256"),
    ]
    for token in bad:
        answer = await player.client.get("/play/enter", params={"link": token})
        assert answer.status_code == 401, token
        assert "set-cookie" not in answer.headers


async def test_a_page_without_a_session_or_with_another_token_is_refused(player: Player) -> None:
    async with httpx.AsyncClient(base_url=player.api.base_url) as fresh:
        assert (await fresh.get(f"/play/{XUID}/")).status_code == 401
    server = await token_for(player.api.db, server=True)
    assert (await player.get(f"/play/{XUID}/", session=server)).status_code == 401
    assert (await player.get(f"/play/{XUID}/", session="garbage")).status_code == 401
