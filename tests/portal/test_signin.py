"""Signing in and out, sessions, CSRF and the sign-in throttle, over HTTP."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from laurels.portal.tables import audit_log, portal_sessions, portal_users
from tests.helpers.portal import PASSWORD, Portal, add_person, csrf_of, sign_in


async def test_a_page_sends_a_stranger_to_sign_in(portal: Portal) -> None:
    async with httpx.AsyncClient(base_url=portal.url) as stranger:
        answer = await stranger.get("/portal/people")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/portal/login?next=/portal/people"
        page = await stranger.get("/portal/login")
        assert 'for="email">Email<' in page.text
        assert 'for="password">Password<' in page.text
        assert ">Sign in</button>" in page.text


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(portal: Portal) -> None:
    await add_person(portal.db, "ann@studio.test", "viewer")
    async with httpx.AsyncClient(base_url=portal.url) as client:
        answer = await sign_in(client, "Ann@Studio.test")
        assert answer.status_code == 303
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/portal" in cookie
        assert (await client.get("/portal/")).status_code == 200
        home = await client.get("/portal/")
        out = await client.post("/portal/logout", data={"csrf_token": csrf_of(home.text)})
        assert out.status_code == 303
        assert (await client.get("/portal/")).status_code == 303


async def test_a_wrong_password_is_refused_alike_for_unknown_people(portal: Portal) -> None:
    await add_person(portal.db, "bob@studio.test", "viewer")
    async with httpx.AsyncClient(base_url=portal.url) as client:
        wrong = await sign_in(client, "bob@studio.test", "not the password")
        unknown = await sign_in(client, "nobody@studio.test", "not the password")
        assert wrong.status_code == unknown.status_code == 401
        assert "The email or password is not right." in wrong.text
        assert "The email or password is not right." in unknown.text


async def test_ten_bad_passwords_lock_the_account(portal: Portal) -> None:
    await add_person(portal.db, "carol@studio.test", "viewer")
    async with httpx.AsyncClient(base_url=portal.url) as client:
        statuses = [
            (await sign_in(client, "carol@studio.test", f"guess {n}")).status_code
            for n in range(10)
        ]
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
        locked = await sign_in(client, "carol@studio.test", PASSWORD)  # even the right one
        assert locked.status_code == 429
        assert "Too many failed sign-ins" in locked.text
        assert int(locked.headers["retry-after"]) > 0


async def test_a_post_without_the_csrf_token_changes_nothing(portal: Portal) -> None:
    async def people() -> int:
        async with portal.db.read() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(portal_users))).scalar_one()
            )

    before = await people()
    form = {"email": "eve@studio.test", "role": "admin", "password": "0123456789ab"}
    refused = await portal.client.post("/portal/people", data=form)
    assert refused.status_code == 403
    forged = await portal.client.post("/portal/people", data={**form, "csrf_token": "guess"})
    assert forged.status_code == 403
    other_site = await portal.client.post(
        "/portal/people",
        data={**form, "csrf_token": csrf_of((await portal.client.get("/portal/people")).text)},
        headers={"origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert await people() == before
    done = await Portal.post(portal.client, "/portal/people", form)
    assert done.status_code == 303
    assert await people() == before + 1


async def test_roles_guard_pages_and_changes_are_audited(portal: Portal) -> None:
    viewer = await portal.person("viewer")
    assert (await viewer.get("/portal/")).status_code == 200
    assert (await viewer.get("/portal/people")).status_code == 403
    refused = await Portal.post(
        viewer,
        "/portal/people/role",
        {"email": "admin@studio.test", "role": "viewer"},
        page="/portal/",
    )
    assert refused.status_code == 403
    changed = await Portal.post(
        portal.client,
        "/portal/people",
        {"email": "dan@studio.test", "role": "editor", "password": "0123456789ab"},
    )
    assert changed.status_code == 303
    async with portal.db.read() as conn:
        rows = list(
            await conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.target))
        )
    assert ("admin@studio.test", "person added", "dan@studio.test") in [tuple(r) for r in rows]
    page = await viewer.get("/portal/audit")
    assert "dan@studio.test" in page.text


async def test_the_last_admin_stays(portal: Portal) -> None:
    answer = await Portal.post(
        portal.client,
        "/portal/people/role",
        {"email": "admin@studio.test", "role": "viewer"},
        page="/portal/people",
    )
    assert answer.status_code == 409
    assert "last admin" in answer.text


async def test_sessions_are_stored_as_digests(portal: Portal) -> None:
    token = portal.client.cookies.get("laurels_portal")
    assert token
    async with portal.db.read() as conn:
        ids = list((await conn.execute(select(portal_sessions.c.id))).scalars())
    assert token not in ids
    assert len(ids) >= 1


async def test_a_bad_page_address_is_the_portal_s_404_page(portal: Portal) -> None:
    answer = await portal.client.get("/portal/titles/abc")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "There is no such page" in answer.text
    api = await portal.client.get("/users/xuid(1)/achievements", params={"titleId": "x"})
    assert api.status_code in (400, 401)
    assert api.headers["content-type"].startswith("application/json")
