"""How a response is rendered for its viewer: the locale and the media links.

Built once per request (or per RTA socket) by `context_for`, then passed to every
renderer (the Achievement object, the feed, RTA notifications)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from laurels.wire.locales import choose_locale, parse_accept_language


class Localized(Protocol):
    """An achievement's strings by locale (`AchievementConfig` is one)."""

    @property
    def localized(self) -> Mapping[str, object]: ...


class LocalizedTitle(Protocol):
    """A title's languages: its default and its achievements' (`PublishedTitle` is one)."""

    @property
    def default_locale(self) -> str: ...

    @property
    def achievements(self) -> Sequence[Localized]: ...


@dataclass(frozen=True)
class RenderContext:
    locale: str
    media_url: Callable[[str | None], str | None]


def context_for(
    *, base: str, accept_language: str | None, titles: Sequence[LocalizedTitle]
) -> RenderContext:
    """How to render for a viewer: the language chosen from `Accept-Language` among
    the titles' languages (the first title's default, or en-US without titles), and
    media links (`media:<sha256>`) under the service's public `base`; other
    references are kept as they are. Never raises on a malformed header."""
    base = base.rstrip("/")
    wanted = parse_accept_language(accept_language)
    default = titles[0].default_locale if titles else "en-US"
    available = {default} | {loc for t in titles for a in t.achievements for loc in a.localized}
    locale = choose_locale(wanted, available, default)

    def media_url(reference: str | None) -> str | None:
        if reference and reference.startswith("media:"):
            return f"{base}/media/{reference.removeprefix('media:')}.png"
        return reference

    return RenderContext(locale=locale, media_url=media_url)
