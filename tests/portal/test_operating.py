"""Operating a title in the portal (issue 12): unlock counts and rarity equal to the
player API's, game-server tokens the API takes, delivery credentials listed and
revoked (then refused by the API), webhooks added, tested, removed and a failed
delivery sent again to a real receiver; non-admins change nothing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy import func, select

from laurels.portal.tables import audit_log
from laurels.settings import Settings
from laurels.webhooks import verify_signature
from laurels.webhooks.tables import webhook_deliveries, webhook_endpoints
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    answer,
    eventually,
    publish_config,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.portal import Portal
from tests.helpers.webhooks import Receiver

V2 = {"x-xbl-contract-version": "2"}
OPERATE = f"/portal/titles/{TITLE_ID}/operate"
CREDENTIALS = f"{OPERATE}/credentials?sandbox=DEV.1"
WEBHOOKS = f"{OPERATE}/webhooks?sandbox=DEV.1"
PLAYERS = [str(2533274790395904 + n) for n in range(12)]


@pytest.fixture
def portal_settings(settings: Settings) -> Settings:
    """Webhook retries that give up within a second, so a failed delivery is seen."""
    return settings.with_changes(
        portal_secure_cookies="never",
        webhook_retry_base_seconds=0.05,
        webhook_retry_max_seconds=0.05,
        webhook_give_up_seconds=0.4,
        webhook_poll_seconds=0.1,
    )


@pytest.fixture
async def api(portal: Portal) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the player API, the title published in DEV.1 and in its catalog."""
    await publish_config(portal.db, title_config(3))
    async with httpx.AsyncClient(base_url=portal.url) as client:
        token = await token_for(portal.db)
        await answer(
            lambda: client.get(
                f"/users/xuid({XUID})/achievements",
                params={"titleId": TITLE_ID},
                headers=_auth(token),
            ),
            lambda r: r.status_code == 200 and len(r.json()["achievements"]) == 3,
        )
        yield client


def _auth(token: str) -> dict[str, str]:
    return {**V2, "Authorization": f"Bearer {token}"}


async def _update(client: httpx.AsyncClient, token: str, xuid: str, *ids: str) -> httpx.Response:
    return await client.post(
        f"/users/xuid({xuid})/achievements/{SCID}/update",
        json=update_body([(i, 100) for i in ids], xuid=xuid),
        headers=_auth(token),
    )


async def _audited(portal: Portal, action: str) -> int:
    async with portal.db.read() as conn:
        query = select(func.count()).where(audit_log.c.action == action)
        return int((await conn.execute(query)).scalar_one())


def _minted(html: str) -> str:
    found = re.search(r'<textarea id="minted-token" readonly rows="4">([^<]+)</textarea>', html)
    assert found, html
    return found.group(1)


async def test_rarity_shown_equals_the_api_rarity(portal: Portal, api: httpx.AsyncClient) -> None:
    # 12 players: everyone unlocks 1, 4 unlock 2, one unlocks 3 (8.33 %: Rare).
    for n, xuid in enumerate(PLAYERS):
        ids = ["1"] + (["2"] if n < 4 else []) + (["3"] if n == 0 else [])
        assert (await _update(api, await token_for(portal.db, xuid=xuid), xuid, *ids)).is_success
    listed = await api.get(
        f"/users/xuid({PLAYERS[0]})/achievements",
        params={"titleId": TITLE_ID},
        headers=_auth(await token_for(portal.db, xuid=PLAYERS[0])),
    )
    by_api = {a["id"]: a["rarity"] for a in listed.json()["achievements"]}
    page = (await (await portal.person("viewer")).get(f"{OPERATE}?sandbox=DEV.1")).text
    rows = re.findall(
        r"<code>(\d)</code>.*?<td class=\"number\">(\d+)</td>\s*<td class=\"number\">(\d+)</td>"
        r"\s*<td class=\"number\" data-rarity=\"([\d.]+)\">[^<]*<span class=\"badge[^\"]*\">(\w+)<",
        page,
        re.S,
    )
    shown = {i: (int(u), int(p), float(pct), cat) for i, u, p, pct, cat in rows}
    assert shown == {
        "1": (12, 12, 100.0, "Common"),
        "2": (4, 12, 33.33, "Common"),
        "3": (1, 12, 8.33, "Rare"),
    }
    for achievement_id, (_, _, percent, category) in shown.items():
        assert by_api[achievement_id] == {
            "currentCategory": category,
            "currentPercentage": percent,
        }


