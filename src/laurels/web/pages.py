"""What the service's HTML pages share (the partner portal, the player page): their
security headers, the templates' environment, static files named by their content,
and whether a cookie is marked Secure."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request

from laurels.settings import Settings

if TYPE_CHECKING:
    from jinja2 import Environment

# Nothing a page loads comes from another host; no inline script or style.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def environment(package: str) -> Environment:
    """Autoescaped templates of `package`'s `templates/`, strict about undefined names.
    jinja2 is imported here, at the first page: a service process that serves no page
    does without it (1.8 MB resident)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def content_version(path: Path) -> str:
    """A short hash of a static file's content, for its URL (cached for a year)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "0"


def secure_cookies(settings: Settings, request: Request) -> bool:
    """Whether a page's cookies are marked Secure (LAURELS_PORTAL_SECURE_COOKIES)."""
    mode = settings.portal_secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")
