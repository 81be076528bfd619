"""Publishing in the portal over HTTP, on both databases: the draft's changes against a
development sandbox, publishing there (the player API then lists it), promoting an
exact tested version to RETAIL, confirmations for changes players would notice, the
publish rules, roles and the audit log."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.portal.tables import audit_log
from laurels.titles import service as titles
from laurels.titles.tables import config_versions
from laurels.wire.times import now_micros
from tests.helpers import (
    TITLE_ID,
    Api,
    achievement,
    eventually,
    publish_config,
    title_config,
    token_for,
)
from tests.helpers.portal import Portal

PAGE = f"/portal/titles/{TITLE_ID}/publish"
RETAIL_PAGE = f"{PAGE}/retail"
REVISION = re.compile(r'name="revision" value="(\d+)"')


async def import_draft(portal: Portal, config: dict[str, Any]) -> None:
    """Save the draft (as `laurels config import` does), publishing nothing."""
    parsed = titles.parse_config(config)

    async def work(conn: AsyncConnection) -> None:
        await titles.import_config(conn, config=parsed, base_dir=Path("."), now_us=now_micros())

    await portal.db.run_write(work)


async def stored(portal: Portal, sandbox: str) -> list[str]:
    """The documents of the sandbox's versions, oldest first."""
    async with portal.db.read() as conn:
        rows = await conn.execute(
            select(config_versions.c.document)
            .where(config_versions.c.sandbox == sandbox, config_versions.c.title_id == TITLE_ID)
            .order_by(config_versions.c.version)
        )
        return list(rows.scalars())


async def audited(portal: Portal, action: str) -> list[tuple[str, str]]:
    async with portal.db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.actor, audit_log.c.detail)
            .where(audit_log.c.action == action)
            .order_by(audit_log.c.id)
        )
        return [(r.actor, r.detail) for r in rows]


async def publish_form(client: httpx.AsyncClient, sandbox: str = "DEV.1") -> httpx.Response:
    """Review the draft against `sandbox`, then press "Publish to <sandbox>"."""
    page = f"{PAGE}?sandbox={sandbox}"
    shown = await client.get(page)
    assert f">Publish to {sandbox}</button>" in shown.text, shown.text
    found = REVISION.search(shown.text)
    assert found
    return await Portal.post(
        client, PAGE, {"sandbox": sandbox, "revision": found.group(1)}, page=page
    )


async def promote_form(
    client: httpx.AsyncClient, source: str, *, confirm: bool = False
) -> httpx.Response:
    page = f"{RETAIL_PAGE}?source={source}"
    data = {"source": source, **({"confirm": "yes"} if confirm else {})}
    return await Portal.post(client, RETAIL_PAGE, data, page=page)


async def test_the_diff_shows_added_removed_and_changed_achievements(portal: Portal) -> None:
    await publish_config(portal.db, title_config(3))
    draft = title_config(3, extra=[achievement("new", name="Brand New")])
    draft["achievements"][0]["gamerscore"] = 25
    draft["achievements"][0]["name"] = "First Steps"
    del draft["achievements"][1]
    await import_draft(portal, draft)

    page = await portal.client.get(f"{PAGE}?sandbox=DEV.1")
    assert page.status_code == 200
    html = page.text
    assert "Changes from DEV.1 to the draft" in html
    assert "stores the draft" in html
    assert "as version 2" in html
    rows = {
        key: row
        for key, row in re.findall(r'<th scope="row"><code>([^<]+)</code>(.*?)</tr>', html, re.S)
    }
    assert "added" in rows["new"]
    assert "Brand New" in rows["new"]
    assert "removed" in rows["2"]
    assert "changed" in rows["1"]
    assert "<code>gamerscore</code>: 10" in rows["1"]
    assert "becomes</span> 25" in rows["1"]
    assert "<code>name</code>: Achievement 1" in rows["1"]
    assert "becomes</span> First Steps" in rows["1"]
    assert "3" in rows  # moved up one place
    assert "<code>display order</code>: 3" in rows["3"]
    # A sandbox with nothing yet: everything is new.
    fresh = await portal.client.get(f"{PAGE}?sandbox=DEV.new")
    assert "DEV.new has no version of this title yet" in fresh.text
    bad = await portal.client.get(f"{PAGE}?sandbox=nope")
    assert bad.status_code == 400
    assert 'aria-invalid="true"' in bad.text
    assert 'id="sandbox-error"' in bad.text


