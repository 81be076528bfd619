"""What the browser tests share: the served service, the watch on every request and
console message, signing in through the form, and axe."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Route,
    WebError,
    expect,
)

from laurels.db import Database
from tests.helpers.portal import PASSWORD

ADMIN = "admin@studio.test"
LOCAL_HOSTS = frozenset({"127.0.0.1"})
# Schemes that never reach the network.
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})
# axe impacts that fail a page.
FAILING_IMPACTS = frozenset({"serious", "critical"})


@dataclass
class Served:
    url: str
    db: Database


def leaves_host(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname not in LOCAL_HOSTS


@dataclass
class Watch:
    """Requests to other hosts (aborted), CSP refusals and script errors of a
    browser context."""

    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def attach(self, context: BrowserContext) -> None:
        context.on("request", self._request)
        context.on("console", self._console)
        context.on("weberror", self._error)
        await context.route("**/*", self._route)

    def _request(self, request: Request) -> None:
        if leaves_host(request.url) and request.url not in self.foreign:
            self.foreign.append(request.url)

    async def _route(self, route: Route) -> None:
        if leaves_host(route.request.url):
            await route.abort("blockedbyclient")
        else:
            await route.continue_()

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"CSP: {text} ({message.location.get('url')})")

    def _error(self, error: WebError) -> None:
        self.problems.append(f"script error: {error.error}")

    def check(self) -> None:
        assert not self.foreign, f"requests left 127.0.0.1: {self.foreign}"
        assert not self.problems, "\n".join(self.problems)


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through /portal/login as a person would: by the fields' labels."""
    await page.goto("/portal/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/portal/")


_AXE: str | None = None


def _axe_script() -> str:
    global _AXE
    if _AXE is None:
        # axe-core as axe-playwright-python ships it (the package has no types).
        from axe_playwright_python.base import AXE_SCRIPT  # type: ignore[import-untyped]

        _AXE = str(AXE_SCRIPT)
    return _AXE


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now."""
    await page.evaluate(_axe_script())
    results: dict[str, Any] = await page.evaluate(
        "options => axe.run(document, options)", {"resultTypes": ["violations"]}
    )
    violations: list[dict[str, Any]] = results["violations"]
    return [v for v in violations if v.get("impact") in FAILING_IMPACTS]


def describe(violations: list[dict[str, Any]], per_rule: int = 3) -> str:
    """Per rule: its impact, help, how many elements, and the first few (target, HTML)."""
    lines = []
    for v in violations:
        nodes = v["nodes"]
        lines.append(f"{v['id']} ({v['impact']}, {len(nodes)} elements): {v['help']}")
        for node in nodes[:per_rule]:
            target = json.dumps(node["target"])
            lines.append(f"    {target}: {node['html'][:200]}")
    return "\n".join(lines)


async def assert_accessible(page: Page) -> None:
    found = await axe_violations(page)
    assert not found, f"axe on {page.url}:\n{describe(found)}"


async def is_focused(locator: Locator) -> bool:
    focused: bool = await locator.evaluate("el => el === document.activeElement")
    return focused


async def tab_to(page: Page, locator: Locator, *, limit: int = 60) -> None:
    """Press Tab until `locator` has the focus, as a keyboard user reaches it; fails
    if `limit` presses never get there."""
    await expect(locator).to_be_visible()
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await is_focused(locator):
            return
    raise AssertionError(f"{locator} is not reachable with Tab ({limit} presses)")


async def described_by(field: Locator) -> str:
    """The text of the elements the field's aria-describedby names."""
    text: str = await field.evaluate(
        """el => (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean)
              .map(id => document.getElementById(id)).filter(Boolean)
              .map(e => e.textContent.trim()).join(' | ')"""
    )
    return text


class Mouse:
    """Drives a page as most people do: by pointer, filling fields by their labels."""

    name = "mouse"

    def __init__(self, page: Page) -> None:
        self.page = page

    async def fill(self, field: Locator, text: str) -> None:
        await field.fill(text)

    async def choose(self, field: Locator, shown: str) -> None:
        """Pick the option of a select whose text contains `shown`."""
        options = await field.locator("option").all_text_contents()
        match = next(o for o in options if shown in o)
        await field.select_option(label=match)

    async def tick(self, box: Locator) -> None:
        await box.check()

    async def upload(self, field: Locator, path: Path) -> None:
        await field.set_input_files(path)

    async def press(self, control: Locator) -> None:
        await control.click()


class Keyboard(Mouse):
    """Drives a page by keyboard alone: Tab to a control, then type, arrows, Space or
    Enter (links and buttons alternate between Enter and Space where both work)."""

    name = "keyboard"

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self._presses = 0
        # Playwright turns the browser's file chooser interception on with the first
        # listener, without waiting for it: subscribed only in `upload`, the Space could
        # reach the page first under load, and no chooser event came (CI, once).
        page.on("filechooser", lambda _: None)

    async def fill(self, field: Locator, text: str) -> None:
        await tab_to(self.page, field, limit=200)
        await self.page.keyboard.press("ControlOrMeta+a")
        await self.page.keyboard.press("Delete")
        await self.page.keyboard.type(text)

    async def choose(self, field: Locator, shown: str) -> None:
        await tab_to(self.page, field, limit=200)
        await self.page.keyboard.press("Home")
        count = await field.locator("option").count()
        for _ in range(count):
            chosen = await field.evaluate("el => el.options[el.selectedIndex].text")
            if shown in chosen:
                return
            await self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"no option {shown!r} reached with the arrow keys in {field}")

    async def tick(self, box: Locator) -> None:
        await tab_to(self.page, box, limit=200)
        await self.page.keyboard.press("Space")
        await expect(box).to_be_checked()

    async def upload(self, field: Locator, path: Path) -> None:
        await tab_to(self.page, field, limit=200)
        async with self.page.expect_file_chooser() as chooser:
            await self.page.keyboard.press("Space")
        await (await chooser.value).set_files(path)

    async def press(self, control: Locator) -> None:
        """Press a link or a form's button: every one in the portal loads a page,
        which is waited for (as a click does), so that the next Tab is on it."""
        await tab_to(self.page, control, limit=200)
        tag = await control.evaluate("el => el.tagName")
        self._presses += 1
        key = "Space" if tag == "BUTTON" and self._presses % 2 else "Enter"
        async with self.page.expect_navigation(wait_until="domcontentloaded"):
            await self.page.keyboard.press(key)
