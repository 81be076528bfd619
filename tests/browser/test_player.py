"""The player page in chromium (issue 13): a player gets in through the link
`laurels player link` prints, sees their titles and a title's achievements and feed;
an unlock made elsewhere (a game calling the V2 API) shows one "Achievement
Unlocked" toast and updates the list and the feed in place; a dropped socket
neither repeats nor misses a toast; a secret achievement is never named before its
unlock; another player's page is refused; a French browser reads French.

The toast and page tests photograph the page: into $LAURELS_SCREENSHOTS when set
(docs/screenshots for the README), else into the test's temporary directory."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, WebSocketRoute, expect

from laurels.player.messages import ENGLISH, FRENCH
from tests.browser.helpers import Served, Watch, assert_accessible, tab_to
from tests.browser.player_helpers import (
    BY_ID,
    HEADERS,
    OTHER_XUID,
    SANDBOX,
    SECRET,
    SECRET_ID,
    SECRET_TEXT,
    TITLE_ID,
    TITLE_NAME,
    XUID,
    Loaded,
    log_toasts,
    minted_link,
    most_toasts_at_once,
    named,
    player_link,
    publish_title,
    toasts_shown,
    unlock,
)
from tests.helpers.service import (
    OTHER_SCID,
    OTHER_TITLE_ID,
    publish_config,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.waiting import eventually

# The bound: a toast within one second of the unlock.
TOAST_SECONDS = 1.0
# Subscriptions the title page opens: the title's notifications and its SCID's progress.
SUBSCRIPTIONS = 2


@pytest.fixture
async def title(served: Served, tmp_path: Path) -> Served:
    await publish_title(served, tmp_path)
    return served


@pytest.fixture
def loaded(context: BrowserContext) -> Loaded:
    record = Loaded()
    record.attach(context)
    return record


def screenshots(tmp_path: Path, database_url: str) -> Path:
    shots = os.environ.get("LAURELS_SCREENSHOTS")
    folder = Path(shots) if shots and database_url.startswith("sqlite") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def enter(page: Page, title: Served, xuid: str = XUID) -> None:
    """Follow a fresh link to the player's titles page."""
    await page.goto(await minted_link(title, xuid))
    await page.wait_for_url(f"**/play/{xuid}/")


async def open_title(page: Page) -> None:
    """The title's page, from the titles page's link when the player has played it."""
    link = page.get_by_role("link", name=TITLE_NAME)
    if await link.count():
        await link.click()
        await page.wait_for_url(f"**/play/{XUID}/titles/{TITLE_ID}*")
    else:
        await page.goto(f"/play/{XUID}/titles/{TITLE_ID}")
    await log_toasts(page)


def toasts(page: Page) -> Locator:
    return page.locator("#toasts").get_by_role("status")


def achievement(page: Page, name: str) -> Locator:
    return page.locator("#achievements").get_by_role("listitem").filter(has_text=name)


def feed_items(page: Page) -> Locator:
    return page.locator("#feed").get_by_role("listitem")


async def subscribed(loaded: Loaded, count: int = SUBSCRIPTIONS) -> None:
    """Waits for the page's socket to have `count` subscriptions answered."""

    def answered() -> int:
        return sum(bool(re.match(r"\[\s*1\s*,\s*\d+\s*,\s*0\s*,", f)) for f in loaded.frames)

    await eventually(lambda: answered() >= count, 10, what=f"{count} subscriptions answered")


async def shows_achieved(page: Page, name: str) -> None:
    row = achievement(page, name)
    await expect(row).to_contain_text(ENGLISH["achieved"])
    today = time.strftime("%Y-%m-%d", time.gmtime())
    await expect(row.locator("time")).to_have_attribute("datetime", re.compile(f"^{today}"))


async def test_a_link_opens_the_players_titles_once(
    title: Served, page: Page, database_url: str, tmp_path: Path
) -> None:
    await unlock(title, "1")  # a title played, for the titles page to list
    link = await player_link(title, database_url)
    await page.goto(link)
    await page.wait_for_url(f"**/play/{XUID}/")
    await expect(page.get_by_role("link", name=TITLE_NAME)).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-xuid", XUID)
    await assert_accessible(page)
    await page.set_viewport_size({"width": 1280, "height": 360})  # the table, not the void
    await page.screenshot(path=screenshots(tmp_path, database_url) / "player-titles.png")

    again = await page.goto(link)  # a link is good for one visit
    assert again is not None
    assert 400 <= again.status < 500, again.status
    await expect(page.get_by_role("heading", level=1)).to_have_text(ENGLISH["link_refused"])