async def test_a_minted_server_token_works_on_the_api(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    shown = await Portal.post(
        portal.client,
        f"{OPERATE}/server-token",
        {"sandbox": "DEV.1", "hours": "1"},
        page=CREDENTIALS,
    )
    assert shown.status_code == 200
    server = _minted(shown.text)
    assert (await _update(api, server, OTHER_XUID, "3")).is_success
    assert await _audited(portal, "server token minted") == 1
    assert server not in (await portal.client.get(CREDENTIALS)).text


async def test_delivery_credentials_listed_and_revoked(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    async def credential(xuid: str) -> dict[str, str]:
        token = await token_for(portal.db, xuid=xuid)
        issued = await api.post(f"/users/xuid({xuid})/delivery-credentials", headers=_auth(token))
        assert issued.status_code == 201, issued.text
        return dict(issued.json())

    one, two, other = await credential(XUID), await credential(XUID), await credential(OTHER_XUID)
    page = (await portal.client.get(CREDENTIALS)).text
    for c in (one, two, other):
        assert f"<code>{c['id']}</code>" in page
    assert (await _update(api, one["credential"], XUID, "1")).is_success

    revoked = await Portal.post(
        portal.client,
        f"{OPERATE}/credentials/revoke",
        {"sandbox": "DEV.1", "credential_id": one["id"]},
        page=CREDENTIALS,
    )
    assert revoked.status_code == 303
    assert (await _update(api, one["credential"], XUID, "2")).status_code == 401
    assert (await _update(api, two["credential"], XUID, "2")).is_success

    every = await Portal.post(
        portal.client,
        f"{OPERATE}/credentials/revoke",
        {"sandbox": "DEV.1", "xuid": XUID},
        page=CREDENTIALS,
    )
    assert every.status_code == 303
    assert (await _update(api, two["credential"], XUID, "3")).status_code == 401
    assert (await _update(api, other["credential"], OTHER_XUID, "3")).is_success
    assert await _audited(portal, "delivery credentials revoked") == 2


async def test_webhooks_add_test_redeliver_and_remove(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    receiver = Receiver(statuses=[500] * 1000)
    async with receiver.serving() as url:
        added = await Portal.post(
            portal.client,
            f"{OPERATE}/webhooks",
            {"sandbox": "DEV.1", "url": url, "description": "Studio bot"},
            page=WEBHOOKS,
        )
        assert added.status_code == 200
        secret = re.search(r'id="webhook-secret" type="text" readonly value="([^"]+)"', added.text)
        assert secret
        assert secret.group(1) not in (await portal.client.get(WEBHOOKS)).text
        async with portal.db.read() as conn:
            endpoint_id = (await conn.execute(select(webhook_endpoints.c.id))).scalar_one()

        # A test while the receiver fails: retried, then given up (failed), logged.
        sent = await Portal.post(
            portal.client,
            f"{OPERATE}/webhooks/test",
            {"endpoint_id": endpoint_id},
            page=WEBHOOKS,
        )
        assert sent.status_code == 303

        async def status() -> str | None:
            async with portal.db.read() as conn:
                found = (await conn.execute(select(webhook_deliveries.c.status))).scalar_one()
                return str(found)

        await eventually(lambda: _is(status, "failed"), what="the test delivery to fail")
        first = receiver.requests[0]
        body = json.loads(first.body)
        assert body["type"] == "laurels.test"
        assert body["data"] == {"sandbox": "DEV.1", "titleId": TITLE_ID, "endpointId": endpoint_id}
        assert verify_signature(secret.group(1), first.headers["laurels-signature"], first.body)
        failed_attempts = len(receiver.requests)
        log = (await portal.client.get(WEBHOOKS)).text
        assert len(re.findall(r"HTTP 500 \(\d+ ms\)", log)) == failed_attempts
        assert "Send again" in log

        # Sent again once the receiver is back: the same body and key, delivered.
        receiver.statuses.clear()
        async with portal.db.read() as conn:
            delivery_id = (await conn.execute(select(webhook_deliveries.c.id))).scalar_one()
        again = await Portal.post(
            portal.client,
            f"{OPERATE}/webhooks/redeliver",
            {"endpoint_id": endpoint_id, "delivery_id": str(delivery_id)},
            page=WEBHOOKS,
        )
        assert again.status_code == 303
        await eventually(lambda: _is(status, "delivered"), what="the redelivery")
        assert receiver.requests[-1].body == first.body
        assert receiver.requests[-1].headers["idempotency-key"] == body["id"]
        log = (await portal.client.get(WEBHOOKS)).text
        assert re.search(r"HTTP 200 \(\d+ ms\)", log)
        assert "Send again" not in log
        twice = await Portal.post(
            portal.client,
            f"{OPERATE}/webhooks/redeliver",
            {"endpoint_id": endpoint_id, "delivery_id": str(delivery_id)},
            page=WEBHOOKS,
        )
        assert twice.status_code == 409

        # A real unlock goes through the same endpoint and log.
        player = await token_for(portal.db, xuid=XUID)
        assert (await _update(api, player, XUID, "1")).is_success
        await eventually(lambda: len(receiver.requests) == failed_attempts + 2, what="the unlock")
        assert json.loads(receiver.requests[-1].body)["type"] == "achievement.unlocked"

        removed = await Portal.post(
            portal.client,
            f"{OPERATE}/webhooks/remove",
            {"endpoint_id": endpoint_id},
            page=WEBHOOKS,
        )
        assert removed.status_code == 303
        page = (await portal.client.get(WEBHOOKS)).text
        assert ">removed</span>" in page
        assert "Send a test" not in page
    for action in ("webhook added", "webhook test sent", "webhook delivery sent again"):
        assert await _audited(portal, action) == 1
    assert await _audited(portal, "webhook removed") == 1


async def _is(read: Callable[[], Awaitable[str | None]], wanted: str) -> bool:
    return await read() == wanted


async def test_non_admins_get_403_on_credentials_and_webhooks(
    portal: Portal, api: httpx.AsyncClient
) -> None:
    receiver = Receiver()
    async with receiver.serving() as url:
        added = await Portal.post(
            portal.client, f"{OPERATE}/webhooks", {"sandbox": "DEV.1", "url": url}, page=WEBHOOKS
        )
        assert added.status_code == 200
        async with portal.db.read() as conn:
            endpoint_id = (await conn.execute(select(webhook_endpoints.c.id))).scalar_one()
        token = await token_for(portal.db, xuid=XUID)
        issued = await api.post(f"/users/xuid({XUID})/delivery-credentials", headers=_auth(token))
        credential = issued.json()
        csrf_page = f"{OPERATE}?sandbox=DEV.1"
        actions = [
            (f"{OPERATE}/server-token", {"sandbox": "DEV.1", "hours": "1"}),
            (
                f"{OPERATE}/credentials/revoke",
                {"sandbox": "DEV.1", "credential_id": credential["id"]},
            ),
            (f"{OPERATE}/credentials/revoke", {"sandbox": "DEV.1", "xuid": XUID}),
            (f"{OPERATE}/webhooks", {"sandbox": "DEV.1", "url": url + "/other"}),
            (f"{OPERATE}/webhooks/test", {"endpoint_id": endpoint_id}),
            (f"{OPERATE}/webhooks/remove", {"endpoint_id": endpoint_id}),
            (f"{OPERATE}/webhooks/redeliver", {"endpoint_id": endpoint_id, "delivery_id": "1"}),
        ]
        for role in ("viewer", "editor", "publisher"):
            client = await portal.person(role)
            assert (await client.get(CREDENTIALS)).status_code == 403
            assert (await client.get(WEBHOOKS)).status_code == 403
            for path, data in actions:
                refused = await Portal.post(client, path, data, page=csrf_page)
                assert refused.status_code == 403, (role, path)
        async with portal.db.read() as conn:
            endpoints = (await conn.execute(select(webhook_endpoints))).all()
            deliveries = (
                await conn.execute(select(func.count()).select_from(webhook_deliveries))
            ).scalar_one()
        assert [(e.id, e.disabled_at) for e in endpoints] == [(endpoint_id, None)]
        assert deliveries == 0
        assert receiver.requests == []
        assert (await _update(api, credential["credential"], XUID, "1")).is_success
        async with portal.db.read() as conn:
            actions_logged = list((await conn.execute(select(audit_log.c.action))).scalars())
        assert actions_logged == ["webhook added"]
