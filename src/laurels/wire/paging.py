"""Paging as the wire shows it: the largest page a list answers and the
`pagingInfo` object of every paged response (spec/wire.md)."""

from __future__ import annotations

from pydantic import BaseModel

MAX_PAGE = 1000


class PagingInfo(BaseModel):
    continuationToken: str | None
    totalRecords: int
