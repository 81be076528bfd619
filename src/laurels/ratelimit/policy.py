"""The rate-limit decision, as pure functions: no clock, no I/O, no state.

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


@dataclass(frozen=True)
class Window:
    """At most `requests` requests per `seconds`-long fixed window."""

    requests: int
    seconds: int

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds < 1:
            raise ValueError(f"a rate window needs at least 1 request and 1 s: {self}")


def windows_from_settings(settings: Settings) -> tuple[Window, ...]:
    """The burst and sustained windows of the settings (wire.md: 100/15 s, 300/5 min)."""
    return (
        Window(settings.rate_burst_requests, settings.rate_burst_seconds),
        Window(settings.rate_sustained_requests, settings.rate_sustained_seconds),
    )


def window_index(window: Window, now: float) -> int:
    """Which window `now` falls in, counted from the epoch."""
    return math.floor(now / window.seconds)


def retry_after(window: Window, now: float) -> int:
    """Whole seconds until the window holding `now` ends, rounded up, at least 1."""
    end = (window_index(window, now) + 1) * window.seconds
    return max(1, math.ceil(end - now))


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
