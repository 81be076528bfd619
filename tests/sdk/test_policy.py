"""The SDK's pure decisions (laurels.sdk._policy), as tables: argument checks,
classification of answers, HRESULTs, backoff, Retry-After, next attempt times and
coalescing. No I/O, no service."""

from __future__ import annotations

import email.utils
import random
import re
from datetime import UTC, datetime

import pytest

import laurels.sdk
from laurels.sdk._policy import (
    BACKOFF_CAP,
    Outcome,
    Queued,
    backoff,
    check_update,
    classify,
    coalesce,
    hresult,
    iso_time,
    next_attempt,
    retry_after,
)

XUID = "2533274790395904"
NOW = 1_714_587_727.0  # 2024-05-01T18:22:07Z, a whole second so HTTP dates are exact

# --- check_update --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("xuid", "achievement_id", "percent", "what"),
    [
        (XUID, "", 40, "empty id"),
        (XUID, "   ", 40, "blank id"),
        (XUID, "x" * 65, 40, "id of 65 characters"),
        (XUID, 1, 40, "id not a string"),
        (XUID, None, 40, "id None"),
        (XUID, "1", 0, "percent 0"),
        (XUID, "1", -1, "percent -1"),
        (XUID, "1", 1.5, "percent a float"),
        (XUID, "1", 50.0, "percent a whole float"),
        (XUID, "1", "50", "percent a string"),
        (XUID, "1", None, "percent None"),
        (XUID, "1", True, "percent a bool"),
        ("abc", "1", 40, "xuid not digits"),
        ("0", "1", 40, "xuid 0"),
        (0, "1", 40, "int xuid 0"),
        (-5, "1", 40, "negative int xuid"),
        (2**64, "1", 40, "xuid above uint64"),
        (str(2**64), "1", 40, "xuid string above uint64"),
        ("", "1", 40, "empty xuid"),
        (" 123", "1", 40, "xuid with a space"),
        ("12.5", "1", 40, "xuid with a dot"),
        (None, "1", 40, "xuid None"),
        (True, "1", 40, "xuid a bool"),
        (1.0, "1", 40, "xuid a float"),
    ],
)
def test_check_update_refuses_impossible_arguments(
    xuid: object, achievement_id: object, percent: object, what: str
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the type is the contract; messages vary
        check_update(xuid, achievement_id, percent)


@pytest.mark.parametrize(
    ("xuid", "achievement_id", "percent", "expected"),
    [
        (XUID, "1", 40, (XUID, "1", 40)),
        (int(XUID), "1", 40, (XUID, "1", 40)),  # an int xuid is sent as its decimal string
        (1, "1", 1, ("1", "1", 1)),
        (2**64 - 1, "1", 40, (str(2**64 - 1), "1", 40)),
        (XUID, "x" * 64, 40, (XUID, "x" * 64, 40)),  # 64 characters is the limit
        (XUID, "1", 100, (XUID, "1", 100)),
        (XUID, "1", 101, (XUID, "1", 100)),
        (XUID, "1", 150, (XUID, "1", 100)),  # above 100 is sent as 100
        (XUID, "1", 10**9, (XUID, "1", 100)),
    ],
)
def test_check_update_accepts_and_clamps(
    xuid: object, achievement_id: object, percent: object, expected: tuple[str, str, int]
) -> None:
    assert check_update(xuid, achievement_id, percent) == expected


# --- classify ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "direct", "queued"),
    [
        (200, Outcome.UPDATED, Outcome.UPDATED),
        (304, Outcome.NOT_MODIFIED, Outcome.NOT_MODIFIED),
        (400, Outcome.REJECTED, Outcome.REJECTED),
        # a direct call's 401 is the caller's to fix; a queued update keeps waiting
        # for a token or a delivery credential that works
        (401, Outcome.REJECTED, Outcome.RETRY),
        (403, Outcome.REJECTED, Outcome.REJECTED),
        (404, Outcome.REJECTED, Outcome.REJECTED),
        (408, Outcome.RETRY, Outcome.RETRY),
        (409, Outcome.REJECTED, Outcome.REJECTED),
        (429, Outcome.RETRY, Outcome.RETRY),
        (500, Outcome.RETRY, Outcome.RETRY),
        (502, Outcome.RETRY, Outcome.RETRY),
        (503, Outcome.RETRY, Outcome.RETRY),
        (504, Outcome.RETRY, Outcome.RETRY),
    ],
)
def test_classify(status: int, direct: Outcome, queued: Outcome) -> None:
    assert classify(status) is direct
    assert classify(status, queued=False) is direct
    assert classify(status, queued=True) is queued


# --- hresult ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, 0),
        (304, 0x80190130),  # HTTP_E_STATUS_NOT_MODIFIED, a success
        (400, 0x80190190),
        (401, 0x80190191),
        (403, 0x80190193),
        (404, 0x80190194),
        (409, 0x80190199),
        (429, 0x801901AD),
        (500, 0x801901F4),
        (503, 0x801901F7),
    ],
)
def test_hresult_matches_wire_md(status: int, code: int) -> None:
    assert hresult(status) == code


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("NOT_MODIFIED", 0x80190130),
        ("E_INVALIDARG", 0x80070057),
        ("E_UNEXPECTED", 0x8000FFFF),
        ("E_BOUNDS", 0x8000000B),
        ("E_NOT_SUPPORTED", 0x80070032),
    ],
)
def test_public_result_codes(name: str, code: int) -> None:
    assert getattr(laurels.sdk, name) == code


