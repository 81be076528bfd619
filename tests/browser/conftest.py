"""Browser tests: Debian's `chromium` (never a downloaded browser) driven by Playwright
against a running service on 127.0.0.1, on SQLite: they test pages, not databases
(what every page reads and writes is tested on both databases over HTTP, in
tests/portal and tests/player), and they are the suite's slowest.

Every page a test opens is watched: a request to any other host than the service's
fails the test (and is aborted, so nothing leaves the machine), and so does a page
the Content-Security-Policy had to refuse something on. Where /usr/bin/chromium does
not exist at all, the tests are skipped with that reason (.ci/run installs it)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from laurels.db import Database
from laurels.settings import Settings
from tests.browser.helpers import ADMIN, Served, Watch, sign_in
from tests.helpers.databases import sqlite_copy
from tests.helpers.portal import add_person
from tests.helpers.service import running_service

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    )
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
def portal_settings(settings: Settings) -> Settings:
    """Plain HTTP: cookies without Secure, as the browser keeps them on 127.0.0.1."""
    return settings.with_changes(portal_secure_cookies="never")


@pytest.fixture
async def served(db: Database, portal_settings: Settings) -> AsyncIterator[Served]:
    """The service on a free port of 127.0.0.1, with an admin (ADMIN) who can sign in."""
    await add_person(db, ADMIN, "admin")
    async with running_service(portal_settings) as url:
        yield Served(url, db)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args, timeout=30_000
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser, served: Served) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile on the service; fails the test if a page asked for
    anything outside 127.0.0.1 or broke its Content-Security-Policy."""
    opened = await browser.new_context(
        base_url=served.url, viewport={"width": 1280, "height": 860}, locale="en-US"
    )
    opened.set_default_timeout(10_000)
    watch = Watch()
    await watch.attach(opened)
    try:
        yield opened
    finally:
        await opened.close()
    watch.check()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
async def admin(page: Page) -> Page:
    """`page` with the admin signed in through the sign-in form."""
    await sign_in(page, ADMIN)
    return page