async def test_an_unlock_shows_one_toast_and_updates_the_page(
    title: Served, page: Page, loaded: Loaded, database_url: str, tmp_path: Path
) -> None:
    """The toast log lives in the page's window: a reload would lose it, so every
    check on it also says that the page changed in place."""
    shots = screenshots(tmp_path, database_url)
    await unlock(title, "2", percent=75)  # in progress, for the page to show
    await unlock(title, "5")  # unlocked before the visit
    await enter(page, title)
    await open_title(page)
    await subscribed(loaded)
    first, second = BY_ID["1"], BY_ID["4"]
    await expect(achievement(page, "75%")).to_have_count(1)
    await expect(achievement(page, ENGLISH["secret_name"])).to_have_count(1)
    feed_before = await feed_items(page).count()
    await assert_accessible(page)
    await page.screenshot(path=shots / "player-title.png", full_page=True)

    # The secret one is counted, never named, in the page and everything it loaded.
    for text in (SECRET, SECRET_TEXT):
        assert text not in await page.content()
        assert text not in await loaded.everything()

    await unlock(title, first.id)
    started = time.monotonic()
    toast = toasts(page).filter(has_text=first.name)
    await expect(toast).to_be_visible(timeout=TOAST_SECONDS * 1000)
    assert time.monotonic() - started <= TOAST_SECONDS
    await expect(toasts(page)).to_have_count(1)
    await expect(toast).to_contain_text(ENGLISH["achievement_unlocked"])
    await expect(toast).to_contain_text(f"{first.gamerscore}\u00a0{ENGLISH['g']}")
    await shows_achieved(page, first.name)
    await expect(feed_items(page)).to_have_count(feed_before + 1)
    await assert_accessible(page)
    await page.screenshot(path=shots / "player-toast.png")
    assert named(await toasts_shown(page), first.name) == 1

    # Two unlocks in one update: two toasts in turn, never together; the secret one
    # is named now (its owner's notification).
    await unlock(title, second.id, SECRET_ID)
    await eventually(lambda: _count(page, 3), 20, what="the toasts of both unlocks, in turn")
    await shows_achieved(page, SECRET)
    await shows_achieved(page, second.name)
    await expect(feed_items(page)).to_have_count(feed_before + 3)
    shown = await toasts_shown(page)
    assert [named(shown, n) for n in (first.name, second.name, SECRET)] == [1, 1, 1], shown
    assert len(shown) == 3, shown
    assert await most_toasts_at_once(page) == 1

    # A locked achievement shows its locked description, not what it says once earned.
    await page.get_by_label(ENGLISH["show"]).select_option("locked")
    await page.get_by_role("button", name=ENGLISH["apply"]).click()
    locked = achievement(page, BY_ID["2"].name)
    await expect(locked).to_contain_text(f"Earn {BY_ID['2'].name}.")
    await expect(locked).not_to_contain_text(f"You earned {BY_ID['2'].name}.")


async def _count(page: Page, wanted: int) -> bool:
    return len(await toasts_shown(page)) >= wanted


