"""`laurels users`: people added, listed, given a role, a password, removed; the
password read from standard input; every change audited as made by `cli`."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from laurels.db import Database
from laurels.portal.tables import audit_log
from tests.helpers.cli import laurels
from tests.helpers.portal import Portal, sign_in


async def run(database_url: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    done = await asyncio.to_thread(laurels, database_url, "users", *args, stdin=stdin)
    return done.returncode, done.stdout, done.stderr


async def test_people_from_the_command_line(portal: Portal, database_url: str) -> None:
    code, out, _ = await run(
        database_url, "add", "--email", "Fay@Studio.test", "--role", "publisher",
        stdin="a long enough secret\n",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "fay@studio.test can sign in as publisher")
    async with httpx.AsyncClient(base_url=portal.url) as client:
        assert (await sign_in(client, "fay@studio.test", "a long enough secret")).status_code == 303
    code, out, _ = await run(database_url, "list")
    assert "fay@studio.test\tpublisher" in out.splitlines()
    assert (await run(database_url, "set-role", "--email", "fay@studio.test", "--role", "viewer"))[
        0
    ] == 0
    code, _, _ = await run(
        database_url, "set-password", "--email", "fay@studio.test", stdin="another secret!!\n"
    )
    assert code == 0
    async with httpx.AsyncClient(base_url=portal.url) as client:
        assert (await sign_in(client, "fay@studio.test", "a long enough secret")).status_code == 401
        assert (await sign_in(client, "fay@studio.test", "another secret!!")).status_code == 303
    assert (await run(database_url, "remove", "--email", "fay@studio.test"))[0] == 0
    assert "fay@studio.test" not in (await run(database_url, "list"))[1]
    actions = await _audited(portal.db, "fay@studio.test")
    assert actions == ["person added", "role changed", "password set", "person removed"]


async def _audited(db: Database, target: str) -> list[str]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(audit_log.c.actor, audit_log.c.action)
            .where(audit_log.c.target == target)
            .order_by(audit_log.c.id)
        )
        return [action for actor, action in rows if actor == "cli"]


async def test_refusals_change_nothing(portal: Portal, database_url: str) -> None:
    short = await run(
        database_url, "add", "--email", "g@studio.test", "--role", "editor", stdin="short\n"
    )
    assert short[0] == 1
    assert "10 to 1024 characters" in short[2]
    empty = await run(database_url, "add", "--email", "g@studio.test", "--role", "editor", stdin="")
    assert empty[0] == 1
    bad = await run(
        database_url, "add", "--email", "not-an-email", "--role", "editor", stdin="0123456789ab\n"
    )
    assert (bad[0], "is not an email address" in bad[2]) == (1, True)
    twice = await run(
        database_url,
        "add",
        "--email",
        "admin@studio.test",
        "--role",
        "editor",
        stdin="0123456789ab\n",
    )
    assert (twice[0], "already has an account" in twice[2]) == (1, True)
    last = await run(database_url, "remove", "--email", "admin@studio.test")
    assert (last[0], "last admin" in last[2]) == (1, True)
    assert (await run(database_url, "list"))[1].splitlines() == ["admin@studio.test\tadmin"]
