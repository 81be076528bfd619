"""What every portal page shares: templates, the signed-in person (a dependency per
role), CSRF on every state-changing request, cookies, flash messages, security
headers, and the HTML error page.

A page is a FastAPI route that takes one of `Viewer`, `Editor`, `Publisher` or
`Admin` (the session, after the role check and, for POST, the CSRF check) and returns
`render(request, "page.html", ...)`. A person not signed in is sent to the sign-in
page (GET) or refused (any other method); a role too low is a 403 page.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, TypeVar
from urllib.parse import quote, unquote, urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from laurels.db import Database
from laurels.portal import accounts
from laurels.portal.accounts import ROLES, Session, find_session
from laurels.settings import Settings
from laurels.sqlasync import AsyncConnection
from laurels.titles import Catalog
from laurels.web.auth import runtime
from laurels.web.errors import validation_error
from laurels.web.pages import SECURITY_HEADERS, content_version, environment
from laurels.web.pages import secure_cookies as is_secure
from laurels.wire.times import now_micros

if TYPE_CHECKING:
    from jinja2 import Environment

COOKIE = "laurels_portal"
LOGIN_CSRF_COOKIE = "laurels_login_csrf"
FLASH_COOKIE = "laurels_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
STATIC = Path(__file__).parent / "static"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Uploads (icons, configuration files) and forms: bounded.
MAX_FORM_FIELDS = 5000
MAX_PART_BYTES = 2 * 1024 * 1024


class PortalRuntime(Protocol):
    """What pages use of the process's runtime (`laurels.runtime.Runtime` is one)."""

    @property
    def db(self) -> Database: ...

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog: ...


def portal_runtime(request: Request) -> PortalRuntime:
    found: PortalRuntime = runtime(request)
    return found


class PageError(Exception):
    """Answered with the HTML error page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


# --- templates ------------------------------------------------------------------------


@cache
def _static_version(name: str) -> str:
    return content_version(STATIC / name)


def static_url(name: str) -> str:
    """A static file's URL with its content's hash (cached for a year)."""
    return f"/portal/static/{name}?v={_static_version(name)}"


def _when(micros: int | None) -> str:
    if micros is None:
        return "never"
    return datetime.fromtimestamp(micros / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@cache
def templates() -> Environment:
    env = environment("laurels.portal")
    env.globals.update(static=static_url, ROLES=ROLES)
    env.filters["when"] = _when
    return env


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """The page, with the signed-in session (if any), its CSRF token and the flash
    message the previous redirect left."""
    session: Session | None = getattr(request.state, "session", None)
    flash = flash_text(request)
    html = (
        templates()
        .get_template(template)
        .render(
            request=request,
            session=session,
            csrf=session.csrf if session else "",
            flash=flash,
            path=request.url.path,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/portal")
    return response


def redirect(request: Request, to: str, *, flash: str | None = None) -> RedirectResponse:
    """303 to `to` (a path of this site), leaving `flash` for the next page."""
    response = RedirectResponse(to, status_code=303, headers=SECURITY_HEADERS)
    if flash:
        set_cookie(request, response, FLASH_COOKIE, flash[:300], max_age=60)
    return response


def secure_cookies(request: Request) -> bool:
    return is_secure(portal_runtime(request).settings, request)


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        quote(value, safe=""),
        max_age=max_age,
        path="/portal",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def flash_text(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    return None if raw is None else unquote(raw)


# --- who is signed in -----------------------------------------------------------------


async def read_form(request: Request) -> FormData:
    """The request's form (bounded); parsed once, then cached by Starlette. Its
    uploaded files (spooled to temporary files) are closed after the page answered
    (`close_forms`, a dependency of every portal route)."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_part_size=MAX_PART_BYTES)
    request.state.form = form
    return form


async def close_forms(request: Request) -> AsyncIterator[None]:
    try:
        yield
    finally:
        form: FormData | None = getattr(request.state, "form", None)
        if form is not None:
            await form.close()


def same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer), when sent, names this site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


async def check_csrf(request: Request, expected: str) -> None:
    """A state-changing request must carry the token (form field or header) and
    come from this site; PageError 403 otherwise, before anything is read or done."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await read_form(request)).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, expected) or not same_origin(request):
        raise PageError(
            403,
            "Request refused",
            "This form has expired or did not come from this site. Go back, reload the "
            "page and try again.",
        )


async def current_session(request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    async with portal_runtime(request).db.read() as conn:
        return await find_session(conn, token=token, now_us=now_micros())


def needs(role: str) -> Callable[[Request], Awaitable[Session]]:
    """The dependency of a page for `role` or higher."""

    async def dependency(request: Request) -> Session:
        session = await current_session(request)
        if session is None:
            if request.method in SAFE_METHODS:
                raise SignInRequired(request.url.path)
            raise PageError(401, "Signed out", "Your session has ended. Sign in again.")
        request.state.session = session
        if request.method not in SAFE_METHODS:
            await check_csrf(request, session.csrf)
        if not session.user.can(role):
            raise PageError(
                403,
                "Not allowed",
                f"This needs the {role} role; you are {_article(session.user.role)} "
                f"{session.user.role}. An admin can change your role.",
            )
        return session

    return dependency


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


Viewer = Annotated[Session, Depends(needs("viewer"))]
Editor = Annotated[Session, Depends(needs("editor"))]
Publisher = Annotated[Session, Depends(needs("publisher"))]
Admin = Annotated[Session, Depends(needs("admin"))]


T = TypeVar("T")


async def audited(
    request: Request,
    session: Session,
    change: Callable[[AsyncConnection], Awaitable[T]],
    *,
    action: str,
    target: str | Callable[[T], str],
    detail: str | Callable[[T], str] = "",
) -> T:
    """Run `change` and record it, as done by the signed-in person, in the audit log,
    in one transaction: the entry exists exactly when the change was committed.
    `target` and `detail` may be read from what `change` returned."""
    now = now_micros()

    async def work(conn: AsyncConnection) -> T:
        done = await change(conn)
        await accounts.record(
            conn,
            actor=session.user.email,
            action=action,
            target=target if isinstance(target, str) else target(done),
            detail=detail if isinstance(detail, str) else detail(done),
            now_us=now,
        )
        return done

    return await portal_runtime(request).db.run_write(work)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --- errors ---------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """The portal's error answers: an HTML page, or the sign-in page for a person
    who is not signed in; a bad parameter of a portal page is its 404 page (the
    API's validation errors keep their JSON body). Call after the API's handlers."""

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return render(
            request, "error.html", status=exc.status, title=exc.title, message=exc.message
        )

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return RedirectResponse(
            f"/portal/login?next={quote(exc.next_path)}", status_code=303, headers=SECURITY_HEADERS
        )

    async def invalid(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/portal/"):
            return await validation_error(request, exc)
        return render(
            request,
            "error.html",
            status=404,
            title="Not found",
            message="There is no such page: check the address.",
        )

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(SignInRequired, sign_in)
    app.add_exception_handler(RequestValidationError, invalid)
