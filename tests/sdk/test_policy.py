"""The SDK's pure decisions (laurels.sdk._policy), as tables: argument checks,
classification of answers, HRESULTs, backoff, Retry-After, next attempt times and
coalescing. No I/O, no service."""

from __future__ import annotations

import email.utils
import json
import random
import re
from datetime import UTC, datetime

import pytest

import laurels.sdk
from laurels.sdk._policy import (
    BACKOFF_CAP,
    CLOCK_SLACK,
    MAX_ERROR_BODY,
    MAX_WAIT,
    IssuedCredential,
    Outcome,
    Queued,
    backoff,
    check_update,
    classify,
    coalesce,
    describe,
    due_time,
    hresult,
    iso_time,
    issued_credential,
    next_attempt,
    retry_after,
    service_error,
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


# --- classify -----------------------------------------------------------------------

SERVICE_ERROR = json.dumps(
    {"code": 4000, "source": "achievements", "description": "no such achievement"}
).encode()
EMPTY = b""
HTML = b"<!doctype html><html><body><form action=/login>Sign in to the Wi-Fi</form></body></html>"
RATE = json.dumps(
    {
        "version": 1,
        "currentRequests": 101,
        "maxRequests": 100,
        "periodInSeconds": 15,
        "limitType": "rate",
    }
).encode()
# JSON error bodies that are not the service's: another source, a missing or
# mistyped field, not an object at all
OTHER_SOURCE = b'{"code": 4000, "source": "proxy", "description": "denied"}'
NO_SOURCE = b'{"code": 4000, "description": "denied"}'
CODE_A_BOOL = b'{"code": true, "source": "achievements", "description": "denied"}'
CODE_A_STRING = b'{"code": "4000", "source": "achievements", "description": "denied"}'
NO_DESCRIPTION = b'{"code": 4000, "source": "achievements"}'
A_LIST = b'[{"code": 4000, "source": "achievements", "description": "denied"}]'
A_STRING = b'"achievements"'
A_NUMBER = b"4000"
NULL = b"null"
NOT_UTF8 = b"\xff\xfe{\x00"
DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = json.dumps(
    {"code": 4000, "source": "achievements", "description": "x" * MAX_ERROR_BODY}
).encode()
FOREIGN_BODIES = [
    EMPTY, HTML, OTHER_SOURCE, NO_SOURCE, CODE_A_BOOL, CODE_A_STRING, NO_DESCRIPTION,
    A_LIST, A_STRING, A_NUMBER, NULL, NOT_UTF8, DEEP, HUGE,
]  # fmt: skip
R, U, N, X = Outcome.RETRY, Outcome.UPDATED, Outcome.NOT_MODIFIED, Outcome.REJECTED


@pytest.mark.parametrize(
    ("status", "body", "direct", "queued"),
    [
        # the update route's own answers settle an update
        (200, EMPTY, U, U),
        (304, EMPTY, N, N),
        # a 200 with a body is a captive portal's page (or anything but the route)
        (200, HTML, R, R),
        (200, b"{}", R, R),
        (200, SERVICE_ERROR, R, R),
        (200, b" ", R, R),
        # other successes and every redirect (to a login page) are not the service's
        (201, EMPTY, R, R),
        (202, EMPTY, R, R),
        (204, EMPTY, R, R),
        (301, HTML, R, R),
        (302, EMPTY, R, R),
        (302, HTML, R, R),
        (303, HTML, R, R),
        (307, EMPTY, R, R),
        (308, HTML, R, R),
        # a 4xx with the service's error body is its refusal: for good
        (400, SERVICE_ERROR, X, X),
        # a direct call's 401 is the caller's to fix; a queued update keeps waiting
        # for a token or a delivery credential that works
        (401, SERVICE_ERROR, X, R),
        (403, SERVICE_ERROR, X, X),
        (404, SERVICE_ERROR, X, X),
        (405, SERVICE_ERROR, X, X),
        (409, SERVICE_ERROR, X, X),
        (413, SERVICE_ERROR, X, X),
        (415, SERVICE_ERROR, X, X),
        # ... a 4xx from anything else is not
        (400, HTML, R, R),
        (401, HTML, R, R),
        (403, HTML, R, R),
        (404, HTML, R, R),
        (404, EMPTY, R, R),
        (407, EMPTY, R, R),
        (407, HTML, R, R),
        (451, HTML, R, R),
        # passing failures, whatever their body
        (408, SERVICE_ERROR, R, R),
        (408, EMPTY, R, R),
        (429, RATE, R, R),
        (429, HTML, R, R),
        (500, SERVICE_ERROR, R, R),
        (502, HTML, R, R),
        (503, SERVICE_ERROR, R, R),
        (503, HTML, R, R),
        (504, EMPTY, R, R),
        (511, HTML, R, R),  # network authentication required: a captive portal
        (100, EMPTY, R, R),
    ],
)
def test_classify(status: int, body: bytes, direct: Outcome, queued: Outcome) -> None:
    assert classify(status, body) is direct
    assert classify(status, body, queued=False) is direct
    assert classify(status, body, queued=True) is queued


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413])
@pytest.mark.parametrize("body", FOREIGN_BODIES)
def test_a_4xx_without_the_services_error_body_is_retried(status: int, body: bytes) -> None:
    assert classify(status, body) is Outcome.RETRY
    assert classify(status, body, queued=True) is Outcome.RETRY


