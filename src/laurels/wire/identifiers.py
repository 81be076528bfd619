"""Identifiers on the wire: XUIDs and SCIDs."""

from __future__ import annotations

import re
import uuid

MAX_XUID = 2**64 - 1
MAX_TITLE_ID = 0xFFFFFFFF


def _at_most(digits: str) -> str:
    """Numerals of exactly `len(digits)` digits, leading zeros allowed, that are at
    most `digits`."""
    head, rest = int(digits[0]), digits[1:]
    tail = f"[0-9]{{{len(rest)}}}" if rest else ""
    below = [] if head == 0 else [(f"[0-{head - 1}]" if head > 1 else "0") + tail]
    return "(?:" + "|".join([*below, str(head) + (_at_most(rest) if rest else "")]) + ")"


def numeral_pattern(maximum: int) -> str:
    """A regular expression, the same in JSON Schema (ECMA-262) and Python, for the
    decimal numerals of 1..`maximum` without leading zeros; unanchored."""
    top = str(maximum)
    shorter = [f"[1-9][0-9]{{0,{len(top) - 2}}}"] if len(top) > 1 else []
    first, rest = int(top[0]), top[1:]
    same = [f"[1-{first - 1}][0-9]{{{len(rest)}}}"] if first > 1 else []
    same.append(top[0] + _at_most(rest) if rest else f"[1-{first}]")
    return "(?:" + "|".join(shorter + same) + ")"


# What `parse_xuid` accepts (with maxLength 20), and its canonical form.
XUID_PATTERN = f"^0*{numeral_pattern(MAX_XUID)}$"
CANONICAL_XUID_PATTERN = f"^{numeral_pattern(MAX_XUID)}$"
SCID_PATTERN = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"


def parse_xuid(text: str) -> str:
    """The canonical decimal form of a uint64 XUID; raises ValueError otherwise."""
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ValueError(f"{text[:40]!r} is not a XUID (a decimal uint64)")
    value = int(text)
    if not 0 < value <= MAX_XUID:
        raise ValueError(f"{text!r} is not a XUID (a decimal uint64)")
    return str(value)


_CANONICAL_SCID = re.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def parse_scid(text: str) -> str:
    """A SCID in lower case; raises ValueError when it is not a GUID."""
    if _CANONICAL_SCID.fullmatch(text):  # already what uuid.UUID would print
        return text
    try:
        return str(uuid.UUID(text)).lower()
    except ValueError:
        raise ValueError(f"{text[:60]!r} is not a SCID (a GUID)") from None
