"""Testing in the portal (issue 12): test accounts, player tokens that the player API
takes, resets of one and of every test player (refused in RETAIL as the API
refuses), and the live counts, over real HTTP and real forms."""

from __future__ import annotations

import html
import re

import httpx
from sqlalchemy import select

from laurels.portal.tables import audit_log, test_accounts
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    answer,
    publish_config,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.portal import Portal

PAGE = "/portal/testing?sandbox=DEV.1"
V2 = {"x-xbl-contract-version": "2"}


async def _accounts(portal: Portal) -> list[tuple[str, str, str]]:
    async with portal.db.read() as conn:
        rows = await conn.execute(
            select(test_accounts.c.sandbox, test_accounts.c.xuid, test_accounts.c.name).order_by(
                test_accounts.c.xuid
            )
        )
        return [tuple(row) for row in rows]


async def _actions(portal: Portal) -> list[str]:
    async with portal.db.read() as conn:
        return list((await conn.execute(select(audit_log.c.action))).scalars())


async def _add(client: httpx.AsyncClient, xuid: str, name: str) -> httpx.Response:
    return await Portal.post(
        client,
        "/portal/testing/accounts",
        {"sandbox": "DEV.1", "xuid": xuid, "name": name},
        page=PAGE,
    )


async def _publish(portal: Portal, sandbox: str = "DEV.1") -> None:
    """Publish the test title and wait until the service's catalog has it."""
    await publish_config(portal.db, title_config(3), sandbox=sandbox)
    token = await token_for(portal.db, sandbox=sandbox)
    async with httpx.AsyncClient(base_url=portal.url) as api:
        await answer(
            lambda: api.get(
                f"/users/xuid({XUID})/achievements",
                params={"titleId": TITLE_ID},
                headers={**V2, "Authorization": f"Bearer {token}"},
            ),
            lambda r: r.status_code == 200 and len(r.json()["achievements"]) == 3,
        )


async def _unlock(portal: Portal, token: str, xuid: str, *ids: str) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as api:
        answer = await api.post(
            f"/users/xuid({xuid})/achievements/{SCID}/update",
            json=update_body([(i, 100) for i in ids], xuid=xuid),
            headers={**V2, "Authorization": f"Bearer {token}"},
        )
        assert answer.status_code in (200, 204), answer.text


