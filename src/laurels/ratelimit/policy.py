"""The rate-limit decision, as pure functions: no clock, no I/O, no state.

Whose bucket a request is counted in: the caller's, named by its verified token, never
the player named in the path (`bucket_for`). So a caller refused with 403 at another
player's path spends its own requests, not that player's, and a caller cannot dodge
its limit by naming other (or made-up) players; the number of buckets grows with
the number of callers holding valid tokens, not with the paths they try.

Windows are fixed and aligned to the Unix epoch: a window of `seconds` covers
`[index * seconds, (index + 1) * seconds)` with `index = floor(now / seconds)`, so every
process that reads the same clock agrees on the window without talking to the others.

Refused requests count. The counter of a window is incremented before the decision and
is never given back, so a client that keeps hammering stays refused until the window
ends; it cannot extend its penalty either, since each window resets at its fixed end.

Failure: these functions do not fail on valid input; `Window` refuses a limit or a
length below 1 with `ValueError`, and `decide` refuses counts that do not match the
windows one for one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from laurels.errors import RateInfo

if TYPE_CHECKING:
    from laurels.settings import Settings
    from laurels.wire.principal import Principal


@dataclass(frozen=True)
class Window:
    """At most `requests` requests per `seconds`-long fixed window."""

    requests: int
    seconds: int

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds < 1:
            raise ValueError(f"a rate window needs at least 1 request and 1 s: {self}")


@dataclass(frozen=True)
class Bucket:
    """Where one request is counted: a caller's key and the windows that limit it."""

    key: str
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class Limits:
    """The windows of each kind of caller: players (and their delivery credentials),
    and game servers."""

    player: tuple[Window, ...]
    server: tuple[Window, ...]


def windows_from_settings(settings: Settings) -> tuple[Window, ...]:
    """The burst and sustained windows of a player (wire.md: 100/15 s, 300/5 min)."""
    return (
        Window(settings.rate_burst_requests, settings.rate_burst_seconds),
        Window(settings.rate_sustained_requests, settings.rate_sustained_seconds),
    )


def limits_from_settings(settings: Settings) -> Limits:
    """The player windows, and the server windows: the same lengths, their own limits."""
    return Limits(
        player=windows_from_settings(settings),
        server=(
            Window(settings.rate_server_burst_requests, settings.rate_burst_seconds),
            Window(settings.rate_server_sustained_requests, settings.rate_sustained_seconds),
        ),
    )


def bucket_for(principal: Principal, limits: Limits) -> Bucket:
    """The bucket of the caller `principal` speaks for.

    - A player token: one bucket per player, title and sandbox (wire.md: per user and
      title).
    - A delivery credential: its player's bucket, shared with that player's tokens, so
      that minting credentials buys no extra requests.
    - A game-server credential: one bucket per title and sandbox, with the larger
      server limits. It writes for every player of its title, so it cannot be held to
      one player's limit; and a bucket per (server, player in the path) would let it
      multiply its limit, and the counters, by naming made-up players.

    Title and XUID are digits, so the sandbox goes last and the keys cannot collide.
    """
    if principal.kind == "server":
        return Bucket(f"server:{principal.title_id}:{principal.sandbox}", limits.server)
    key = f"player:{principal.title_id}:{principal.xuid}:{principal.sandbox}"
    return Bucket(key, limits.player)


def window_index(window: Window, now: float) -> int:
    """Which window `now` falls in, counted from the epoch."""
    return math.floor(now / window.seconds)


def window_end(window: Window, now: float) -> int:
    """When the window holding `now` ends (Unix seconds)."""
    return (window_index(window, now) + 1) * window.seconds


def idle_after(windows: Sequence[Window], now: float) -> int:
    """When every window holding `now` has ended: a bucket last counted at `now` holds
    no live count after that and can be forgotten."""
    return max(window_end(window, now) for window in windows)


def retry_after(window: Window, now: float) -> int:
    """Whole seconds until the window holding `now` ends, rounded up, at least 1."""
    return max(1, math.ceil(window_end(window, now) - now))


def exceeded(window: Window, now: float, count: int) -> RateInfo | None:
    """The refusal for this window if `count` (this request included) is over its limit."""
    if count <= window.requests:
        return None
    return RateInfo(count, window.requests, window.seconds, retry_after(window, now))


def decide(windows: Sequence[Window], now: float, counts: Sequence[int]) -> RateInfo | None:
    """None when the request is allowed, else the refusal of the most restrictive window.

    `counts[i]` is window i's count after counting this request. When several windows are
    exceeded the one that ends last wins (ties: the longer window), since retrying any
    earlier would still be refused.
    """
    refusals = [
        info
        for window, count in zip(windows, counts, strict=True)
        if (info := exceeded(window, now, count)) is not None
    ]
    return max(refusals, key=_restrictiveness, default=None)


def _restrictiveness(info: RateInfo) -> tuple[int, int]:
    return (info.retry_after, info.period_seconds)
