"""Pure decisions about who can deliver a queued update, without I/O.

The SDK never verifies a token (it has no key and needs none): it reads the claims
the service reads (`typ`, `xuid`/`sub`, `tid`, `sbx`, `exp`, see
`laurels.auth.service`) to learn which player a session token speaks for and until
when. A token it cannot read (not a JWT) may speak for anyone: it is tried, and a
401 or 403 to it keeps the update queued instead of making it a dead letter.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

KINDS = ("player", "server", "delivery")


@dataclass(frozen=True)
class TokenClaims:
    """What a token says of itself; None where it says nothing readable."""

    kind: str
    xuid: str | None
    title_id: int | None
    sandbox: str | None
    expires_at: float | None


class Speaks(Enum):
    YES = "yes"  # the token says it is this player's (or a game server's), and is valid
    MAYBE = "maybe"  # unreadable, or expired by this device's clock: try it last
    NO = "no"  # another player's, title's or sandbox's: never send it


class Source(Enum):
    """What a queued update is sent with, best first."""

    SESSION = "session token"
    CREDENTIAL = "delivery credential"
    STORED_TOKEN = "stored session token"
    TRY = "session token (unproven for this player)"


class Refusal(Enum):
    """What to do when the service answers 401/403 to what an update was sent with."""

    FORGET_CREDENTIAL = "forget the delivery credential, keep the update queued"
    FORGET_STORED_TOKEN = "forget the stored session token, keep the update queued"
    KEEP = "keep the update queued"
    SETTLE = "settle the update by the answer"


def read_claims(token: str) -> TokenClaims | None:
    """The claims of a JWT-shaped token, unverified; None if it has none readable."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict) or payload.get("typ") not in KINDS:
        return None
    return TokenClaims(
        kind=str(payload["typ"]),
        xuid=None if payload["typ"] == "server" else _xuid(payload),
        title_id=_int(payload.get("tid")),
        sandbox=payload["sbx"] if isinstance(payload.get("sbx"), str) else None,
        expires_at=_number(payload.get("exp")),
    )


def _xuid(payload: dict[str, Any]) -> str | None:
    value = payload.get("xuid", payload.get("sub"))
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    return str(int(text)) if text.isdigit() and 0 < int(text) < 2**64 else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if ok else None  # type: ignore[arg-type]


def speaks_for(
    claims: TokenClaims | None, *, xuid: str, title_id: int, sandbox: str, now: float
) -> Speaks:
    """Whether a token with these claims may deliver an update of that player."""
    if claims is None:
        return Speaks.MAYBE
    if claims.title_id not in (None, title_id) or claims.sandbox not in (None, sandbox):
        return Speaks.NO
    if claims.kind != "server" and claims.xuid is not None and claims.xuid != xuid:
        return Speaks.NO
    expired = claims.expires_at is not None and claims.expires_at <= now
    if expired or (claims.kind != "server" and claims.xuid is None):
        return Speaks.MAYBE  # (the service's clock decides, or it says no)
    return Speaks.YES


def storable(
    claims: TokenClaims | None, *, xuid: str, title_id: int, sandbox: str, now: float
) -> bool:
    """Whether a session token may be kept in the queue file for `laurels sync` to
    exchange: only a player token that says it is this player's, for this title and
    sandbox, and when it expires (never a game server's token, never one we cannot
    read, never an expired one)."""
    return (
        claims is not None
        and claims.kind == "player"
        and claims.expires_at is not None
        and speaks_for(claims, xuid=xuid, title_id=title_id, sandbox=sandbox, now=now) is Speaks.YES
    )


def on_refusal(source: Source, status: int, *, from_service: bool) -> Refusal:
    """What a 401/403 answer means for a queued update, by what it was sent with.
    Only an answer that is recognisably the service's may cost a stored credential
    or token; a token tried for a player it may not speak for never costs the update."""
    if status not in (401, 403):
        return Refusal.SETTLE
    if source is Source.TRY:
        return Refusal.KEEP
    if source is Source.CREDENTIAL and status == 401:
        return Refusal.FORGET_CREDENTIAL if from_service else Refusal.KEEP
    if source is Source.STORED_TOKEN:
        return Refusal.FORGET_STORED_TOKEN if from_service else Refusal.KEEP
    return Refusal.SETTLE  # the player's own token or credential: the service's answer


@dataclass(frozen=True)
class Blocked:
    """Queued updates of one player that nothing on this device can deliver now."""

    service: str
    sandbox: str
    title_id: int
    xuid: str
    count: int
    token_expired_at: float | None  # a stored session token that expired, if any

    def describe(self) -> str:
        why = (
            "the session token stored for them has expired"
            if self.token_expired_at is not None
            else "no session token is stored for them"
        )
        return (
            f"{self.count} update(s) of player {self.xuid} (title {self.title_id},"
            f" {self.sandbox}, {self.service}) cannot be delivered now: no delivery"
            f" credential, and {why}. The player's next game session of this title"
            " will deliver them (at once when online; when offline, `laurels sync`"
            " delivers them once the network returns, while that session's token is valid)"
        )