async def test_publish_to_dev_then_the_player_api_lists_it(portal: Portal) -> None:
    await import_draft(portal, title_config(2, extra=[achievement("shiny", name="Shiny")]))
    publisher = await portal.person("publisher")
    done = await publish_form(publisher, "DEV.1")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{PAGE}?sandbox=DEV.1"
    shown = await publisher.get(done.headers["location"])
    assert "Published the draft to DEV.1 as version 1." in shown.text
    assert "No changes" in shown.text
    assert ">Publish to DEV.1</button>" not in shown.text  # nothing left to publish
    [(actor, detail)] = await audited(portal, "published")
    assert actor.startswith("publisher-")
    assert detail == "DEV.1 v1"

    async with httpx.AsyncClient(base_url=portal.url) as client:
        api = Api(client, portal.db, await token_for(portal.db), portal.url)

        async def listed() -> list[str]:
            answer = await api.achievements()
            if answer.status_code != 200:
                return []
            return [a["name"] for a in answer.json()["achievements"]]

        names = await eventually(listed, what="the player API to list the title")
        assert "Shiny" in names


async def test_a_publish_rule_refusal_is_shown_with_its_messages(portal: Portal) -> None:
    await publish_config(portal.db, title_config(2, kind="event-based"))
    await import_draft(portal, title_config(2))  # the kind changes
    shown = await portal.client.get(f"{PAGE}?sandbox=DEV.1")
    assert "a title&#39;s kind never changes" in shown.text
    assert ">Publish to DEV.1</button>" not in shown.text
    page = f"{PAGE}?sandbox=DEV.1"
    revision = REVISION.search((await portal.client.get(f"{PAGE}?sandbox=DEV.2")).text)
    assert revision
    refused = await Portal.post(
        portal.client, PAGE, {"sandbox": "DEV.1", "revision": revision.group(1)}, page=page
    )
    assert refused.status_code == 400
    assert "Nothing was published" in refused.text
    assert "a title&#39;s kind never changes" in refused.text
    assert len(await stored(portal, "DEV.1")) == 1
    assert await audited(portal, "published") == []


async def test_a_stale_review_or_retail_is_refused(portal: Portal) -> None:
    await import_draft(portal, title_config(2))
    page = f"{PAGE}?sandbox=DEV.1"
    found = REVISION.search((await portal.client.get(page)).text)
    assert found
    await import_draft(portal, title_config(3))  # someone saves after the review
    stale = await Portal.post(
        portal.client, PAGE, {"sandbox": "DEV.1", "revision": found.group(1)}, page=page
    )
    assert stale.status_code == 409
    assert "Review the changes below, then publish again" in stale.text
    retail = await Portal.post(
        portal.client, PAGE, {"sandbox": "RETAIL", "revision": "1"}, page=page
    )
    assert retail.status_code == 400
    assert "promote one on the RETAIL page" in retail.text
    assert await stored(portal, "DEV.1") == []
    assert await stored(portal, "RETAIL") == []


async def test_promote_gives_retail_exactly_the_tested_version(portal: Portal) -> None:
    await import_draft(portal, title_config(2))
    assert (await publish_form(portal.client)).status_code == 303
    await import_draft(portal, title_config(4))  # the draft moves on, untested
    choose = await portal.client.get(RETAIL_PAGE)
    assert '<option value="DEV.1:1"' in choose.text
    review = await portal.client.get(f"{RETAIL_PAGE}?source=DEV.1:1")
    assert "RETAIL has no version of this title yet" in review.text
    assert ">Promote to RETAIL</button>" in review.text
    assert 'name="confirm"' not in review.text  # nothing to confirm
    done = await promote_form(portal.client, "DEV.1:1")
    assert done.status_code == 303, done.text
    flashed = await portal.client.get(done.headers["location"])
    assert "Promoted DEV.1 version 1 to RETAIL as version 1." in flashed.text
    [tested] = await stored(portal, "DEV.1")
    assert await stored(portal, "RETAIL") == [tested]
    assert len(json.loads(tested)["achievements"]) == 2
    assert await audited(portal, "promoted") == [
        ("admin@studio.test", "from DEV.1 v1 to RETAIL v1, no confirmation needed")
    ]
    missing = await portal.client.get(f"{RETAIL_PAGE}?source=DEV.1:9")
    assert missing.status_code == 404


