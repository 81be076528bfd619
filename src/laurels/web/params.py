"""Path and query parameters shared by the routers, with their published bounds.

The parsers check the same patterns the schema publishes (so the schema is the
truth), then say in words what was wrong."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from laurels.errors import BadRequest
from laurels.wire.identifiers import SCID_PATTERN, XUID_PATTERN, parse_scid

XuidPath = Annotated[
    str,
    Path(
        description="Decimal uint64",
        json_schema_extra={"pattern": XUID_PATTERN, "maxLength": 20},
    ),
]
ScidPath = Annotated[
    str, Path(description="The title's SCID, a GUID", json_schema_extra={"pattern": SCID_PATTERN})
]
TOKEN_PATTERN = r"^(?:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?$"  # empty: no token
ContinuationToken = Annotated[
    str | None,
    Query(
        max_length=8192,
        description="From the previous page's pagingInfo; opaque and tamper-evident",
        json_schema_extra={"pattern": TOKEN_PATTERN},
    ),
]


def any_case(word: str) -> str:
    """A pattern matching `word` in any ASCII case ("ab" → "[Aa][Bb]")."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def scid_from_path(text: str) -> str:
    """The path's SCID in lower case; raises BadRequest (400) when it is not a GUID."""
    try:
        return parse_scid(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
