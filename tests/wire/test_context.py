"""The viewer's language and media links (laurels.wire), as tables of cases."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from laurels.wire.context import context_for
from laurels.wire.locales import choose_locale, parse_accept_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("fr-FR", ["fr-FR"]),
        ("de;q=0.5, fr;q=0.9, en", ["en", "fr", "de"]),
        ("*, es", ["es"]),
        ("it;q=0, pt", ["pt"]),
        ("nl;q=oops, sv", ["sv"]),
        ("a, b", ["a", "b"]),
    ],
)
def test_accept_language_ranks_by_weight_then_position(
    header: str | None, expected: list[str]
) -> None:
    assert parse_accept_language(header) == expected


@pytest.mark.parametrize(
    ("wanted", "available", "expected"),
    [
        ([], {"en-US", "fr-FR"}, "en-US"),
        (["fr-fr"], {"en-US", "fr-FR"}, "fr-FR"),
        (["fr-CA"], {"en-US", "fr-FR"}, "fr-FR"),
        (["ja-JP", "fr"], {"en-US", "fr-FR"}, "fr-FR"),
        (["ja-JP"], {"en-US", "fr-FR"}, "en-US"),
    ],
)
def test_choose_locale_exact_then_language_else_default(
    wanted: list[str], available: set[str], expected: str
) -> None:
    assert choose_locale(wanted, available, "en-US") == expected


@dataclass(frozen=True)
class Strings:
    localized: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Title:
    default_locale: str
    achievements: tuple[Strings, ...]


@pytest.mark.parametrize(
    ("header", "titles", "locale"),
    [
        ("fr", [], "en-US"),
        (None, [Title("de-DE", ())], "de-DE"),
        ("fr;q=0.8, es", [Title("en-GB", (Strings({"fr-FR": {}}),))], "fr-FR"),
        ("es", [Title("en-GB", ()), Title("en-US", (Strings({"es-MX": {}}),))], "es-MX"),
    ],
)
def test_context_chooses_among_the_titles_languages(
    header: str | None, titles: list[Title], locale: str
) -> None:
    assert context_for(base="x", accept_language=header, titles=titles).locale == locale


@pytest.mark.parametrize(
    ("reference", "url"),
    [
        ("media:" + "ab" * 32, "https://laurels.test/base/media/" + "ab" * 32 + ".png"),
        ("https://cdn.test/icon.png", "https://cdn.test/icon.png"),
        (None, None),
        ("", ""),
    ],
)
def test_media_links_live_under_the_public_base(reference: str | None, url: str | None) -> None:
    ctx = context_for(base="https://laurels.test/base/", accept_language=None, titles=[])
    assert ctx.media_url(reference) == url