@pytest.mark.parametrize("role", ["viewer", "editor"])
async def test_viewers_and_editors_see_changes_but_cannot_publish(
    portal: Portal, role: str
) -> None:
    await publish_config(portal.db, title_config(2))
    await import_draft(portal, title_config(3))
    client = await portal.person(role)
    page = await client.get(f"{PAGE}?sandbox=DEV.1")
    assert page.status_code == 200
    assert "Changes from DEV.1 to the draft" in page.text
    assert '<button type="submit">Publish' not in page.text
    assert f"you are {role}" in page.text
    retail = await client.get(f"{RETAIL_PAGE}?source=DEV.1:1")
    assert retail.status_code == 200
    assert "Changes to RETAIL" in retail.text
    assert "Promote to RETAIL</button>" not in retail.text

    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    posted = await client.post(
        PAGE, data={"csrf_token": token.group(1), "sandbox": "DEV.1", "revision": "2"}
    )
    assert posted.status_code == 403
    promoted = await client.post(
        RETAIL_PAGE, data={"csrf_token": token.group(1), "source": "DEV.1:1", "confirm": "yes"}
    )
    assert promoted.status_code == 403
    assert len(await stored(portal, "DEV.1")) == 1
    assert await stored(portal, "RETAIL") == []
    assert await audited(portal, "published") == await audited(portal, "promoted") == []


async def unlock_in_retail(portal: Portal, achievement_id: str) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as client:
        token = await token_for(portal.db, server=True, sandbox="RETAIL")
        api = Api(client, portal.db, token, portal.url)

        async def unlocked() -> bool:
            return (await api.update([(achievement_id, 100)])).status_code == 200

        await eventually(unlocked, what="the RETAIL title to take updates")


@pytest.mark.parametrize(
    ("change", "shown_change"),
    [
        (lambda c: c["achievements"].pop(0), "removed"),
        (lambda c: c["achievements"][0].update(gamerscore=90), "gamerscore 10 → 90"),
    ],
    ids=["removed", "gamerscore"],
)
async def test_a_change_to_an_unlocked_achievement_needs_confirming(
    portal: Portal, change: Any, shown_change: str
) -> None:
    await publish_config(portal.db, title_config(3))
    assert (await promote_form(portal.client, "DEV.1:1")).status_code == 303
    await unlock_in_retail(portal, "1")
    changed = title_config(3)
    change(changed)
    await import_draft(portal, changed)
    assert (await publish_form(portal.client)).status_code == 303  # DEV.1 v2

    review = await portal.client.get(f"{RETAIL_PAGE}?source=DEV.1:2")
    assert "Players will notice" in review.text
    assert re.search(
        rf"Achievement 1</th><td class=\"number\">1</td><td>{shown_change}<", review.text
    )
    assert '<label for="confirm">I understand' in review.text
    refused = await promote_form(portal.client, "DEV.1:2")
    assert refused.status_code == 409
    assert 'aria-describedby="confirm-error"' in refused.text
    assert 'href="#confirm"' in refused.text  # listed in the errors summary
    assert len(await stored(portal, "RETAIL")) == 1
    assert await audited(portal, "promoted") == [
        ("admin@studio.test", "from DEV.1 v1 to RETAIL v1, no confirmation needed")
    ]

    done = await promote_form(portal.client, "DEV.1:2", confirm=True)
    assert done.status_code == 303, done.text
    assert await stored(portal, "RETAIL") == await stored(portal, "DEV.1")
    assert (await audited(portal, "promoted"))[-1] == (
        "admin@studio.test",
        "from DEV.1 v2 to RETAIL v2, confirmed (unlocked achievements changed: 1)",
    )


async def test_a_kind_change_is_refused_even_with_confirmation(portal: Portal) -> None:
    await publish_config(portal.db, title_config(2), sandbox="RETAIL")
    await publish_config(portal.db, title_config(2, kind="event-based"), sandbox="DEV.2")
    review = await portal.client.get(f"{RETAIL_PAGE}?source=DEV.2:1")
    assert "no confirmation overrides these" in review.text
    assert "a title&#39;s kind never changes" in review.text
    assert "Promote to RETAIL</button>" not in review.text
    refused = await promote_form(portal.client, "DEV.2:1", confirm=True)
    assert refused.status_code == 400
    assert "Nothing was published" in refused.text
    assert "a title&#39;s kind never changes" in refused.text
    assert len(await stored(portal, "RETAIL")) == 1
    assert await audited(portal, "promoted") == []
