"""RTA frames and resource URIs, as tables."""

from __future__ import annotations

import pytest

from laurels.realtime.protocol import (
    NotificationResource,
    ProgressResource,
    ProtocolError,
    Subscribe,
    Unsubscribe,
    event_frame,
    parse_frame,
    parse_resource,
    subscribed,
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
        ("[2, 5, 9]", Unsubscribe(5, 9)),
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
    ],
)
def test_bad_frames_raise_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(text)


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