async def _unlocked(portal: Portal, token: str, xuid: str) -> dict[str, tuple[str, float]]:
    """Achievement id → (progressState, rarity percent) as the player API says."""
    async with httpx.AsyncClient(base_url=portal.url) as api:
        answer = await api.get(
            f"/users/xuid({xuid})/achievements",
            params={"titleId": TITLE_ID},
            headers={**V2, "Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        return {
            a["id"]: (a["progressState"], a["rarity"]["currentPercentage"])
            for a in answer.json()["achievements"]
        }


async def test_an_editor_adds_and_removes_a_test_account(portal: Portal) -> None:
    editor = await portal.person("editor")
    added = await _add(editor, XUID, "Ana's console")
    assert added.status_code == 303
    assert await _accounts(portal) == [("DEV.1", XUID, "Ana's console")]
    page = await editor.get(PAGE)
    assert "Ana&#39;s console" in page.text
    assert "is a test account of DEV.1" in page.text  # the flash

    again = await _add(editor, XUID, "Twice")
    assert again.status_code == 409
    bad = await _add(editor, "12ab", "Nobody")
    assert bad.status_code == 400
    assert 'aria-invalid="true"' in bad.text
    assert 'id="xuid-error"' in bad.text
    retail = await Portal.post(
        editor,
        "/portal/testing/accounts",
        {"sandbox": "RETAIL", "xuid": XUID, "name": "x"},
        page=PAGE,
    )
    assert retail.status_code == 400
    assert 'id="sandbox-error"' in retail.text
    assert len(await _accounts(portal)) == 1

    viewer = await portal.person("viewer")
    refused = await Portal.post(
        viewer, "/portal/testing/accounts/remove", {"sandbox": "DEV.1", "xuid": XUID}, page=PAGE
    )
    assert refused.status_code == 403
    assert len(await _accounts(portal)) == 1

    removed = await Portal.post(
        editor, "/portal/testing/accounts/remove", {"sandbox": "DEV.1", "xuid": XUID}, page=PAGE
    )
    assert removed.status_code == 303
    assert await _accounts(portal) == []
    assert (await _actions(portal)).count("test account added") == 1
    assert "test account removed" in await _actions(portal)


async def test_a_minted_player_token_works_on_the_player_api(portal: Portal) -> None:
    await _publish(portal)
    editor = await portal.person("editor")
    assert (await _add(editor, XUID, "Ana")).status_code == 303
    shown = await Portal.post(
        editor,
        "/portal/testing/token",
        {"sandbox": "DEV.1", "token_xuid": XUID, "token_title": str(TITLE_ID), "hours": "1"},
        page=PAGE,
    )
    assert shown.status_code == 200
    found = re.search(
        r'<textarea id="minted-token" readonly rows="4">([^<]+)</textarea>', shown.text
    )
    assert found, shown.text
    token = found.group(1)
    await _unlock(portal, token, XUID, "2")
    assert (await _unlocked(portal, token, XUID))["2"][0] == "Achieved"
    assert "player token minted" in await _actions(portal)
    # The player page link beside it opens the test player's page, once.
    link = re.search(r'<input id="minted-link" type="url" readonly value="([^"]+)">', shown.text)
    assert link, shown.text
    async with httpx.AsyncClient() as player:
        entered = await player.get(html.unescape(link.group(1)))
        assert entered.status_code == 303
        assert entered.headers["location"] == f"/play/{XUID}/"
        assert (await player.get(html.unescape(link.group(1)))).status_code == 401
    # Shown once: the page afterwards has no token.
    assert token not in (await editor.get(PAGE)).text
    unknown = await Portal.post(
        editor,
        "/portal/testing/token",
        {"sandbox": "DEV.1", "token_xuid": XUID, "token_title": "999", "hours": "1"},
        page=PAGE,
    )
    assert unknown.status_code == 400
    assert 'id="token_title-error"' in unknown.text


async def test_resetting_one_and_every_test_player(portal: Portal) -> None:
    await _publish(portal)
    for xuid, name in ((XUID, "Ana"), (OTHER_XUID, "Ben")):
        assert (await _add(portal.client, xuid, name)).status_code == 303
    ana = await token_for(portal.db, xuid=XUID)
    ben = await token_for(portal.db, xuid=OTHER_XUID)
    await _unlock(portal, ana, XUID, "1", "2")
    await _unlock(portal, ben, OTHER_XUID, "1")
    assert (await _unlocked(portal, ben, OTHER_XUID))["1"] == ("Achieved", 100.0)

    editor = await portal.person("editor")
    form = {"sandbox": "DEV.1", "reset_xuid": XUID, "reset_title": str(TITLE_ID)}
    refused = await Portal.post(editor, "/portal/testing/reset", form, page=PAGE)
    assert refused.status_code == 403
    assert (await _unlocked(portal, ana, XUID))["2"][0] == "Achieved"

    publisher = await portal.person("publisher")
    done = await Portal.post(publisher, "/portal/testing/reset", form, page=PAGE)
    assert done.status_code == 303
    ana_now = await _unlocked(portal, ana, XUID)
    assert {state for state, _ in ana_now.values()} == {"NotStarted"}
    ben_now = await _unlocked(portal, ben, OTHER_XUID)
    assert ben_now["1"] == ("Achieved", 100.0)  # 1 player of 1 now
    assert ben_now["2"] == ("NotStarted", 0.0)  # Ana's unlock is out of the counts

    every = {**form, "reset_xuid": "all"}
    assert (
        await Portal.post(publisher, "/portal/testing/reset", every, page=PAGE)
    ).status_code == 303
    assert {state for state, _ in (await _unlocked(portal, ben, OTHER_XUID)).values()} == {
        "NotStarted"
    }
    assert (await _unlocked(portal, ben, OTHER_XUID))["1"][1] == 0.0
    assert (await _actions(portal)).count("test players reset") == 2


async def test_a_retail_reset_is_refused_as_the_api_refuses(portal: Portal) -> None:
    await _publish(portal, "RETAIL")
    retail = await token_for(portal.db, xuid=XUID, sandbox="RETAIL")
    await _unlock(portal, retail, XUID, "1")
    server = await token_for(portal.db, sandbox="RETAIL", server=True)
    async with httpx.AsyncClient(base_url=portal.url) as api:
        by_api = await api.delete(
            f"/users/xuid({XUID})/achievements/{SCID}",
            headers={**V2, "Authorization": f"Bearer {server}"},
        )
    assert by_api.status_code == 403
    message = by_api.json()["description"]

    refused = await Portal.post(
        portal.client,
        "/portal/testing/reset",
        {"sandbox": "RETAIL", "reset_xuid": XUID, "reset_title": str(TITLE_ID)},
        page=PAGE,
    )
    assert refused.status_code == 403
    assert message.replace("'", "&#39;") in refused.text
    assert (await _unlocked(portal, retail, XUID))["1"][0] == "Achieved"
    assert "test players reset" not in await _actions(portal)


async def test_live_counts_as_json_and_on_the_page(portal: Portal) -> None:
    await _publish(portal)
    ana = await token_for(portal.db, xuid=XUID)
    empty = await portal.client.get("/portal/testing/live", params={"sandbox": "DEV.1"})
    assert empty.status_code == 200
    assert empty.json()["updates"] == {"lastHour": 0, "total": 0}
    async with httpx.AsyncClient(base_url=portal.url) as api:
        answer = await api.post(
            f"/users/xuid({XUID})/achievements/{SCID}/update",
            json=update_body([("1", 100), ("2", 40)]),
            headers={**V2, "Authorization": f"Bearer {ana}"},
        )
        assert answer.status_code in (200, 204)
    live = (await portal.client.get("/portal/testing/live", params={"sandbox": "DEV.1"})).json()
    assert live["sandbox"] == "DEV.1"
    assert live["updates"] == {"lastHour": 2, "total": 2}
    assert live["unlocks"] == {"lastHour": 1, "total": 1}
    page = await portal.client.get(PAGE)
    assert 'aria-live="polite"' in page.text
    assert 'data-live="/portal/testing/live?sandbox=DEV.1"' in page.text
    assert '<strong data-count="unlocks-total">1</strong>' in page.text
    assert "/portal/static/live.js?v=" in page.text
    script = await portal.client.get("/portal/static/live.js")
    assert script.status_code == 200
    async with httpx.AsyncClient(base_url=portal.url) as stranger:
        assert (await stranger.get("/portal/testing/live")).status_code == 303
