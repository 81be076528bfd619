"""The viewer's language: an `Accept-Language` header, and the locale chosen from it."""

from __future__ import annotations

from collections.abc import Iterable


def parse_accept_language(header: str | None) -> list[str]:
    """Locales of an Accept-Language header, most wanted first ("*" dropped)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and tag != "*" and weight > 0:
            ranked.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def choose_locale(wanted: Iterable[str], available: Iterable[str], default: str) -> str:
    """The first wanted locale available (exact, then by language), else the default."""
    by_lower = {locale.lower(): locale for locale in available}
    for tag in wanted:
        lowered = tag.lower()
        if lowered in by_lower:
            return by_lower[lowered]
        language = lowered.split("-")[0]
        for candidate_lower, candidate in by_lower.items():
            if candidate_lower.split("-")[0] == language:
                return candidate
    return default