# --- backoff ------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5, 8, 9, 10, 20, 31, 64, 1000, 10**9])
def test_backoff_stays_within_its_exponential_ceiling(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(BACKOFF_CAP, 1.0 * 2.0 ** min(attempt, 64))
    waits = [backoff(attempt, rng) for _ in range(500)]
    assert all(0.0 <= w <= ceiling for w in waits)
    # full jitter: spread over the whole range, not bunched at the ceiling
    assert min(waits) < ceiling * 0.05
    assert max(waits) > ceiling * 0.9


def test_backoff_is_capped_at_300_seconds() -> None:
    assert BACKOFF_CAP == 300.0
    rng = random.Random(1)
    waits = [backoff(attempt, rng) for attempt in range(9, 200) for _ in range(20)]
    assert max(waits) <= 300.0
    assert max(waits) > 290.0  # the cap is reached, not some smaller ceiling


def test_backoff_full_jitter_can_be_near_zero() -> None:
    rng = random.Random(2)
    assert min(backoff(50, rng) for _ in range(2000)) < 1.0


@pytest.mark.parametrize(
    ("base", "cap", "attempt", "ceiling"),
    [
        (0.5, 10.0, 0, 0.5),
        (0.5, 10.0, 3, 4.0),
        (0.5, 10.0, 6, 10.0),
        (2.0, 300.0, 10, 300.0),
    ],
)
def test_backoff_base_and_cap(base: float, cap: float, attempt: int, ceiling: float) -> None:
    rng = random.Random(3)
    waits = [backoff(attempt, rng, base=base, cap=cap) for _ in range(300)]
    assert all(0.0 <= w <= ceiling for w in waits)
    assert max(waits) > ceiling * 0.9


def test_backoff_is_reproducible_with_a_seeded_rng() -> None:
    first = [backoff(a, random.Random(42)) for a in range(12)]
    again = [backoff(a, random.Random(42)) for a in range(12)]
    assert first == again


# --- retry_after ----------------------------------------------------------------------


def http_date(moment: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(moment, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("86400", 86400.0),
        (http_date(NOW + 30), 30.0),
        (http_date(NOW + 3600), 3600.0),
        (http_date(NOW - 60), 0.0),  # a date in the past: no wait
        ("Wed, 01 May 2024 18:22:37 GMT", 30.0),
        ("soon", None),
        ("3 seconds", None),
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, NOW) == seconds


# --- next_attempt ----------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [0, 1, 4, 12, 100])
@pytest.mark.parametrize("wait", [None, 0.5, 3.0, 120.0, 3600.0])
def test_next_attempt(attempt: int, wait: float | None) -> None:
    rng = random.Random(attempt * 1000 + int(wait or 0))
    for _ in range(200):
        soft, hard = next_attempt(attempt, wait, NOW, rng)
        assert hard >= NOW + (wait or 0.0)  # Retry-After is a hard minimum
        assert soft >= hard  # a backoff never lets an attempt in before it
        assert soft <= max(hard, NOW + min(BACKOFF_CAP, 2.0**attempt))


def test_next_attempt_without_retry_after_has_no_hard_minimum() -> None:
    soft, hard = next_attempt(3, None, NOW, random.Random(5))
    assert hard == NOW
    assert NOW <= soft <= NOW + 8.0


# --- coalesce ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "percent", "now", "expected"),
    [
        (None, 40, 10.0, Queued(40, 10.0)),  # nothing queued: the new value
        (None, 100, 10.0, Queued(100, 10.0)),
        (Queued(40, 5.0), 60, 10.0, Queued(60, 10.0)),  # higher: new value, new time
        (Queued(40, 5.0), 100, 10.0, Queued(100, 10.0)),
        (Queued(40, 5.0), 40, 10.0, Queued(40, 5.0)),  # equal: keeps the earlier time
        (Queued(100, 5.0), 100, 10.0, Queued(100, 5.0)),
        (Queued(40, 5.0), 20, 10.0, Queued(40, 5.0)),  # lower: keeps what is stored
        (Queued(100, 5.0), 1, 10.0, Queued(100, 5.0)),
    ],
)
def test_coalesce(stored: Queued | None, percent: int, now: float, expected: Queued) -> None:
    assert coalesce(stored, percent, now) == expected


# --- iso_time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (0.0, "1970-01-01T00:00:00.0000000Z"),
        (NOW, "2024-05-01T18:22:07.0000000Z"),
        (NOW + 0.5, "2024-05-01T18:22:07.5000000Z"),
        (NOW + 0.25, "2024-05-01T18:22:07.2500000Z"),
    ],
)
def test_iso_time(moment: float, text: str) -> None:
    assert iso_time(moment) == text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", text)
