"""Who a request speaks for: the claims of a verified token (auth.service verifies
tokens and makes these; every feature reads them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from laurels.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token speaks for."""

    kind: Literal["player", "server", "delivery"]
    xuid: str | None
    title_id: int
    sandbox: str
    expires_at: float
    # The `jti` of a delivery credential (checked against the revocation list).
    credential_id: str | None = None

    def require_player_access(self, *, xuid: str, title_id: int, sandbox: str) -> None:
        """Raise Forbidden unless this token may write that player's progress (and,
        for player and server tokens, read it: see `require_read_access`). A
        delivery credential is held to its own player, title and sandbox like a player."""
        if sandbox != self.sandbox:
            raise Forbidden(f"the token is for sandbox {self.sandbox}, not {sandbox}")
        if title_id != self.title_id:
            raise Forbidden(f"the token is for title {self.title_id}, not {title_id}")
        if self.kind != "server" and xuid != self.xuid:
            raise Forbidden(f"a {self.kind} token may only access its own player's achievements")

    def require_read_access(self, *, xuid: str, title_id: int) -> None:
        """Raise Forbidden unless this token may read that player's achievements of
        that title (the list, the feed, the history): a player reads its own (any
        title of its sandbox); a game server reads any player's of its own title; a
        delivery credential reads nothing (it may only post updates)."""
        if self.kind == "delivery":
            raise Forbidden("a delivery credential may only post progress updates")
        if self.kind == "player" and xuid != self.xuid:
            raise Forbidden("a player token may only read its own player's achievements")
        if self.kind == "server" and title_id != self.title_id:
            raise Forbidden(f"this server credential is for title {self.title_id}")

    def require_server(self, action: str) -> None:
        if self.kind != "server":
            raise Forbidden(f"{action} needs a game-server credential")
