"""The real-time protocol's pure parts (`laurels.sdk._rta`): URLs, resources,
frames both ways, typed events, the bounded memory of event ids, the backoff."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from laurels.sdk import ProgressEvent, UnlockNotification
from laurels.sdk._rta import (
    EventFrame,
    EventIds,
    ResyncFrame,
    SubscribeAnswer,
    UnsubscribeAnswer,
    notification_resource,
    parse_event,
    parse_frame,
    player,
    progress_resource,
    reconnect_delay,
    refusal_delay,
    subscribe_frame,
    transient_refusal,
    unsubscribe_frame,
    websocket_url,
)

SCID = "6a2e0100-0000-0000-0000-00005f1d2c3b"
PROGRESS = {
    "serviceConfigId": SCID.upper(),
    "eventId": "7.42",
    "progression": [
        {
            "id": "1",
            "progressState": "InProgress",
            "timeUnlocked": "0001-01-01T00:00:00Z",
            "requirements": [{"id": "r", "current": "40", "target": "100"}],
        },
        {
            "id": "2",
            "progressState": "Achieved",
            "timeUnlocked": "2024-05-01T18:22:07.1234567Z",
            "requirements": [{"id": "r", "current": "100", "target": "100"}],
        },
    ],
}
UNLOCK = {
    "service": "achievements",
    "eventId": "7.43",
    "achievementId": "2",
    "achievementName": "First Steps",
    "achievementDescription": "You did it.",
    "achievementIcon": "http://x/icon.png",
    "titleId": "1234",
    "gamerscore": 10,
    "xuid": "101010101010",
    "extendedInfoUrl": "http://x",
    "rarityPercentage": 0.12,
    "rarityCategory": "Rare",
    "unlockTime": "2024-05-01T18:22:07.1234567Z",
}


@pytest.mark.parametrize(
    ("service", "url"),
    [
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/connect"),
        ("http://127.0.0.1:8080/", "ws://127.0.0.1:8080/connect"),
        ("https://ach.example.com/base", "wss://ach.example.com/base/connect"),
        ("HTTPS://ach.example.com", "wss://ach.example.com/connect"),
        ("ws://h:1", "ws://h:1/connect"),
    ],
)
def test_websocket_url(service: str, url: str) -> None:
    assert websocket_url(service) == url


@pytest.mark.parametrize("service", ["ftp://h", "127.0.0.1:8080", ""])
def test_websocket_url_refuses_other_schemes(service: str) -> None:
    with pytest.raises(ValueError, match="http"):
        websocket_url(service)


def test_resources() -> None:
    progress = progress_resource("101", SCID)
    assert progress.uri == f"https://achievements.xboxlive.com/users/xuid(101)/achievements/{SCID}"
    assert (progress.kind, progress.xuid) == ("progress", "101")
    notify = notification_resource("101", 1234)
    assert notify.uri == (
        "https://notify.xboxlive.com/users/xuid(101)/deviceId/current/titleId/1234"
    )
    assert notify.kind == "notifications"


@pytest.mark.parametrize(
    ("value", "expected"), [("2533274790395904", "2533274790395904"), (7, "7"), ("007", "7")]
)
def test_player(value: str | int, expected: str) -> None:
    assert player(value) == expected


@pytest.mark.parametrize("value", ["", "x1", "-1", "0", str(2**64), True, 1.5, None])
def test_player_refuses(value: Any) -> None:
    with pytest.raises(ValueError, match="uint64"):
        player(value)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (subscribe_frame(1, "u"), [1, 1, "u"]),
        (subscribe_frame(9, "u", "3.4"), [1, 9, "u", {"since": "3.4"}]),
        (unsubscribe_frame(2, 17), [2, 2, 17]),
    ],
)
def test_client_frames(frame: str, expected: list[Any]) -> None:
    assert json.loads(frame) == expected
    assert " " not in frame  # compact, as the reference client sends


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[1,1,0,5,{"lastEventId":"3.4"}]', SubscribeAnswer(1, 0, 5, {"lastEventId": "3.4"})),
        ("[1,2,3,null,null]", SubscribeAnswer(2, 3, None, None)),
        ("[1,2,1,7,null]", SubscribeAnswer(2, 1, None, None)),  # no subId on failure
        ('[1,2,0,"s1",{}]', SubscribeAnswer(2, 0, "s1", {})),
        ("[2,3,0]", UnsubscribeAnswer(3, 0)),
        ('[3,5,{"a":1}]', EventFrame(5, {"a": 1})),
        ("[4]", ResyncFrame()),
        (b"[4]", ResyncFrame()),
    ],
)
def test_parse_frame(text: str | bytes, expected: object) -> None:
    assert parse_frame(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "{}",
        "[]",
        '["1"]',
        "[true]",
        "[5]",
        "[4,1]",
        "[1,1,0,5]",  # subscribe answer without data
        "[1,1,0,null,null]",  # success without a subId
        '[1,"1",0,5,null]',
        "[1,1,0,5,[1]]",
        "[2,3]",
        '[2,"3",0]',
        "[3,5]",
        "[3,5,[1]]",
        "[3,null,{}]",
        b"\xff",
    ],
)
def test_parse_frame_refuses_what_the_protocol_does_not_define(text: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_frame(text)


def test_last_event_id() -> None:
    assert SubscribeAnswer(1, 0, 1, {"lastEventId": "3.4"}).last_event_id == "3.4"
    assert SubscribeAnswer(1, 0, 1, {}).last_event_id is None
    assert SubscribeAnswer(1, 0, 1, None).last_event_id is None


def test_progress_event() -> None:
    event = parse_event(progress_resource("101", SCID), PROGRESS)
    assert isinstance(event, ProgressEvent)
    assert (event.xuid, event.scid, event.event_id) == ("101", SCID, "7.42")
    first, second = event.changes
    assert (first.id, first.percent, first.progress_state, first.unlocked) == (
        "1",
        40,
        "InProgress",
        False,
    )
    assert (second.percent, second.unlocked, second.time_unlocked) == (
        100,
        True,
        "2024-05-01T18:22:07.1234567Z",
    )


def test_unlock_notification() -> None:
    event = parse_event(notification_resource("101010101010", 1234), UNLOCK)
    assert isinstance(event, UnlockNotification)
    assert event.event_id == "7.43"
    assert (event.achievement_id, event.name, event.description) == (
        "2",
        "First Steps",
        "You did it.",
    )
    assert (event.icon, event.gamerscore, event.title_id) == ("http://x/icon.png", 10, 1234)
    assert (event.rarity_percentage, event.rarity_category) == (0.12, "Rare")
    assert event.unlock_time == "2024-05-01T18:22:07.1234567Z"


def test_an_event_without_an_event_id_is_an_xbox_live_event() -> None:
    data = {k: v for k, v in PROGRESS.items() if k != "eventId"}
    event = parse_event(progress_resource("101", SCID), data)
    assert isinstance(event, ProgressEvent)
    assert event.event_id is None


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("progress", {"serviceConfigId": SCID}),
        ("progress", {**PROGRESS, "eventId": 42}),
        ("progress", {**PROGRESS, "progression": [{"id": "1"}]}),
        ("notifications", {**UNLOCK, "gamerscore": "ten"}),
        ("notifications", {k: v for k, v in UNLOCK.items() if k != "achievementId"}),
    ],
)
def test_malformed_event_data(kind: str, data: dict[str, Any]) -> None:
    resource = progress_resource("1", SCID) if kind == "progress" else notification_resource("1", 1)
    with pytest.raises((KeyError, TypeError, ValueError)):
        parse_event(resource, data)


def test_event_ids_remember_each_once_per_resource() -> None:
    seen = EventIds(capacity=10)
    assert seen.first_time("a", "1.1")
    assert not seen.first_time("a", "1.1")
    assert seen.first_time("b", "1.1")  # another resource's event
    assert len(seen) == 2


def test_event_ids_memory_is_bounded_and_forgets_the_oldest() -> None:
    seen = EventIds(capacity=3)
    for n in range(5):
        assert seen.first_time("a", str(n))
    assert len(seen) == 3
    assert not seen.first_time("a", "4")
    assert seen.first_time("a", "0")  # forgotten: the oldest went first


def test_event_ids_need_room() -> None:
    with pytest.raises(ValueError, match="capacity"):
        EventIds(capacity=0)


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (200, 30.0)]
)
def test_reconnect_delay_is_jittered_below_a_capped_exponential(
    attempt: int, ceiling: float
) -> None:
    rng = random.Random(attempt)
    delays = [reconnect_delay(attempt, rng) for _ in range(200)]
    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.8  # full jitter: spread over the whole range
    assert len(set(delays)) > 150


def test_reconnect_delay_takes_its_base_and_cap() -> None:
    rng = random.Random(1)
    assert all(reconnect_delay(9, rng, base=0.01, cap=0.05) <= 0.05 for _ in range(50))


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (408, True),
        (429, True),  # the player's socket limit
        (500, True),
        (502, True),
        (503, True),
        (599, True),
        (401, False),  # the token: counted against max_auth_failures
        (403, False),
        (400, False),
        (404, False),
        (426, False),
        (0, False),  # no token at all
        (600, False),
    ],
)
def test_transient_refusal(status: int, transient: bool) -> None:
    assert transient_refusal(status) is transient


@pytest.mark.parametrize(
    ("delay", "asked", "wait"),
    [(0.5, None, 0.5), (0.5, 7.0, 7.0), (4.0, 2.0, 4.0), (1.0, 0.0, 1.0), (0.5, 300.0, 300.0)],
)
def test_refusal_delay_is_the_longer_of_backoff_and_retry_after(
    delay: float, asked: float | None, wait: float
) -> None:
    assert refusal_delay(delay, asked) == wait
