"""RTA frames and resource URIs, as tables."""

from __future__ import annotations

import pytest

from laurels.realtime.protocol import (
    MAX_FRAME_BYTES,
    FrameTooLarge,
    NotificationResource,
    ProgressResource,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    event_frame,
    parse_frame,
    parse_resource,
    subscribed,
    too_deep,
    unsubscribed,
)

SCID = "6a2e0100-0000-0000-0000-00005f1d2c3b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[1, 1, "uri"]', Subscribe(1, "uri", None)),
        ('[1, 2, "uri", {}]', Subscribe(2, "uri", None)),
        ('[1, 3, "uri", {"since": null}]', Subscribe(3, "uri", None)),
        ('[1, 4, "uri", {"since": "17.42"}]', Subscribe(4, "uri", (17, 42))),
        (
            '[1, 4, "uri", {"since": "9223372036854775807.9223372036854775807"}]',
            Subscribe(4, "uri", (2**63 - 1, 2**63 - 1)),
        ),
        ('[1, 6, "[[[{{\\"", {"since": "1.2"}]', Subscribe(6, '[[[{{"', (1, 2))),
        ("[2, 5, 9]", Unsubscribe(5, 9)),
        ('[1, 7, "\\ud800"]', Subscribe(7, "\ud800", None)),  # an odd URI, not a bad frame
    ],
)
def test_good_frames(text: str, expected: object) -> None:
    assert parse_frame(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "{}",
        "[]",
        '"[1]"',
        "[3, 1, {}]",
        "[4]",
        "[1, 1]",
        "[1, -1, 'u']",
        '[1, -1, "u"]',
        '[1, true, "u"]',
        '[1, 1.5, "u"]',
        "[1, 1, 7]",
        '[1, 1, "u", {"since": 5}]',
        '[1, 1, "u", {"since": "abc"}]',
        '[1, 1, "u", {"since": "1.2.3"}]',
        '[1, 1, "u", {"other": 1}]',
        '[1, 1, "u", {}, 5]',
        '[2, 1, "x"]',
        "[2, 1]",
        "[2, 1, 2, 3]",
        '[1, 9007199254740993, "u"]',
        # `since` out of range or of the wrong type (it reached the database before).
        '[1, 1, "u", {"since": "100000000000000000000.1"}]',
        '[1, 1, "u", {"since": "1.9223372036854775808"}]',
        '[1, 1, "u", {"since": 1e20}]',
        '[1, 1, "u", {"since": -1}]',
        '[1, 1, "u", {"since": "-1.2"}]',
        '[1, 1, "u", {"since": 1.5}]',
        '[1, 1, "u", {"since": true}]',
        '[1, 1, "u", {"since": ["1.2"]}]',
        '[1, 1, "u", {"since": "\u0661.2"}]',  # Arabic-Indic one: a digit, not ASCII
        '[1, 1e20, "u"]',
        '[1, 100000000000000000000, "u"]',
        "[2, 1, 100000000000000000000]",
        "[2, 1, -1]",
        "[2, 1, 1e3]",
        "[2, 1, " + "9" * 5000 + "]",  # more digits than Python converts
        # Nesting: a hundred thousand deep raised RecursionError before.
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,
        '[1, 1, "u", {"since": {"a": [[[[1]]]]}}]',
        "[[[[[1]]]]]",
    ],
)
def test_bad_frames_raise_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_frame(text)
    assert raised.value.close_code == 1003 or len(text) > MAX_FRAME_BYTES


@pytest.mark.parametrize(
    "text",
    [
        "x" * (MAX_FRAME_BYTES + 1),
        "[" * 100_000 + "]" * 100_000,
        '[1, 1, "' + "\u00e9" * 9000 + '"]',  # short in characters, long in bytes
        '[1, 1, "' + "a" * MAX_FRAME_BYTES + '"]',
    ],
)
def test_a_frame_over_the_size_limit_is_too_large(text: str) -> None:
    with pytest.raises(FrameTooLarge) as raised:
        parse_frame(text)
    assert raised.value.close_code == 1009


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("[]", 1, False),
        ("[[]]", 1, True),
        ('[1, {"a": [2]}]', 3, False),
        ('[1, {"a": [2]}]', 2, True),
        ('["[[[[[[", "\\"[[[[["]', 1, False),  # brackets inside strings do not count
        ('["\\\\", [[]]]', 2, True),  # an escaped backslash ends before the quote
        ("[[]]" * 1000, 2, False),  # side by side, not nested
        ("[" * 100_000, 4, True),
        ("", 1, False),
    ],
)
def test_nesting_depth(text: str, limit: int, expected: bool) -> None:
    assert too_deep(text, limit) is expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            f"https://achievements.xboxlive.com/users/xuid(2533274790395904)/achievements/{SCID}",
            ProgressResource("2533274790395904", SCID),
        ),
        (
            f"http://anything/users/xuid(12)/achievements/{SCID.upper()}/",
            ProgressResource("12", SCID),
        ),
        (
            "https://notify.xboxlive.com/users/xuid(12)/deviceId/current/titleId/1234",
            NotificationResource("12", 1234),
        ),
        ("/users/xuid(12)/deviceid/current/titleid/1234?x=1", NotificationResource("12", 1234)),
        ("https://x/users/xuid(0)/achievements/" + SCID, None),
        ("https://x/users/xuid(abc)/achievements/" + SCID, None),
        ("https://x/users/xuid(12)/achievements/not-a-guid", None),
        ("https://x/users/xuid(12)/deviceId/current/titleId/-1", None),
        ("https://x/users/xuid(12)/deviceId/current/titleId/99999999999", None),
        ("https://x/users/xuid(12)/achievements", None),
        ("https://x/", None),
        ("", None),
    ],
)
def test_resources(uri: str, expected: object) -> None:
    assert parse_resource(uri) == expected


def test_answers_and_events_are_compact_json_arrays() -> None:
    assert subscribed(3, 0, 7, {"lastEventId": "0.1"}) == '[1,3,0,7,{"lastEventId":"0.1"}]'
    assert subscribed(3, 2) == "[1,3,2,null,null]"
    assert unsubscribed(4, 0) == "[2,4,0]"
    assert event_frame(7, '{"a":1}') == '[3,7,{"a":1}]'
