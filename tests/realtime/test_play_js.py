"""play.js, the player page's real-time script, in Debian's chromium against a
running service: a stand-in page (the body's data attributes, #toasts, the two live
sections) served at the service's origin through Playwright's routing, the real
socket authenticated by the session cookie. One toast per unlock, one after
another; the live parts refetched in place; a dropped socket resumed from the last
event without a repeated toast; no animation under reduced motion."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    WebSocketRoute,
    async_playwright,
    expect,
)

from laurels.realtime.browser import PLAYER_COOKIE
from tests.helpers import SCID, TITLE_ID, XUID, Api
from tests.helpers.databases import sqlite_copy
from tests.helpers.waiting import eventually

CHROMIUM = Path("/usr/bin/chromium")
STATIC = Path(__file__).resolve().parents[2] / "src" / "laurels" / "player" / "static"
HARNESS = "/play-harness/"
FRAGMENT = "/play-harness/fragment"
# The bound is one second from the unlock; some slack for a loaded machine.
TOAST_WITHIN_MS = 3_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")

PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Harness</title>
<link rel="stylesheet" href="/play-harness/toasts.css">
<script src="/play-harness/play.js" defer></script></head>
<body data-xuid="{XUID}" data-title-ids="{TITLE_ID}" data-scids="{SCID}"
 data-fragment="{FRAGMENT}">
<main><h1>Harness</h1>
<section id="achievements"><h2>Achievements</h2><p>refreshed 0</p></section>
<section id="feed"><h2>Feed</h2><p>refreshed 0</p></section></main>
<div id="toasts" class="toasts" data-title-text="Achievement Unlocked"
 data-gamerscore-text="G"></div>
</body></html>"""

# Runs through the DevTools protocol (not governed by the page's CSP): notes the
# text of every toast added, and the most toasts ever present at once.
TOAST_LOG = """() => {
  window.__toasts = []; window.__most = 0;
  const box = document.getElementById('toasts');
  new MutationObserver(records => {
    records.forEach(r => r.addedNodes.forEach(n => {
      if (n.nodeType === 1 && n.matches('[role="status"]'))
        window.__toasts.push(n.textContent.replace(/\\s+/g, ' ').trim());
    }));
    window.__most = Math.max(window.__most, box.querySelectorAll('[role="status"]').length);
  }).observe(box, {childList: true});
}"""


