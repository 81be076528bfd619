"""The portal's accounts service on both databases: roles, the throttle's window,
sessions' expiry, and forgetting what is stale."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.db import Database
from laurels.errors import BadRequest, Conflict
from laurels.portal import accounts
from laurels.portal.tables import portal_sessions, portal_signin_failures

NOW = 1_800_000_000_000_000
HOUR = 3600 * 1_000_000


@pytest.mark.parametrize(
    ("role", "can"),
    [
        ("viewer", ["viewer"]),
        ("editor", ["viewer", "editor"]),
        ("publisher", ["viewer", "editor", "publisher"]),
        ("admin", ["viewer", "editor", "publisher", "admin"]),
    ],
)
def test_roles_are_ordered(role: str, can: list[str]) -> None:
    user = accounts.User("id", "a@b.test", role)
    assert [r for r in accounts.ROLES if user.can(r)] == can


@pytest.mark.parametrize(
    "email", ["", "no-at-sign", "two@@signs.test", "a b@c.test", "x" * 70 + "@a.test"]
)
def test_bad_emails_are_refused(email: str) -> None:
    with pytest.raises(BadRequest):
        accounts.normalize_email(email)


async def _fail(db: Database, email: str, address: str, now_us: int) -> None:
    async def work(conn: AsyncConnection) -> None:
        await accounts.count_failure(conn, email=email, address=address, now_us=now_us)

    await db.run_write(work)


async def _add(db: Database, email: str, role: str) -> accounts.User:
    async def work(conn: AsyncConnection) -> accounts.User:
        return await accounts.add_user(
            conn, email=email, password="0123456789ab", role=role, now_us=NOW
        )

    return await db.run_write(work)


async def test_the_throttle_window_passes(db: Database) -> None:
    await db.run_write(
        lambda conn: accounts.add_user(
            conn, email="h@studio.test", password="0123456789ab", role="viewer", now_us=NOW
        )
    )
    for n in range(accounts.ACCOUNT_FAILURES):
        await _fail(db, "h@studio.test", f"10.0.0.{n}", NOW + n)
    async with db.read() as conn:
        with pytest.raises(accounts.SignInThrottled) as locked:
            await accounts.check_throttle(
                conn, email="H@studio.test", address="10.9.9.9", now_us=NOW + 10
            )
        assert 0 < locked.value.retry_after_seconds <= 15 * 60
        # Once the window has passed, the account may try again.
        await accounts.check_throttle(
            conn, email="h@studio.test", address="10.9.9.9", now_us=NOW + accounts.WINDOW_US + 1
        )


async def test_an_address_is_throttled_across_accounts(db: Database) -> None:
    for n in range(accounts.ADDRESS_FAILURES):
        await _fail(db, f"p{n}@studio.test", "10.1.1.1", NOW)
    async with db.read() as conn:
        with pytest.raises(accounts.SignInThrottled):
            await accounts.check_throttle(
                conn, email="new@studio.test", address="10.1.1.1", now_us=NOW + 1
            )
        await accounts.check_throttle(
            conn, email="new@studio.test", address="10.2.2.2", now_us=NOW + 1
        )


async def test_sessions_expire_and_stale_rows_are_forgotten(db: Database) -> None:
    user = await db.run_write(
        lambda conn: accounts.add_user(
            conn, email="i@studio.test", password="0123456789ab", role="admin", now_us=NOW
        )
    )
    token, session = await db.run_write(
        lambda conn: accounts.open_session(conn, user=user, now_us=NOW, lifetime_us=HOUR)
    )
    await db.run_write(
        lambda conn: accounts.count_failure(
            conn, email="x@studio.test", address="10.3.3.3", now_us=NOW
        )
    )
    async with db.read() as conn:
        found = await accounts.find_session(conn, token=token, now_us=NOW + HOUR - 1)
        assert found == session
        assert await accounts.find_session(conn, token=token, now_us=NOW + HOUR) is None
        assert await accounts.find_session(conn, token="forged", now_us=NOW) is None
    gone = await db.run_write(lambda conn: accounts.forget_stale(conn, now_us=NOW + HOUR))
    assert gone == 3  # the session, and the account's and the address's failures
    async with db.read() as conn:
        for table in (portal_sessions, portal_signin_failures):
            assert (await conn.execute(select(func.count()).select_from(table))).scalar_one() == 0


async def test_removing_a_person_ends_their_sessions(db: Database) -> None:
    for email in ("j@studio.test", "k@studio.test"):
        await _add(db, email, "admin")
    user = await db.run_write(lambda conn: accounts.get_user(conn, email="k@studio.test"))
    token, _ = await db.run_write(
        lambda conn: accounts.open_session(conn, user=user, now_us=NOW, lifetime_us=HOUR)
    )
    await db.run_write(lambda conn: accounts.remove_user(conn, email="k@studio.test"))
    async with db.read() as conn:
        assert await accounts.find_session(conn, token=token, now_us=NOW) is None
    with pytest.raises(Conflict):
        await db.run_write(lambda conn: accounts.remove_user(conn, email="j@studio.test"))
