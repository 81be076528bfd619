"""The rate-limit decision: whose bucket a request is counted in, fixed epoch-aligned
windows, refusals, Retry-After."""

from __future__ import annotations

from typing import Literal

import pytest

from laurels.errors import RateInfo
from laurels.ratelimit.policy import (
    Bucket,
    Limits,
    Window,
    bucket_for,
    decide,
    idle_after,
    limits_from_settings,
    retry_after,
    window_index,
    windows_from_settings,
)
from laurels.settings import Settings
from laurels.wire.principal import Principal

BURST = Window(100, 15)
SUSTAINED = Window(300, 300)
DEFAULT = (BURST, SUSTAINED)


def test_windows_from_settings_defaults_match_the_wire_spec() -> None:
    assert windows_from_settings(Settings()) == DEFAULT


def test_windows_from_settings_are_configurable() -> None:
    settings = Settings(
        rate_burst_requests=5,
        rate_burst_seconds=2,
        rate_sustained_requests=50,
        rate_sustained_seconds=60,
    )
    assert windows_from_settings(settings) == (Window(5, 2), Window(50, 60))


def test_server_limits_default_to_a_busy_title_s_servers_over_the_same_windows() -> None:
    """10,000 a second in bursts and 5,000 sustained: above what one process answers."""
    assert limits_from_settings(Settings()) == Limits(
        player=DEFAULT, server=(Window(150_000, 15), Window(1_500_000, 300))
    )


def test_server_limits_are_configurable() -> None:
    settings = Settings(
        rate_burst_seconds=2, rate_server_burst_requests=7, rate_server_sustained_requests=9
    )
    assert limits_from_settings(settings).server == (Window(7, 2), Window(9, 300))


LIMITS = Limits(player=(Window(1, 1),), server=(Window(2, 2),))


def principal(
    kind: Literal["player", "server", "delivery"],
    xuid: str | None = "2533274790395904",
    title_id: int = 1234,
    sandbox: str = "DEV.1",
) -> Principal:
    return Principal(kind, xuid, title_id, sandbox, 0.0, "c1" if kind == "delivery" else None)


PLAYER_BUCKET = Bucket("player:1234:2533274790395904:DEV.1", LIMITS.player)


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        pytest.param(principal("player"), PLAYER_BUCKET, id="player"),
        # a delivery credential shares its player's bucket: no extra requests per credential
        pytest.param(principal("delivery"), PLAYER_BUCKET, id="delivery-is-its-player"),
        pytest.param(
            principal("player", xuid="2533274790395905"),
            Bucket("player:1234:2533274790395905:DEV.1", LIMITS.player),
            id="another-player",
        ),
        pytest.param(
            principal("player", title_id=99),
            Bucket("player:99:2533274790395904:DEV.1", LIMITS.player),
            id="another-title",
        ),
        pytest.param(
            principal("player", sandbox="RETAIL"),
            Bucket("player:1234:2533274790395904:RETAIL", LIMITS.player),
            id="another-sandbox",
        ),
        # a game server: one bucket per title and sandbox, whatever player it writes
        pytest.param(
            principal("server", xuid=None), Bucket("server:1234:DEV.1", LIMITS.server), id="server"
        ),
        pytest.param(
            principal("server", xuid=None, sandbox="DEV.2"),
            Bucket("server:1234:DEV.2", LIMITS.server),
            id="server-other-sandbox",
        ),
    ],
)
def test_the_bucket_is_the_callers(caller: Principal, expected: Bucket) -> None:
    assert bucket_for(caller, LIMITS) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [(0.0, 300), (299.9, 300), (300.0, 600), (14.0, 300)],
)
def test_a_bucket_is_idle_once_its_longest_window_ends(now: float, expected: int) -> None:
    assert idle_after(DEFAULT, now) == expected


@pytest.mark.parametrize(("requests", "seconds"), [(0, 15), (100, 0), (-1, -1)])
def test_window_refuses_empty_limits(requests: int, seconds: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Window(requests, seconds)


@pytest.mark.parametrize(
    ("now", "index"),
    [(0.0, 0), (14.999, 0), (15.0, 1), (29.9, 1), (1_700_000_000.5, 113_333_333)],
)
def test_window_index_is_aligned_to_the_epoch(now: float, index: int) -> None:
    assert window_index(BURST, now) == index


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (0.0, 15),  # a window just began: all of it
        (15.0, 15),
        (16.0, 14),
        (16.2, 14),  # rounded up: 13.8 s left
        (29.5, 1),  # half a second left: still 1
        (29.999, 1),  # never 0
    ],
)
def test_retry_after_is_whole_seconds_to_the_window_end(now: float, expected: int) -> None:
    assert retry_after(BURST, now) == expected


@pytest.mark.parametrize(
    ("counts", "now"),
    [
        ((1, 1), 0.0),
        ((100, 100), 3.0),  # the 100th request in 15 s is allowed
        ((100, 300), 299.0),  # the 300th in 5 minutes is allowed
        ((50, 299), 1234.5),
    ],
)
def test_allowed_under_the_limits(counts: tuple[int, int], now: float) -> None:
    assert decide(DEFAULT, now, counts) is None


@pytest.mark.parametrize(
    ("counts", "now", "expected"),
    [
        # the 101st request in 15 s: refused until the burst window ends (at 15 s)
        ((101, 101), 3.0, RateInfo(101, 100, 15, 12)),
        ((101, 250), 1_500_000_002.4, RateInfo(101, 100, 15, 13)),  # 12.6 s left
        # the 301st in 5 minutes: refused until the sustained window ends (at 300 s)
        ((40, 301), 200.0, RateInfo(301, 300, 300, 100)),
        # hammering: refused requests still count
        ((150, 150), 3.0, RateInfo(150, 100, 15, 12)),
    ],
)
def test_refused_over_a_limit(counts: tuple[int, int], now: float, expected: RateInfo) -> None:
    assert decide(DEFAULT, now, counts) == expected


@pytest.mark.parametrize(
    ("counts", "now", "expected"),
    [
        # both exceeded, the sustained window ends later: it wins
        ((101, 301), 200.0, RateInfo(301, 300, 300, 100)),
        # both exceeded and both end at 300 s: the longer window wins the tie
        ((101, 301), 290.0, RateInfo(301, 300, 300, 10)),
    ],
)
def test_the_window_ending_last_wins(
    counts: tuple[int, int], now: float, expected: RateInfo
) -> None:
    assert decide(DEFAULT, now, counts) == expected


def test_a_shorter_window_ending_later_wins() -> None:
    # a 10 s window ending at 300 s outlasts a 7 s window ending at 294 s
    windows = (Window(1, 7), Window(1, 10))
    assert decide(windows, 290.5, (2, 2)) == RateInfo(2, 1, 10, 10)


@pytest.mark.parametrize("now", [0.0, 14.0, 14.5, 14.999_999, 299.999_999, 1e9 - 1e-6])
def test_retry_after_is_at_least_one(now: float) -> None:
    info = decide(DEFAULT, now, (1000, 1000))
    assert info is not None
    assert info.retry_after >= 1


def test_counts_must_match_windows() -> None:
    with pytest.raises(ValueError, match=r"shorter|longer"):
        decide(DEFAULT, 0.0, (1,))


def test_no_windows_allows_everything() -> None:
    assert decide((), 0.0, ()) is None