SPACED = b' {"code": 4500, "source": "achievements", "description": ""} '


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (SERVICE_ERROR, json.loads(SERVICE_ERROR)),
        (SPACED, json.loads(SPACED)),
        *[(body, None) for body in FOREIGN_BODIES],
    ],
)
def test_service_error(body: bytes, expected: dict[str, object] | None) -> None:
    assert service_error(body) == expected


# Nested deeper than the JSON parser recurses, yet small enough to be parsed at all.
DEEP_BUT_SMALL = b"[" * 5_000 + b"]" * 5_000
ISSUED = b'{"credential": "cred-1", "expiresAt": "2024-06-01T00:00:00.0000000Z"}'


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (201, ISSUED, IssuedCredential("cred-1", "2024-06-01T00:00:00.0000000Z")),
        (201, b' {"credential": "c", "expiresAt": "", "more": 1} ', IssuedCredential("c", "")),
        # another status, even with the very same body
        (200, ISSUED, None),
        (202, ISSUED, None),
        (302, EMPTY, None),
        (403, SERVICE_ERROR, None),
        # a 201 that is not the service's: a page, JSON of another shape or depth
        *[(201, body, None) for body in FOREIGN_BODIES],
        (201, DEEP_BUT_SMALL, None),
        (201, b'{"credential": ' + DEEP_BUT_SMALL + b', "expiresAt": ""}', None),
        (201, b'{"expiresAt": "2024-06-01T00:00:00.0000000Z"}', None),
        (201, b'{"credential": "c"}', None),
        (201, b'{"credential": "", "expiresAt": ""}', None),
        (201, b'{"credential": 7, "expiresAt": ""}', None),
        (201, b'{"credential": ["c"], "expiresAt": ""}', None),
        (201, b'{"credential": "c", "expiresAt": 1717200000}', None),
        (201, b'{"credential": "c", "expiresAt": null}', None),
    ],
)
def test_issued_credential(status: int, body: bytes, expected: IssuedCredential | None) -> None:
    assert issued_credential(status, body) == expected


FOREIGN = "(not an answer of the achievements service: a proxy or captive portal?)"


@pytest.mark.parametrize(
    ("status", "body", "reason", "text"),
    [
        (404, SERVICE_ERROR, "Not Found", "no such achievement"),
        (503, SERVICE_ERROR, "Service Unavailable", "no such achievement"),
        (200, EMPTY, "OK", "OK"),
        (304, EMPTY, "Not Modified", "Not Modified"),
        (429, RATE, "Too Many Requests", "Too Many Requests"),
        (200, HTML, "OK", f"OK {FOREIGN}"),
        (302, EMPTY, "Found", f"Found {FOREIGN}"),
        (407, HTML, "Proxy Authentication Required", f"Proxy Authentication Required {FOREIGN}"),
        (502, HTML, "Bad Gateway", f"Bad Gateway {FOREIGN}"),
        (400, A_LIST, "Bad Request", f"Bad Request {FOREIGN}"),
        (400, DEEP, "", f"HTTP 400 {FOREIGN}"),
    ],
)
def test_describe(status: int, body: bytes, reason: str, text: str) -> None:
    assert describe(status, body, reason) == text


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


