"""Signed continuation tokens: a body and its HMAC-SHA256, opaque to callers and
tamper-evident. The achievement list (`progress.paging`) and the activity feed and
title history seal their cursors with these, each under its own key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from laurels.errors import BadRequest

MAC_BYTES = 16


def b64(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """The bytes of `b64`'s text; binascii.Error or ValueError when it is not base64."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def query_digest(*parts: object) -> str:
    """A short digest of what a walk is over, so a token only continues its own query."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def seal(body: bytes, key: bytes) -> str:
    """`body` and its MAC under `key`, as a URL-safe token."""
    mac = hmac.new(key, body, hashlib.sha256).digest()[:MAC_BYTES]
    return b64(body) + "." + b64(mac)


def unseal(token: str, key: bytes) -> bytes:
    """The body of a token `seal` made with `key`; BadRequest when it was altered,
    made with another key, or is not a token at all."""
    try:
        body_text, mac_text = token.split(".")
        body, mac = unb64(body_text), unb64(mac_text)
    except (ValueError, binascii.Error):
        raise BadRequest("continuationToken is not valid") from None
    expected = hmac.new(key, body, hashlib.sha256).digest()[:MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise BadRequest("continuationToken is not valid (altered or from another query)")
    return body
