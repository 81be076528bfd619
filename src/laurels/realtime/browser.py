"""A browser's session on the socket (docs/realtime.md, "From a browser").

A page of the service (the player page) connects with the player's session cookie,
which the browser sends by itself. A cookie is sent whichever site opened the
socket, so it counts only when the handshake's `Origin` names this site: a page
elsewhere cannot listen as the player (cross-site WebSocket hijacking). Pure
functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from laurels.web.auth import PLAYER_COOKIE

__all__ = ["PLAYER_COOKIE", "cookie_token", "same_origin"]


def same_origin(origin: str | None, *, host: str | None, public_url: str | None) -> bool:
    """Whether a handshake's `Origin` names this site: the host (and port) the
    request was sent to, or that of `LAURELS_PUBLIC_URL`. False when the browser
    sent none, or "null" (a sandboxed frame, a file)."""
    if not origin or origin == "null":
        return False
    netloc = urlsplit(origin).netloc.lower()
    if not netloc:
        return False
    ours = {(host or "").lower()}
    if public_url:
        ours.add(urlsplit(public_url).netloc.lower())
    return netloc in ours


def cookie_token(
    headers: Mapping[str, str], cookies: Mapping[str, str], *, public_url: str | None
) -> str | None:
    """The player's token from the session cookie, when the handshake came from a
    page of this site; None otherwise (no cookie, no Origin, another site's)."""
    token = cookies.get(PLAYER_COOKIE)
    if not token:
        return None
    if not same_origin(headers.get("origin"), host=headers.get("host"), public_url=public_url):
        return None
    return token
