"""Every portal page and /docs in chromium: it loads with nothing asked of another
host (the `context` fixture fails the test otherwise) and axe finds no serious or
critical problem on it. One browser visits every page; the failure lists every page
with its problems."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from tests.browser.helpers import Served, axe_violations, describe, sign_in
from tests.helpers.service import TITLE_ID, achievement, publish_config, title_config

SECRET = achievement("secret", secret=True, name="Hidden Grove", description="You found the grove.")

# The pages of a signed-in admin, with a published title (TITLE_ID), and the status
# each answers with.
PAGES = [
    ("/portal/", 200),
    ("/portal/audit", 200),
    ("/portal/people", 200),
    ("/portal/titles/new", 200),
    (f"/portal/titles/{TITLE_ID}", 200),
    (f"/portal/titles/{TITLE_ID}/publish", 200),
    (f"/portal/titles/{TITLE_ID}/operate", 200),
    ("/portal/testing", 200),
    ("/portal/titles/999999", 404),  # the error page
]


async def problems_of(page: Page, path: str, status: int) -> str | None:
    answer = await page.goto(path)
    assert answer is not None
    if answer.status != status:
        return f"{path}: answered {answer.status}, not {status}"
    await page.wait_for_load_state("networkidle")
    found = await axe_violations(page)
    return f"{path}:\n{describe(found)}" if found else None


async def test_every_portal_page_is_accessible(served: Served, page: Page) -> None:
    await publish_config(served.db, title_config(3, extra=[SECRET]))
    problems = [await problems_of(page, "/portal/login", 200)]
    await sign_in(page, "admin@studio.test")
    problems += [await problems_of(page, path, status) for path, status in PAGES]
    found = [p for p in problems if p]
    assert not found, "\n".join(found)


@pytest.mark.xfail(
    strict=True,
    reason="Swagger UI as served: no lang, low-contrast method badges and buttons, deep "
    "links nested in buttons (listed in /work/issue12_a11y.md, for web/docs.py)",
)
async def test_docs_is_accessible(served: Served, page: Page) -> None:
    problem = await problems_of(page, "/docs", 200)
    assert problem is None, problem