async def test_a_dropped_socket_neither_repeats_nor_misses_a_toast(
    title: Served, page: Page
) -> None:
    """The page's socket goes through a proxy in the test; it is closed, and the
    page's next attempts refused, while a game unlocks; once let through, the page
    resubscribes from the last event it saw."""
    sockets: list[WebSocketRoute] = []
    refusals: set[asyncio.Task[None]] = set()
    open_gate = asyncio.Event()
    subscriptions: list[str] = []

    def proxy(route: WebSocketRoute) -> None:
        if sockets and not open_gate.is_set():
            refusals.add(asyncio.ensure_future(route.close(code=1001, reason="down")))
            return
        server = route.connect_to_server()
        sockets.append(route)

        def upstream(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("[1"):
                subscriptions.append(message)
            server.send(message)

        route.on_message(upstream)
        server.on_message(route.send)
        sockets.append(server)

    await page.route_web_socket(re.compile(r"/connect"), proxy)
    await enter(page, title)
    await open_title(page)
    await eventually(lambda: len(subscriptions) >= SUBSCRIPTIONS, 10, what="subscriptions")

    before, missed = BY_ID["1"], BY_ID["5"]
    await unlock(title, before.id)
    await expect(toasts(page).filter(has_text=before.name)).to_be_visible()
    await shows_achieved(page, before.name)

    first_page_side, first_server_side = sockets[0], sockets[1]
    await first_server_side.close(code=4001, reason="dropped")
    await first_page_side.close(code=1001, reason="going away")
    await unlock(title, missed.id)  # while the page has no socket
    open_gate.set()

    await expect(toasts(page).filter(has_text=missed.name)).to_be_visible(timeout=20_000)
    await shows_achieved(page, missed.name)
    # Resubscribed from the last event seen, so the service replays only the missed one.
    assert any('"since"' in s for s in subscriptions[SUBSCRIPTIONS:]), subscriptions
    shown = await toasts_shown(page)
    assert (named(shown, before.name), named(shown, missed.name)) == (1, 1), shown
    await asyncio.gather(*refusals)


async def test_another_players_page_is_refused(title: Served, page: Page) -> None:
    await enter(page, title)
    for path in (f"/play/{OTHER_XUID}/", f"/play/{OTHER_XUID}/titles/{TITLE_ID}"):
        answer = await page.goto(path)
        assert answer is not None
        assert answer.status == 403, path
        await expect(page.get_by_role("heading", level=1)).to_have_text(ENGLISH["forbidden"])
        assert TITLE_NAME not in await page.content()
    await assert_accessible(page)


@pytest.fixture
async def french(browser: Browser, served: Served) -> AsyncIterator[Page]:
    """A page of a browser whose language is French (fr-FR), watched like `page`."""
    opened = await browser.new_context(
        base_url=served.url, viewport={"width": 1280, "height": 860}, locale="fr-FR"
    )
    opened.set_default_timeout(10_000)
    watch = Watch()
    await watch.attach(opened)
    try:
        yield await opened.new_page()
    finally:
        await opened.close()
    watch.check()


async def test_a_french_browser_reads_french(title: Served, french: Page) -> None:
    page, loaded = french, Loaded()
    loaded.watch_page(page)
    await enter(page, title)
    await expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^fr"))
    await open_title(page)
    await expect(achievement(page, BY_ID["1"].french)).to_have_count(1)
    await expect(achievement(page, FRENCH["secret_name"])).to_have_count(1)
    await expect(page.get_by_label(FRENCH["show"])).to_be_visible()
    await expect(page.get_by_role("heading", name=FRENCH["feed"])).to_be_visible()
    await subscribed(loaded)
    await unlock(title, "1")
    toast = toasts(page).filter(has_text=BY_ID["1"].french)
    await expect(toast).to_contain_text(FRENCH["achievement_unlocked"])
    await expect(toast).not_to_contain_text(ENGLISH["achievement_unlocked"])
    await expect(achievement(page, BY_ID["1"].french)).to_contain_text(FRENCH["achieved"])
    await assert_accessible(page)


async def test_the_page_by_keyboard(title: Served, page: Page) -> None:
    """From the titles page to a title, then its filter and sort, by keyboard alone."""
    await unlock(title, "1")
    await enter(page, title)
    link = page.get_by_role("link", name=TITLE_NAME)
    await tab_to(page, link)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await assert_accessible(page)

    show = page.get_by_label(ENGLISH["show"])
    await tab_to(page, show)
    await page.keyboard.press("End")  # the last choice: locked only
    sort = page.get_by_label(ENGLISH["sort"])
    await tab_to(page, sort)
    await page.keyboard.press("End")
    apply = page.get_by_role("button", name=ENGLISH["apply"])
    await tab_to(page, apply)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"show=locked"))
    await expect(achievement(page, BY_ID["1"].name)).to_have_count(0)
    await expect(achievement(page, BY_ID["4"].name)).to_have_count(1)
    await assert_accessible(page)


async def test_the_titles_page_shows_an_unlock_in_any_of_the_players_games(
    title: Served, page: Page, loaded: Loaded
) -> None:
    """The session follows every game of the player in the sandbox: an unlock in a
    game other than the link's shows its toast on the titles page too."""
    other = title_config(2, title_id=OTHER_TITLE_ID, scid=OTHER_SCID)
    await publish_config(title.db, other, sandbox=SANDBOX)
    await unlock(title, "1")
    token = await token_for(title.db, xuid=XUID, title_id=OTHER_TITLE_ID, sandbox=SANDBOX)
    body = update_body([("1", 50)], xuid=XUID, scid=OTHER_SCID, title_id=OTHER_TITLE_ID)
    url = f"/users/xuid({XUID})/achievements/{OTHER_SCID}/update"
    headers = {**HEADERS, "Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=title.url, timeout=10) as client:

        async def played() -> bool:  # once the service has seen the new publish
            return (await client.post(url, json=body, headers=headers)).status_code == 200

        await eventually(played, 10, what="the second game published")
        await enter(page, title)
        await log_toasts(page)
        await subscribed(loaded, 4)  # two games: notifications and progress of each
        body = update_body([("2", 100)], xuid=XUID, scid=OTHER_SCID, title_id=OTHER_TITLE_ID)
        assert (await client.post(url, json=body, headers=headers)).status_code == 200
    await expect(toasts(page)).to_have_count(1)
    await expect(toasts(page)).to_contain_text("Achievement 2")
    assert named(await toasts_shown(page), "Achievement 2") == 1
