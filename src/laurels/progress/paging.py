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

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

from laurels.errors import BadRequest

MAC_BYTES = 16


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bitmap(positions: frozenset[int]) -> str:
    size = (max(positions) // 8 + 1) if positions else 0
    bits = bytearray(size)
    for position in positions:
        bits[position // 8] |= 1 << (position % 8)
    return _b64(bytes(bits))


def _positions(bitmap: str) -> frozenset[int]:
    bits = _unb64(bitmap)
    return frozenset(i * 8 + b for i, byte in enumerate(bits) for b in range(8) if byte >> b & 1)


def query_digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


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


def seal(body: bytes, key: bytes) -> str:
    """`body` and its MAC under `key`, as a URL-safe token."""
    mac = hmac.new(key, body, hashlib.sha256).digest()[:MAC_BYTES]
    return _b64(body) + "." + _b64(mac)


def unseal(token: str, key: bytes) -> bytes:
    """The body of a token `seal` made with `key`; BadRequest when it was altered,
    made with another key, or is not a token at all."""
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, binascii.Error):
        raise BadRequest("continuationToken is not valid") from None
    expected = hmac.new(key, body, hashlib.sha256).digest()[:MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise BadRequest("continuationToken is not valid (altered or from another query)")
    return body


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
