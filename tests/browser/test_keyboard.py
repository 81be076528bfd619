"""The portal by keyboard alone: every action is reached with Tab and done with Enter
or Space; a form's errors are tied to their fields."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.helpers import ADMIN, Served, described_by, is_focused, tab_to
from tests.helpers.portal import PASSWORD


async def test_sign_in_and_out_by_keyboard(served: Served, page: Page) -> None:
    await page.goto("/portal/login")
    # The first stop is the skip link; Enter moves to the page's content.
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert await is_focused(skip)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"#main$"))

    await tab_to(page, page.get_by_label("Email"))
    await page.keyboard.type(ADMIN)
    await tab_to(page, page.get_by_label("Password"))
    await page.keyboard.type(PASSWORD)
    await tab_to(page, page.get_by_role("button", name="Sign in"))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/portal/$"))
    await expect(page.get_by_role("heading", level=1, name="Titles")).to_be_visible()

    # Every link of the main navigation by keyboard.
    for name, heading in (("Audit log", "Audit log"), ("People", "People"), ("Titles", "Titles")):
        await tab_to(
            page, page.get_by_role("navigation", name="Main").get_by_role("link", name=name)
        )
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", level=1)).to_have_text(heading)

    await tab_to(page, page.get_by_role("button", name="Sign out"))
    await page.keyboard.press("Space")
    await expect(page).to_have_url(re.compile(r"/portal/login"))
    await expect(page.get_by_role("status")).to_contain_text("signed out")


async def test_add_a_person_and_change_a_role_by_keyboard(served: Served, admin: Page) -> None:
    await admin.goto("/portal/people")
    form = admin.locator("form[action='/portal/people']")
    await tab_to(admin, form.get_by_label("Email"))
    await admin.keyboard.type("designer@studio.test")
    await tab_to(admin, form.get_by_label("Role"))
    await admin.keyboard.press("End")  # the last role in the list
    await tab_to(admin, form.get_by_label("First password"))
    await admin.keyboard.type(PASSWORD)
    await tab_to(admin, form.get_by_role("button", name="Add"))
    await admin.keyboard.press("Space")
    await expect(admin.get_by_role("status")).to_contain_text(
        "designer@studio.test can now sign in"
    )

    role = admin.get_by_label("Role of designer@studio.test")
    await tab_to(admin, role)
    await admin.keyboard.press("Home")  # the first role in the list
    chosen = await role.input_value()
    await tab_to(admin, admin.get_by_role("button", name="Set role of designer@studio.test"))
    await admin.keyboard.press("Enter")
    await expect(admin.get_by_role("status")).to_contain_text(
        f"designer@studio.test is now {chosen}"
    )


async def test_sign_in_errors_are_tied_to_their_fields(served: Served, page: Page) -> None:
    await page.goto("/portal/login")
    await page.get_by_label("Email").fill(ADMIN)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()

    password = page.get_by_label("Password")
    await expect(password).to_have_attribute("aria-invalid", "true")
    message = await described_by(password)
    assert message, "the password field names no error"
    # The summary at the top says the same, has the focus (a keyboard user starts
    # from the problems) and links to the field.
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text(message)
    await expect(summary).to_be_focused()
    link = summary.get_by_role("link")
    await expect(link).to_have_attribute("href", "#password")
    # A field without an error is not marked invalid.
    await expect(page.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")

    # Both fields empty: each one carries its own message.
    await page.get_by_label("Email").fill("")
    await page.get_by_label("Password").fill("")
    await page.get_by_role("button", name="Sign in").click()
    for name in ("Email", "Password"):
        field = page.get_by_label(name)
        await expect(field).to_have_attribute("aria-invalid", "true")
        assert name.lower() in (await described_by(field)).lower()


async def test_people_form_errors_are_tied_to_their_fields(served: Served, admin: Page) -> None:
    await admin.goto("/portal/people")
    form = admin.locator("form[action='/portal/people']")
    await form.get_by_label("Email").fill("someone@studio.test")
    await form.get_by_label("First password").fill("short")
    await form.get_by_role("button", name="Add").click()

    field = admin.locator("form[action='/portal/people']").get_by_label("First password")
    await expect(field).to_have_attribute("aria-invalid", "true")
    message = await described_by(field)
    assert "password" in message.lower(), message
    await expect(admin.get_by_role("alert")).to_contain_text(message.split(" | ")[0])
