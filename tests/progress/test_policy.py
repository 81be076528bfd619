"""Tables of the pure decisions of the update and read paths (progress/policy.py):
percent clamping, when an unlock is recorded, rarity, and which sandboxes reset."""

from __future__ import annotations

import pytest

from laurels.errors import ResetRefused
from laurels.progress.policy import (
    RARE_BELOW_PERCENT,
    clamp_percent,
    effective_unlock_time,
    rarity,
    refuse_retail,
)

NOW = 1_700_000_000_000_000  # microseconds
SECOND = 1_000_000
SKEW = 300 * SECOND
WINDOW = 30 * 86_400 * SECOND


@pytest.mark.parametrize(
    ("given", "kept"),
    [(1, 1), (2, 2), (50, 50), (99, 99), (100, 100), (101, 100), (255, 100), (10**9, 100)],
)
def test_a_percent_is_kept_and_above_100_acts_as_100(given: int, kept: int) -> None:
    assert clamp_percent(given) == kept


@pytest.mark.parametrize("given", [0, -1, -100, -(10**9)])
def test_a_percent_below_1_is_refused(given: int) -> None:
    with pytest.raises(ValueError, match=r"percentComplete must be 1\.\.100"):
        clamp_percent(given)


@pytest.mark.parametrize(
    ("case", "achieved", "recorded"),
    [
        ("absent: now", None, NOW),
        ("now", NOW, NOW),
        ("a second ago", NOW - SECOND, NOW - SECOND),
        ("an hour ago", NOW - 3600 * SECOND, NOW - 3600 * SECOND),
        ("at the window's start", NOW - WINDOW, NOW - WINDOW),
        ("a microsecond older than the window: now", NOW - WINDOW - 1, NOW),
        ("years ago: now", NOW - 10 * WINDOW, NOW),
        ("the epoch: now", 0, NOW),
        ("a little in the future: clamped to now", NOW + SECOND, NOW),
        ("at the skew's end: clamped to now", NOW + SKEW, NOW),
        ("beyond the skew: now", NOW + SKEW + 1, NOW),
        ("far in the future: now", NOW + 10 * WINDOW, NOW),
    ],
)
def test_when_an_unlock_is_recorded(case: str, achieved: int | None, recorded: int) -> None:
    got = effective_unlock_time(achieved, now_us=NOW, skew_us=SKEW, window_us=WINDOW)
    assert got == recorded, case


@pytest.mark.parametrize(
    ("skew", "window", "achieved", "recorded"),
    [
        (0, WINDOW, NOW + 1, NOW),  # no skew allowed: any future time is now
        (SKEW, 0, NOW - 1, NOW),  # no window: any past time is now
        (0, 0, NOW, NOW),
    ],
)
def test_a_zero_skew_or_window_leaves_only_now(
    skew: int, window: int, achieved: int, recorded: int
) -> None:
    assert effective_unlock_time(achieved, now_us=NOW, skew_us=skew, window_us=window) == recorded


@pytest.mark.parametrize(
    ("unlocks", "players", "expected"),
    [
        (0, 0, ("Rare", 0.0)),  # nobody played: nothing to divide
        (5, 0, ("Rare", 0.0)),
        (0, -1, ("Rare", 0.0)),
        (0, 10, ("Rare", 0.0)),
        (1, 3, ("Common", 33.33)),  # rounded to two decimals
        (2, 3, ("Common", 66.67)),
        (1, 11, ("Rare", 9.09)),
        (1, 10, ("Common", RARE_BELOW_PERCENT)),  # exactly the threshold is common
        (999, 10_000, ("Rare", 9.99)),
        (99_999, 1_000_000, ("Common", 10.0)),  # 9.9999 rounds up to the threshold
        (10, 10, ("Common", 100.0)),
        (11, 10, ("Common", 100.0)),  # never above 100
        (1, 1_000_000, ("Rare", 0.0)),
    ],
)
def test_rarity(unlocks: int, players: int, expected: tuple[str, float]) -> None:
    category, percent = rarity(unlocks, players)
    assert (category, percent) == expected
    assert type(percent) is float


@pytest.mark.parametrize("sandbox", ["DEV.1", "DEV.a", "DEV.Test_2-x", "DEV." + "a" * 32])
def test_a_development_sandbox_can_be_reset(sandbox: str) -> None:
    refuse_retail(sandbox)  # raises ResetRefused for any other


@pytest.mark.parametrize(
    ("sandbox", "reason"),
    [
        ("RETAIL", "player data in RETAIL cannot be reset"),
        ("DEV.", "'DEV.' is not a sandbox name"),
        ("DEV." + "a" * 33, "is not a sandbox name"),
        ("dev.1", "'dev.1' is not a sandbox name"),
        ("retail", "'retail' is not a sandbox name"),
        ("PROD", "'PROD' is not a sandbox name"),
        ("DEV.1 ", "is not a sandbox name"),
        ("DEV.a/b", "is not a sandbox name"),
        ("", "'' is not a sandbox name"),
    ],
)
def test_any_other_sandbox_is_refused(sandbox: str, reason: str) -> None:
    with pytest.raises(ResetRefused) as refused:
        refuse_retail(sandbox)
    assert reason in str(refused.value)
    assert (refused.value.status, refused.value.code) == (403, 4500)
