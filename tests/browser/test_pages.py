"""Every portal page and /docs in chromium: it loads with nothing asked of another
host (the `context` fixture fails the test otherwise) and axe finds no serious or
critical problem on it, as it first shows and with its forms' errors, a token shown
once or a stale save. One browser visits them all; the failure lists every page with
its problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from playwright.async_api import Page, expect

from tests.browser.helpers import ADMIN, Served, axe_violations, describe, sign_in
from tests.helpers.service import (
    OTHER_SCID,
    OTHER_TITLE_ID,
    TITLE_ID,
    achievement,
    publish_config,
    title_config,
)

SECRET = achievement("secret", secret=True, name="Hidden Grove", description="You found the grove.")
T = f"/portal/titles/{TITLE_ID}"
E = f"/portal/titles/{OTHER_TITLE_ID}"  # event-based

# The pages of a signed-in admin, with a published title (TITLE_ID, title-managed,
# in DEV.1) and an event-based one (OTHER_TITLE_ID), and the status each answers.
PAGES = [
    ("/portal/", 200),
    ("/portal/audit", 200),
    ("/portal/people", 200),
    ("/portal/titles/new", 200),
    (T, 200),
    (f"{T}/achievements/0", 200),
    (f"{T}/achievements/3", 200),  # the secret one
    (f"{T}/achievements/new", 200),
    (E, 200),
    (f"{E}/achievements/0", 200),
    (f"{E}/events/0", 200),
    (f"{E}/events/new", 200),
    (f"{E}/stats/0", 200),
    (f"{E}/stats/new", 200),
    (f"{T}/publish", 200),
    (f"{T}/publish?sandbox=DEV.2", 200),  # the changes against an empty sandbox
    (f"{T}/publish/retail", 200),
    (f"{T}/publish/retail?source=DEV.1:1", 200),
    (f"{T}/operate", 200),
    (f"{T}/operate/credentials", 200),
    (f"{T}/operate/webhooks", 200),
    ("/portal/testing", 200),
    ("/portal/testing?sandbox=DEV.1", 200),
    ("/portal/titles/999999", 404),  # the error page
]

State = Callable[[Page], Awaitable[None]]


async def sign_in_refused(page: Page) -> None:
    await page.goto("/portal/login")
    await page.get_by_label("Email").fill(ADMIN)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_be_visible()


async def new_title_refused(page: Page) -> None:
    await page.goto("/portal/titles/new")
    await page.get_by_label("Title id").fill("not a number")
    await page.get_by_role("button", name="Create the title").click()
    await expect(page.get_by_role("alert")).to_be_visible()


async def achievement_refused(page: Page) -> None:
    await page.goto(f"{T}/achievements/0")
    await page.get_by_label("Gamerscore").fill("5000")
    await page.get_by_label("Name", exact=True).fill("")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert")).to_be_visible()


async def stale_save(page: Page) -> None:
    """Two tabs on one achievement: the second save is refused with the difference."""
    await page.goto(f"{T}/achievements/1")
    other = await page.context.new_page()
    await other.goto(f"{T}/achievements/1")
    await other.get_by_label("Gamerscore").fill("15")
    await other.get_by_role("button", name="Save").click()
    await expect(other.get_by_role("status")).to_contain_text("revision")
    await other.close()
    await page.get_by_label("Gamerscore").fill("25")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("alert").first).to_be_visible()


async def person_refused(page: Page) -> None:
    await page.goto("/portal/people")
    form = page.locator("form[action='/portal/people']")
    await form.get_by_label("Email").fill("not an email")
    await form.get_by_label("First password").fill("short")
    await form.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("alert")).to_be_visible()


async def account_refused(page: Page) -> None:
    await page.goto("/portal/testing?sandbox=DEV.1")
    form = page.locator("form[action='/portal/testing/accounts']")
    await form.get_by_label("XUID").fill("not a xuid")
    await form.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("alert")).to_be_visible()


async def server_token_shown(page: Page) -> None:
    await page.goto(f"{T}/operate/credentials?sandbox=DEV.1")
    await page.get_by_role("button", name="Mint a game-server token").click()
    await expect(page.get_by_role("textbox", name="Game-server token")).not_to_have_value("")


async def webhook_refused(page: Page) -> None:
    await page.goto(f"{T}/operate/webhooks?sandbox=DEV.1")
    await page.get_by_label("URL").fill("not a url")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.get_by_role("alert")).to_be_visible()


STATES: list[State] = [
    new_title_refused,
    achievement_refused,
    stale_save,
    person_refused,
    account_refused,
    server_token_shown,
    webhook_refused,
]


async def problems_of(page: Page, path: str, status: int) -> str | None:
    answer = await page.goto(path)
    assert answer is not None
    if answer.status != status:
        return f"{path}: answered {answer.status}, not {status}"
    return await problems_here(page, path)


async def problems_here(page: Page, what: str) -> str | None:
    found = await axe_violations(page)
    return f"{what} ({page.url}):\n{describe(found)}" if found else None


async def test_every_portal_page_is_accessible(served: Served, page: Page) -> None:
    await publish_config(served.db, title_config(3, extra=[SECRET]))
    await publish_config(
        served.db,
        title_config(2, title_id=OTHER_TITLE_ID, scid=OTHER_SCID, kind="event-based"),
    )
    problems = [await problems_of(page, "/portal/login", 200)]
    await sign_in_refused(page)
    problems.append(await problems_here(page, "sign_in_refused"))
    await sign_in(page, ADMIN)
    problems += [await problems_of(page, path, status) for path, status in PAGES]
    for state in STATES:
        try:
            await state(page)
        except AssertionError as exc:
            problems.append(f"{state.__name__}: could not reach the state: {exc}")
            continue
        problems.append(await problems_here(page, state.__name__))
    found = [p for p in problems if p]
    assert not found, "\n".join(found)


async def test_docs_is_accessible(served: Served, page: Page) -> None:
    problem = await problems_of(page, "/docs", 200)
    assert problem is None, problem
