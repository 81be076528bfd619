"""The render context of a request: its viewer's language and the media links."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from laurels.web.auth import gate
from laurels.wire.context import LocalizedTitle, RenderContext, context_for


def render_context(request: Request, titles: Sequence[LocalizedTitle]) -> RenderContext:
    """The language chosen from the request's `Accept-Language` among `titles`',
    media links under LAURELS_PUBLIC_URL (else the request's own base URL)."""
    settings = gate(request).settings
    return context_for(
        base=settings.public_url or str(request.base_url),
        accept_language=request.headers.get("accept-language"),
        titles=titles,
    )
