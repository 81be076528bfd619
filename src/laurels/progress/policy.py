"""Pure decisions of the update and read paths: no I/O, tested with tables."""

from __future__ import annotations

from laurels.errors import ResetRefused
from laurels.titles import is_sandbox_name
from laurels.wire.rarity import RARE_BELOW_PERCENT, rarity

__all__ = [
    "RARE_BELOW_PERCENT",
    "clamp_percent",
    "effective_unlock_time",
    "rarity",
    "refuse_retail",
]


def clamp_percent(value: int) -> int:
    """Valid values are 1..100; above 100 acts as 100. Raises ValueError below 1."""
    if value < 1:
        raise ValueError("percentComplete must be 1..100")
    return min(value, 100)


def effective_unlock_time(
    achieved_us: int | None, *, now_us: int, skew_us: int, window_us: int
) -> int:
    """When an unlock is recorded: the time the player earned it, when given and
    believable; now when absent, older than the window, or in the future beyond
    the allowed clock skew (a little in the future is clamped to now)."""
    if achieved_us is None or achieved_us > now_us + skew_us:
        return now_us
    if achieved_us < now_us - window_us:
        return now_us
    return min(achieved_us, now_us)


def refuse_retail(sandbox: str) -> None:
    """Resets are for development sandboxes: raise ResetRefused for any other."""
    if not is_sandbox_name(sandbox):
        raise ResetRefused(f"{sandbox!r} is not a sandbox name (RETAIL or DEV.<name>)")
    if not sandbox.startswith("DEV."):
        raise ResetRefused(
            f"player data in {sandbox} cannot be reset; resets are only "
            "possible in development sandboxes (DEV.*)"
        )
