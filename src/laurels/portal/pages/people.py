"""People and their roles (admins only): add, change a role, remove. Every change
is written to the audit log in its own transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response

from laurels.errors import LaurelsError
from laurels.portal import accounts
from laurels.portal.accounts import Session, User
from laurels.portal.web import Admin, audited, portal_runtime, read_form, redirect, render
from laurels.sqlasync import AsyncConnection
from laurels.wire.times import now_micros

router = APIRouter()
Change = Callable[[AsyncConnection, int], Awaitable[User]]


async def _page(
    request: Request, *, status: int = 200, errors: dict[str, str] | None = None, **given: str
) -> Response:
    async with portal_runtime(request).db.read() as conn:
        people = await accounts.list_users(conn)
    return render(
        request,
        "people.html",
        status=status,
        people=people,
        errors=errors or {},
        email=given.get("email", ""),
        role=given.get("role", "viewer"),
    )


async def _audited(request: Request, session: Session, change: Change, action: str) -> User:
    return await audited(
        request,
        session,
        lambda conn: change(conn, now_micros()),
        action=action,
        target=lambda user: user.email,
        detail=lambda user: f"role {user.role}",
    )


@router.get("/people", include_in_schema=False)
async def people(request: Request, session: Admin) -> Response:
    return await _page(request)


@router.post("/people", include_in_schema=False)
async def add_person(request: Request, session: Admin) -> Response:
    form = await read_form(request)
    email, role = str(form.get("email", "")), str(form.get("role", ""))
    password = str(form.get("password", ""))

    async def add(conn: AsyncConnection, now: int) -> User:
        return await accounts.add_user(conn, email=email, password=password, role=role, now_us=now)

    try:
        user = await _audited(request, session, add, "person added")
    except LaurelsError as exc:
        text = str(exc)
        field = "password" if "password" in text else "role" if "role" in text else "email"
        return await _page(request, status=exc.status, errors={field: text}, email=email, role=role)
    return redirect(
        request, "/portal/people", flash=f"{user.email} can now sign in as {user.role}."
    )


@router.post("/people/role", include_in_schema=False)
async def change_role(request: Request, session: Admin) -> Response:
    form = await read_form(request)
    email, role = str(form.get("email", "")), str(form.get("role", ""))

    async def change(conn: AsyncConnection, now: int) -> User:
        return await accounts.set_role(conn, email=email, role=role, now_us=now)

    try:
        user = await _audited(request, session, change, "role changed")
    except LaurelsError as exc:
        return await _page(request, status=exc.status, errors={"": str(exc)})
    return redirect(request, "/portal/people", flash=f"{user.email} is now {user.role}.")


@router.post("/people/remove", include_in_schema=False)
async def remove_person(request: Request, session: Admin) -> Response:
    email = str((await read_form(request)).get("email", ""))

    async def remove(conn: AsyncConnection, now: int) -> User:
        return await accounts.remove_user(conn, email=email)

    try:
        user = await _audited(request, session, remove, "person removed")
    except LaurelsError as exc:
        return await _page(request, status=exc.status, errors={"": str(exc)})
    return redirect(request, "/portal/people", flash=f"{user.email} can no longer sign in.")
