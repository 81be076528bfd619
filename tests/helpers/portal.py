"""A client of the portal: people signed in with a role, and forms posted the way a
browser posts them (the page fetched first, its CSRF token sent back)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from laurels.db import Database
from laurels.portal import accounts
from laurels.wire.times import now_micros

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


async def add_person(db: Database, email: str, role: str, password: str = PASSWORD) -> None:
    await db.run_write(
        lambda conn: accounts.add_user(
            conn, email=email, password=password, role=role, now_us=now_micros()
        )
    )


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Sign in through the sign-in form; returns the form's answer."""
    page = await client.get("/portal/login")
    return await client.post(
        "/portal/login",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": password},
    )


@dataclass
class Portal:
    """A running service (`url`, its database) with an admin signed in (`client`)."""

    url: str
    db: Database
    client: httpx.AsyncClient
    _stack: contextlib.AsyncExitStack = field(repr=False)

    async def person(self, role: str, email: str | None = None) -> httpx.AsyncClient:
        """A new person with `role`, signed in on a client of their own."""
        email = email or f"{role}-{now_micros()}@studio.test"
        await add_person(self.db, email, role)
        client = await self._stack.enter_async_context(
            httpx.AsyncClient(base_url=self.url, timeout=30)
        )
        answer = await sign_in(client, email)
        assert answer.status_code == 303, answer.text
        return client

    @staticmethod
    async def post(
        client: httpx.AsyncClient,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        page: str | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Post a form of `page` (default `path`) with that page's CSRF token."""
        shown = await client.get(page or path)
        assert shown.status_code == 200, (page or path, shown.status_code)
        return await client.post(
            path, data={"csrf_token": csrf_of(shown.text), **(data or {})}, files=files
        )


@contextlib.asynccontextmanager
async def portal_client(url: str, db: Database) -> AsyncIterator[Portal]:
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        await add_person(db, "admin@studio.test", "admin")
        answer = await sign_in(client, "admin@studio.test")
        assert answer.status_code == 303, answer.text
        yield Portal(url, db, client, stack)
