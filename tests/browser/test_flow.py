"""The issue's story in chromium, once by pointer and once by keyboard alone: sign
in; create a title and an achievement with an icon; see its three previews; publish
to DEV.1; the player API lists it (with a token the portal gives a test account);
promote to RETAIL; the secret one shows no name to a player before unlock, and its
name once unlocked.

The pointer run also photographs the main pages: into $LAURELS_SCREENSHOTS when set
(docs/screenshots for the README), else into the test's temporary directory."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.async_api import Page, expect

from laurels.titles.schemas import SECRET_NAME
from tests.browser.helpers import ADMIN, Keyboard, Mouse, Served, axe_violations, describe
from tests.helpers.portal import PASSWORD
from tests.helpers.service import token_for

TITLE = 4242
XUID = "2533274790395904"
HEADERS = {"x-xbl-contract-version": "2"}


def icon(path: Path, colour: str) -> Path:
    """A 128x128 PNG: a coloured medal on a dark square."""
    image = Image.new("RGB", (128, 128), "#1d2433")
    draw = ImageDraw.Draw(image)
    draw.ellipse((16, 16, 112, 112), fill=colour, outline="#f5f0e1", width=6)
    draw.polygon(
        [
            (64, 36),
            (74, 58),
            (98, 60),
            (80, 76),
            (86, 100),
            (64, 87),
            (42, 100),
            (48, 76),
            (30, 60),
            (54, 58),
        ],
        fill="#f5f0e1",
    )
    image.save(path)
    return path


class Camera:
    """Photographs a page (when given a folder) and runs axe on it; the problems are
    asserted at the end, so that one run reports them all."""

    def __init__(self, page: Page, folder: Path | None) -> None:
        self.page, self.folder = page, folder
        self.problems: list[str] = []

    async def shoot(self, name: str, *, photo: bool = True, whole: bool = False) -> None:
        if photo and self.folder is not None:
            await self.page.screenshot(path=self.folder / f"{name}.png", full_page=whole)
        found = await axe_violations(self.page)
        if found:
            self.problems.append(f"{name} ({self.page.url}):\n{describe(found)}")


async def achievements(served: Served, token: str, xuid: str = XUID) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        answer = await client.get(
            f"/users/xuid({xuid})/achievements",
            params={"titleId": TITLE},
            headers={**HEADERS, "Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    return {a["id"]: a for a in answer.json()["achievements"]}


async def unlock(served: Served, token: str, scid: str, achievement_id: str) -> None:
    body = {
        "action": "progressUpdate",
        "serviceConfigId": scid,
        "titleId": TITLE,
        "userId": XUID,
        "achievements": [{"id": achievement_id, "percentComplete": 100}],
    }
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        answer = await client.post(
            f"/users/xuid({XUID})/achievements/{scid}/update",
            json=body,
            headers={**HEADERS, "Authorization": f"Bearer {token}"},
        )
    assert answer.status_code in (200, 204), answer.text


async def flash(page: Page, text: str | re.Pattern[str]) -> None:
    await expect(page.get_by_role("status")).to_contain_text(text)


@pytest.mark.parametrize("how", ["mouse", "keyboard"])
async def test_a_studio_ships_an_achievement(
    served: Served, page: Page, tmp_path: Path, how: str, database_url: str
) -> None:
    act = Mouse(page) if how == "mouse" else Keyboard(page)
    shots = os.environ.get("LAURELS_SCREENSHOTS")
    folder = None
    if how == "mouse":
        folder = Path(shots) if shots and database_url.startswith("sqlite") else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
    camera = Camera(page, folder)
    medal, gem = icon(tmp_path / "medal.png", "#d4a017"), icon(tmp_path / "gem.png", "#2e8b57")

    # Sign in.
    await page.goto("/portal/login")
    await camera.shoot("sign-in")
    await act.fill(page.get_by_label("Email"), ADMIN)
    await act.fill(page.get_by_label("Password"), PASSWORD)
    await act.press(page.get_by_role("button", name="Sign in"))
    await expect(page.get_by_role("heading", level=1, name="Titles")).to_be_visible()

    # Create a title: it starts with one achievement, "1".
    await act.press(page.get_by_role("link", name="Create a title"))
    await act.fill(page.get_by_label("Title id"), str(TITLE))
    await act.fill(page.get_by_label("Name"), "Skyward Tales")
    await act.choose(page.get_by_label("Kind"), "title-managed")
    await act.press(page.get_by_role("button", name="Create the title"))
    await flash(page, f"Title {TITLE} created")

    # Achievement "1" gets a name and an icon.
    await act.press(page.get_by_role("link", name="Edit achievement '1'"))
    await act.fill(page.get_by_label("Name", exact=True), "First Flight")
    await act.fill(page.get_by_label("Unlocked description", exact=True), "You took off.")
    await act.upload(page.get_by_label("Upload an icon"), medal)
    await act.press(page.get_by_role("button", name="Save"))
    await flash(page, "revision")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Achievement 1")

    # A secret achievement with an icon of its own.
    await act.press(page.get_by_role("link", name="Back to the draft"))
    await act.press(page.get_by_role("link", name="Add an achievement"))
    await act.fill(page.get_by_label("Id", exact=True), "grove")
    await act.fill(page.get_by_label("Name", exact=True), "Hidden Grove")
    await act.fill(page.get_by_label("Locked description", exact=True), "Somewhere, water.")
    await act.fill(page.get_by_label("Unlocked description", exact=True), "You found the grove.")
    await act.fill(page.get_by_label("Gamerscore"), "20")
    await act.tick(page.get_by_label("Secret"))
    await act.upload(page.get_by_label("Upload an icon"), gem)
    await act.press(page.get_by_role("button", name="Save"))
    await flash(page, "revision")

    # Its three previews: locked and unlocked with the stored icon, and the secret look
    # without its name.
    locked = page.get_by_role("region", name="Locked", exact=True)
    unlocked = page.get_by_role("region", name="Unlocked", exact=True)
    secret = page.get_by_role("region", name="Secret, before it is unlocked")
    for look in (locked, unlocked):
        await expect(look).to_contain_text("Hidden Grove")
        image = look.locator("img")  # decorative: alt=""
        await expect(image).to_have_count(1)
        # decode() waits for the image (and fails for a broken one): loaded, then sized.
        width = await image.evaluate("img => img.decode().then(() => img.naturalWidth, () => 0)")
        assert width > 0, "the preview's icon did not load"
    await expect(locked).to_contain_text("Somewhere, water.")
    await expect(unlocked).to_contain_text("You found the grove.")
    await expect(secret).to_contain_text("Secret achievement")
    await expect(secret).not_to_contain_text("Hidden Grove")
    await camera.shoot("achievement-previews")
    await act.press(page.get_by_role("link", name="Back to the draft"))
    await expect(page.get_by_role("cell", name="Hidden Grove", exact=True)).to_be_visible()
    await camera.shoot("draft")

    # Publish to DEV.1, after seeing what changes.
    await act.press(page.get_by_role("link", name="Publish", exact=True))
    await act.fill(page.get_by_label("Development sandbox"), "DEV.1")
    await act.press(page.get_by_role("button", name="Show changes"))
    changes = page.get_by_role("table", name=re.compile("^Achievements"))
    await expect(changes).to_contain_text("grove")
    await expect(changes).to_contain_text("added")
    await camera.shoot("publish-changes", whole=True)
    await act.press(page.get_by_role("button", name="Publish to DEV.1"))
    await flash(page, "Published the draft to DEV.1 as version 1")

    # A test account of DEV.1 gets a player token from the portal; the API lists both
    # achievements, the secret one nameless.
    await act.press(page.get_by_role("link", name="Test accounts"))
    adding = page.locator("form[action='/portal/testing/accounts']")
    await act.fill(adding.get_by_label("Sandbox to add to"), "DEV.1")
    await act.fill(adding.get_by_label("XUID"), XUID)
    await act.fill(adding.get_by_label("Name"), "QA Alice")
    await act.press(adding.get_by_role("button", name="Add"))
    await flash(page, "QA Alice")
    await camera.shoot("test-accounts")
    minting = page.locator("form[action='/portal/testing/token']")
    await act.choose(minting.get_by_label("Test player"), "QA Alice")
    await act.choose(minting.get_by_label("Title for the token"), "Skyward Tales")
    await act.press(minting.get_by_role("button", name="Get a player token"))
    dev_token = await page.get_by_role("textbox", name="Player token").input_value()
    await camera.shoot("player-token", photo=False)  # a token: no picture
    assert dev_token.count(".") == 2, dev_token
    listed = await achievements(served, dev_token)
    assert set(listed) == {"1", "grove"}
    assert listed["1"]["name"] == "First Flight"
    assert listed["1"]["mediaAssets"][0]["url"], "the icon is not published"
    assert listed["grove"]["name"] == SECRET_NAME != "Hidden Grove"
    assert listed["grove"]["mediaAssets"] == []

    # Promote DEV.1 version 1 to RETAIL.
    await page.goto(f"/portal/titles/{TITLE}")
    await act.press(page.get_by_role("link", name="Publish", exact=True))
    await act.press(page.get_by_role("link", name="Promote a tested version to RETAIL"))
    await act.choose(page.get_by_label("Tested version"), "DEV.1 version 1")
    await act.press(page.get_by_role("button", name="Review changes"))
    await expect(page.get_by_role("table", name=re.compile("^Achievements"))).to_contain_text(
        "grove"
    )
    await camera.shoot("promote", whole=True)
    await act.press(page.get_by_role("button", name="Promote to RETAIL"))
    await flash(page, "Promoted DEV.1 version 1 to RETAIL as version 1")

    # In RETAIL the secret achievement has no name until the player unlocks it.
    retail = await token_for(served.db, xuid=XUID, title_id=TITLE, sandbox="RETAIL")
    listed = await achievements(served, retail)
    assert listed["grove"]["name"] == SECRET_NAME
    assert "grove" not in str(listed["grove"]["description"]).lower()
    await unlock(served, retail, listed["grove"]["serviceConfigId"], "grove")
    listed = await achievements(served, retail)
    assert listed["grove"]["name"] == "Hidden Grove"
    assert listed["grove"]["progressState"] == "Achieved"

    # Operating RETAIL: the unlock is counted.
    await act.press(page.get_by_role("link", name="Operate"))
    await act.choose(page.get_by_label("Sandbox"), "RETAIL")
    await act.press(page.get_by_role("button", name="Show"))
    row = page.get_by_role("row", name=re.compile("grove"))
    await expect(row).to_contain_text("100.00 %")
    await camera.shoot("operate")
    await page.goto("/portal/")
    await expect(page.get_by_role("cell", name="Skyward Tales")).to_be_visible()
    await camera.shoot("titles")
    assert not camera.problems, "axe:\n" + "\n".join(camera.problems)
