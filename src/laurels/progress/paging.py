"""Continuation tokens: opaque to callers, tamper-evident, exact under concurrent
unlocks.

A walk's order can depend on which achievements are unlocked (`orderBy=UnlockTime`,
`unlockedOnly`). So the first page takes a snapshot: the config version of each
title and a bitmap of the achievements unlocked at that moment. Every later page
orders and filters by that snapshot, so an unlock between pages moves nothing and a
page never repeats or skips an item. Unlock times never change once set, so the
order among the snapshot's unlocked items is stable too. The token is signed with
HMAC-SHA256; any change to it is a 400.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from laurels.wire.tokens import b64, query_digest, seal, unb64, unseal

__all__ = ["Cursor", "TitleSnapshot", "decode", "encode", "query_digest"]


@dataclass(frozen=True)
class TitleSnapshot:
    title_id: int
    version: int
    unlocked: frozenset[int]  # positions in the version's achievement list


@dataclass(frozen=True)
class Cursor:
    xuid: str
    sandbox: str
    query: str  # a digest of the query the walk belongs to
    offset: int
    titles: tuple[TitleSnapshot, ...]


def _bitmap(positions: frozenset[int]) -> str:
    size = (max(positions) // 8 + 1) if positions else 0
    bits = bytearray(size)
    for position in positions:
        bits[position // 8] |= 1 << (position % 8)
    return b64(bytes(bits))


def _positions(bitmap: str) -> frozenset[int]:
    bits = unb64(bitmap)
    return frozenset(i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte >> b & 1)


def encode(cursor: Cursor, key: bytes) -> str:
    body = json.dumps(
        [
            cursor.xuid,
            cursor.sandbox,
            cursor.query,
            cursor.offset,
            [[t.title_id, t.version, _bitmap(t.unlocked)] for t in cursor.titles],
        ],
        separators=(",", ":"),
    ).encode()
    return seal(body, key)


def decode(token: str, key: bytes) -> Cursor:
    """The cursor a token carries; BadRequest when it was altered or is not ours."""
    xuid, sandbox, query, offset, titles = json.loads(unseal(token, key))
    return Cursor(
        xuid,
        sandbox,
        query,
        offset,
        tuple(
            TitleSnapshot(title_id, version, _positions(bitmap))
            for title_id, version, bitmap in titles
        ),
    )
