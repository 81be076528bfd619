"""Signing in and out: `/portal/login` (fields "Email" and "Password", a "Sign in"
button) and `/portal/logout`.

The sign-in form is protected against cross-site posting by a double-submitted token
(a cookie and the same value in the form); once signed in, every form carries the
session's token instead. Failed sign-ins are counted per account and per address and
lock both out for a while past a limit (`accounts.check_throttle`)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from laurels.portal import accounts
from laurels.portal.web import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    PageError,
    Viewer,
    client_address,
    current_session,
    portal_runtime,
    read_form,
    redirect,
    render,
    same_origin,
    set_cookie,
)
from laurels.wire.times import now_micros

router = APIRouter()


def _next(path: str) -> str:
    """Where to go after signing in: a portal page, never another site."""
    return path if path.startswith("/portal/") and not path.startswith("//") else "/portal/"


def _form(
    request: Request, *, email: str = "", next_path: str = "/portal/", errors: dict[str, str]
) -> tuple[str, dict[str, object]]:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return token, {"email": email, "next": next_path, "errors": errors, "login_csrf": token}


def _login_page(request: Request, *, status: int = 200, **given: object) -> Response:
    token, context = _form(request, **given)  # type: ignore[arg-type]
    response = render(request, "login.html", status=status, **context)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login", include_in_schema=False)
async def login_page(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/portal/"
) -> Response:
    if await current_session(request) is not None:
        return redirect(request, _next(next))
    return _login_page(request, next_path=_next(next), errors={})


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    form = await read_form(request)
    sent, expected = form.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE)
    if (
        not isinstance(sent, str)
        or not expected
        or not secrets.compare_digest(sent, expected)
        or not same_origin(request)
    ):
        raise PageError(
            403, "Request refused", "The sign-in form expired. Reload it and try again."
        )
    email, password = str(form.get("email", "")), str(form.get("password", ""))
    next_path = _next(str(form.get("next", "/portal/")))
    rt, address, now = portal_runtime(request), client_address(request), now_micros()
    errors: dict[str, str] = {}
    if not email.strip():
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        return _login_page(request, status=400, email=email, next_path=next_path, errors=errors)
    try:
        async with rt.db.read() as conn:
            await accounts.check_throttle(conn, email=email, address=address, now_us=now)
        user = await rt.db.run_write(
            lambda conn: accounts.authenticate(conn, email=email, password=password, now_us=now)
        )
    except accounts.SignInThrottled as exc:
        response = _login_page(
            request, status=429, email=email, next_path=next_path, errors={"": str(exc)}
        )
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
        return response
    except accounts.SignInRefused as exc:
        await rt.db.run_write(
            lambda conn: accounts.count_failure(conn, email=email, address=address, now_us=now)
        )
        return _login_page(
            request, status=401, email=email, next_path=next_path, errors={"password": str(exc)}
        )
    lifetime = rt.settings.portal_session_hours * 3600
    token, _ = await rt.db.run_write(
        lambda conn: accounts.open_session(
            conn, user=user, now_us=now, lifetime_us=lifetime * 1_000_000
        )
    )
    response = redirect(request, next_path)
    set_cookie(request, response, COOKIE, token, max_age=lifetime)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/portal")
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, session: Viewer) -> Response:
    await portal_runtime(request).db.run_write(
        lambda conn: accounts.close_session(conn, session_id=session.session_id)
    )
    response = redirect(request, "/portal/login", flash="You are signed out.")
    response.delete_cookie(COOKIE, path="/portal")
    return response