class Stand:
    """The stand-in page's routes: how often the fragment was asked for, and what
    the console said (a CSP refusal or a script error fails the test)."""

    def __init__(self) -> None:
        self.fragments = 0
        self.problems: list[str] = []

    async def attach(self, context: BrowserContext) -> None:
        await context.route(re.compile(r"/play-harness/"), self._route)
        context.on("weberror", lambda error: self.problems.append(str(error.error)))

    async def _route(self, route: Route) -> None:
        path = route.request.url.split("/play-harness/", 1)[1]
        csp = {"Content-Security-Policy": "default-src 'self'"}
        if path == "":
            await route.fulfill(body=PAGE, content_type="text/html", headers=csp)
        elif path == "fragment":
            self.fragments += 1
            n = self.fragments
            html = (
                f'<section id="achievements"><h2>Achievements</h2><p>refreshed {n}</p></section>'
                f'<section id="feed"><h2>Feed</h2><p>refreshed {n}</p></section>'
            )
            await route.fulfill(body=html, content_type="text/html")
        else:
            kind = "text/javascript" if path.endswith(".js") else "text/css"
            await route.fulfill(body=(STATIC / path).read_text(), content_type=kind)


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    """The script is what is tested here, not the database: SQLite only."""
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    # A page Playwright fulfils has no address of its own, so Chromium counts it
    # public and blocks its socket to 127.0.0.1 (Local Network Access); the player
    # page the service serves itself is on 127.0.0.1 and needs no such switch.
    args = ["--disable-features=LocalNetworkAccessChecks"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args, timeout=30_000
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _open(browser: Browser, api: Api, *, reduced: bool = False) -> tuple[Page, Stand]:
    context = await browser.new_context(
        base_url=api.base_url, reduced_motion="reduce" if reduced else "no-preference"
    )
    context.set_default_timeout(10_000)
    await context.add_cookies(
        [{"name": PLAYER_COOKIE, "value": api.token, "url": api.base_url, "httpOnly": True}]
    )
    stand = Stand()
    await stand.attach(context)
    page = await context.new_page()
    return page, stand


async def _visit(page: Page) -> list[str]:
    """Open the stand-in page; returns the list that collects every subscribe
    answer the page receives (wait on it before unlocking)."""
    answers: list[str] = []

    def note(frame: str | bytes) -> None:
        if isinstance(frame, str) and frame.startswith("[1,"):
            answers.append(frame)

    page.on("websocket", lambda ws: ws.on("framereceived", note))
    await page.goto(HARNESS)
    await page.evaluate(TOAST_LOG)
    return answers


async def _log(page: Page) -> tuple[list[str], int]:
    shown: list[str] = await page.evaluate("() => window.__toasts.slice()")
    most: int = await page.evaluate("() => window.__most")
    return shown, most


async def test_one_toast_per_unlock_in_turn_and_the_live_parts_refreshed(
    browser: Browser, api: Api
) -> None:
    page, stand = await _open(browser, api)
    answers = await _visit(page)
    await eventually(lambda: len(answers) >= 2, 10, what="both subscriptions answered")
    toasts = page.locator("#toasts").get_by_role("status")

    assert (await api.update([("1", 100)])).status_code == 200
    first = toasts.filter(has_text="Achievement 1")
    await expect(first).to_be_visible(timeout=TOAST_WITHIN_MS)
    await expect(first).to_contain_text("Achievement Unlocked")
    await expect(first).to_contain_text("10\u00a0G")
    await expect(page.locator("#feed")).not_to_contain_text("refreshed 0")
    await expect(page.locator("#achievements")).not_to_contain_text("refreshed 0")

    assert (await api.update([("2", 100), ("3", 100)])).status_code == 200
    await expect(toasts.filter(has_text="Achievement 2")).to_be_visible(timeout=15_000)
    await expect(toasts.filter(has_text="Achievement 3")).to_be_visible(timeout=15_000)
    await expect(toasts).to_have_count(0, timeout=15_000)  # they go away
    shown, most = await _log(page)
    assert [s.split("Unlocked ", 1)[1] for s in shown] == [
        "Achievement 1 10 G",  # the log turns the no-break space into a space
        "Achievement 2 10 G",
        "Achievement 3 10 G",
    ], shown
    assert most == 1  # one after another, never two at once
    for image in await page.locator("#toasts img").all():
        assert (await image.get_attribute("src") or "").startswith(("/", api.base_url))
    assert stand.problems == []


async def test_a_dropped_socket_resumes_from_the_last_event_without_a_repeat(
    browser: Browser, api: Api
) -> None:
    page, stand = await _open(browser, api, reduced=True)
    sockets: list[WebSocketRoute] = []
    subscribes: list[str] = []
    open_gate = asyncio.Event()
    closing: set[asyncio.Task[None]] = set()

    def proxy(route: WebSocketRoute) -> None:
        if sockets and not open_gate.is_set():  # the service is "down"
            closing.add(asyncio.ensure_future(route.close(code=1006, reason="down")))
            return
        server = route.connect_to_server()

        def upstream(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith("[1"):
                subscribes.append(message)
            server.send(message)

        route.on_message(upstream)
        server.on_message(route.send)
        sockets.extend([route, server])

    await page.route_web_socket(re.compile(r"/connect"), proxy)
    answers = await _visit(page)
    await eventually(lambda: len(answers) >= 2, 10, what="both subscriptions answered")
    toasts = page.locator("#toasts").get_by_role("status")

    assert (await api.update([("1", 100)])).status_code == 200
    toast = toasts.filter(has_text="Achievement 1")
    await expect(toast).to_be_visible(timeout=TOAST_WITHIN_MS)
    moving = await toast.evaluate("t => getComputedStyle(t).animationName")
    assert moving == "none"  # prefers-reduced-motion

    await sockets[1].close(code=4001, reason="dropped")
    await sockets[0].close(code=1001, reason="going away")
    assert (await api.update([("2", 100)])).status_code == 200  # while the page has none
    open_gate.set()

    await expect(toasts.filter(has_text="Achievement 2")).to_be_visible(timeout=20_000)
    await expect(toasts).to_have_count(0, timeout=20_000)
    resumed = subscribes[2:]
    assert resumed, subscribes
    assert all('"since"' in s for s in resumed), subscribes
    shown, _ = await _log(page)
    assert [sum(f"Achievement {n} " in s for s in shown) for n in (1, 2)] == [1, 1], shown
    kept = await page.evaluate("() => JSON.parse(sessionStorage.getItem('laurels.play.shown'))")
    assert len(kept) == 2, kept  # the two eventIds shown: a replay of them shows nothing
    assert stand.problems == []
    await asyncio.gather(*closing, return_exceptions=True)