YEAR = 365 * 86400.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        (" 120 ", 120.0),
        ("300", 300.0),
        (http_date(NOW + 30), 30.0),
        (http_date(NOW + 299), 299.0),
        (http_date(NOW - 60), 0.0),  # a date in the past: no wait
        ("Wed, 01 May 2024 18:22:37 GMT", 30.0),
        ("Wed, 01 May 2024 18:22:37 -0000", 30.0),
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        # bounded: no answer parks an update for longer than MAX_WAIT
        ("301", MAX_WAIT),
        ("86400", MAX_WAIT),
        ("31536000", MAX_WAIT),  # a year
        ("9" * 400, MAX_WAIT),  # beyond any float
        (http_date(NOW + 3600), MAX_WAIT),
        (http_date(NOW + 10 * YEAR), MAX_WAIT),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_WAIT),
        # malformed: ignored
        ("soon", None),
        ("3 seconds", None),
        ("-5", None),
        ("+5", None),
        ("1.5", None),
        ("1e3", None),
        ("0x10", None),
        ("inf", None),
        ("NaN", None),
        ("\u00b2", None),  # a superscript two: a digit to str.isdigit, not a number
        ("\u0663", None),  # an Arabic-Indic three
        ("Wed, 01 May", None),
        ("Wed, 99 May 2024 18:22:37 GMT", None),
        ("\x00", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, NOW) == seconds


def test_max_wait_is_the_backoff_cap() -> None:
    """A stored time beyond now + MAX_WAIT means the clock moved (see due_time):
    so no backoff and no Retry-After may be longer."""
    assert MAX_WAIT == BACKOFF_CAP


# --- due_time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "horizon", "expected"),
    [
        (0.0, MAX_WAIT, 0.0),  # never tried
        (NOW - YEAR, MAX_WAIT, NOW - YEAR),  # the clock stepped forward: long due
        (NOW - 10, MAX_WAIT, NOW - 10),
        (NOW, MAX_WAIT, NOW),
        (NOW + 10, MAX_WAIT, NOW + 10),  # a backoff: waits
        (NOW + MAX_WAIT, MAX_WAIT, NOW + MAX_WAIT),  # the longest wait written
        # written a moment ago by a thread that read the clock a moment later
        (NOW + MAX_WAIT + CLOCK_SLACK, MAX_WAIT, NOW + MAX_WAIT + CLOCK_SLACK),
        # further ahead than any wait written: the clock stepped back: due now
        (NOW + MAX_WAIT + CLOCK_SLACK + 1, MAX_WAIT, NOW),
        (NOW + 3600, MAX_WAIT, NOW),
        (NOW + YEAR, MAX_WAIT, NOW),
        (NOW + 60, 60.0, NOW + 60),  # a lease
        (NOW + 60.001, 60.0, NOW + 60.001),
        (NOW + 60 + CLOCK_SLACK + 1, 60.0, NOW),
    ],
)
def test_due_time(at: float, horizon: float, expected: float) -> None:
    assert due_time(at, NOW, horizon) == expected


def test_a_stepped_back_clock_does_not_park_a_backoff() -> None:
    written = NOW + YEAR  # a wall clock a year ahead when the backoff was written
    soft, hard = next_attempt(20, 120.0, written, random.Random(4))
    assert due_time(soft, NOW) <= NOW  # after the clock is set right: due
    assert due_time(hard, NOW) <= NOW
    soft, hard = next_attempt(20, 120.0, NOW, random.Random(4))
    assert due_time(soft, NOW) == soft > NOW  # written by this clock: it waits


# --- next_attempt ----------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [0, 1, 4, 12, 100])
@pytest.mark.parametrize("wait", [None, 0.5, 3.0, 120.0, MAX_WAIT])
def test_next_attempt(attempt: int, wait: float | None) -> None:
    rng = random.Random(attempt * 1000 + int(wait or 0))
    for _ in range(200):
        soft, hard = next_attempt(attempt, wait, NOW, rng)
        assert hard >= NOW + (wait or 0.0)  # Retry-After is a hard minimum
        assert soft >= hard  # a backoff never lets an attempt in before it
        assert soft <= max(hard, NOW + min(BACKOFF_CAP, 2.0**attempt))
        assert due_time(soft, NOW) == soft  # never so far ahead it reads as a clock step


@pytest.mark.parametrize("header", ["31536000", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_huge_retry_after_cannot_park_an_update(header: str) -> None:
    soft, hard = next_attempt(100, retry_after(header, NOW), NOW, random.Random(9))
    assert NOW + MAX_WAIT == hard == soft


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
