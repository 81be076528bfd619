"""Identifiers on the wire: XUIDs and SCIDs."""

from __future__ import annotations

import uuid

MAX_XUID = 2**64 - 1


def parse_xuid(text: str) -> str:
    """The canonical decimal form of a uint64 XUID; raises ValueError otherwise."""
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ValueError(f"{text[:40]!r} is not a XUID (a decimal uint64)")
    value = int(text)
    if not 0 < value <= MAX_XUID:
        raise ValueError(f"{text!r} is not a XUID (a decimal uint64)")
    return str(value)


def parse_scid(text: str) -> str:
    """A SCID in lower case; raises ValueError when it is not a GUID."""
    try:
        return str(uuid.UUID(text)).lower()
    except ValueError:
        raise ValueError(f"{text[:60]!r} is not a SCID (a GUID)") from None
