"""The RTA WebSocket against a running service: progress events for accepted
updates only, one unlock notification per device, access rules, bad frames, and
replay after a reconnect."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from laurels.settings import Settings
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    Api,
    running_service,
    start_serve,
    token_for,
)
from tests.helpers.rta import SUBPROTOCOL, notify_uri, progress_uri, rta, ws_url
from tests.helpers.wire import check_error_body

pytestmark = pytest.mark.usefixtures("database_url")


async def test_one_progress_event_per_accepted_update_and_none_for_a_304(api: Api) -> None:
    async with rta(api.base_url, api.token) as client:
        answer = await client.subscribe(progress_uri())
        assert answer[:3] == [1, 1, 0]
        sub_id = answer[3]
        assert answer[4]["serviceConfigId"] == SCID
        assert (await api.update([("1", 40)])).status_code == 200
        assert (await api.update([("1", 40)])).status_code == 304  # no event
        assert (await api.update([("1", 25)])).status_code == 304  # no event
        assert (await api.update([("1", 75), ("2", 10)])).status_code == 200
        first = await client.event()
        second = await client.event()
    assert first[:2] == [3, sub_id]
    data = first[2]
    assert data["serviceConfigId"] == SCID
    [item] = data["progression"]
    assert item["id"] == "1"
    assert item["progressState"] == "InProgress"
    assert item["timeUnlocked"] == "0001-01-01T00:00:00Z"
    assert item["requirements"][0]["current"] == "40"
    assert item["requirements"][0]["target"] == "100"
    # The next event is the next accepted update: the 304s sent nothing between.
    assert {(p["id"], p["requirements"][0]["current"]) for p in second[2]["progression"]} == {
        ("1", "75"),
        ("2", "10"),
    }
    assert second[2]["eventId"] != data["eventId"]
    assert client.events.empty()


async def test_one_unlock_notification_and_none_when_100_is_sent_again(api: Api) -> None:
    async with rta(api.base_url, api.token) as client:
        sub_id = (await client.subscribe(notify_uri()))[3]
        assert (await api.update([("3", 100)])).status_code == 200
        assert (await api.update([("3", 100)])).status_code == 304
        assert (await api.update([("4", 150)])).status_code == 200
        first = await client.event()
        second = await client.event()
    assert first[:2] == [3, sub_id]
    data = first[2]
    assert data["service"] == "achievements"
    assert data["achievementId"] == "3"
    assert data["achievementName"] == "Achievement 3"
    assert data["achievementDescription"] == "You did thing 3."
    assert data["titleId"] == str(TITLE_ID)
    assert data["xuid"] == XUID
    assert data["gamerscore"] == 10
    assert 0.0 <= data["rarityPercentage"] <= 1.0
    assert data["rarityCategory"] in ("Rare", "Common")
    assert data["unlockTime"].endswith("Z")
    assert data["extendedInfoUrl"].endswith(f"/users/xuid({XUID})/achievements/{SCID}/3")
    assert second[2]["achievementId"] == "4"  # nothing for the second 100 of "3"


async def test_fifty_concurrent_unlock_attempts_notify_each_device_once(api: Api) -> None:
    async with rta(api.base_url, api.token) as phone, rta(api.base_url, api.token) as console:
        for device in (phone, console):
            await device.subscribe(notify_uri())
            await device.subscribe(notify_uri())  # subscribing twice: still one event
        statuses = await asyncio.gather(*(api.update([("2", 100)]) for _ in range(50)))
        assert sorted(r.status_code for r in statuses) == [200] + [304] * 49
        # A later unlock proves nothing else was queued before it.
        assert (await api.update([("5", 100)])).status_code == 200
        for device in (phone, console):
            first, second = await device.event(), await device.event()
            assert [first[2]["achievementId"], second[2]["achievementId"]] == ["2", "5"]
            assert device.events.empty()


async def test_the_owner_sees_a_secret_achievements_name_in_the_notification(api: Api) -> None:
    async with rta(api.base_url, api.token) as client:
        await client.subscribe(notify_uri())
        assert (await api.update([("secret", 100)])).status_code == 200
        data = (await client.event())[2]
    assert data["achievementName"] == "Hidden Grove"
    assert data["achievementDescription"] == "You found the grove behind the waterfall."


async def test_another_players_or_titles_resources_are_denied(api: Api) -> None:
    other_scid = "00000000-0000-0000-0000-00000000abcd"
    async with rta(api.base_url, api.token) as client:
        assert (await client.subscribe(progress_uri(xuid=OTHER_XUID)))[2:4] == [3, None]
        assert (await client.subscribe(notify_uri(xuid=OTHER_XUID)))[2] == 3
        assert (await client.subscribe(notify_uri(title_id=TITLE_ID + 1)))[2] == 3
        assert (await client.subscribe(progress_uri(scid=other_scid)))[2] == 1
        assert (await client.subscribe("https://example.com/nothing/here"))[2] == 1
        assert (await client.subscribe(progress_uri(xuid="not-a-xuid")))[2] == 1
        # The other player's updates never reach this device.
        other = await token_for(api.db, xuid=OTHER_XUID)
        await client.subscribe(progress_uri())
        assert (await api.update([("1", 50)], xuid=OTHER_XUID, token=other)).status_code == 200
        assert (await api.update([("1", 60)])).status_code == 200
        event = await client.event()
        assert event[2]["progression"][0]["requirements"][0]["current"] == "60"


async def test_an_unsubscribed_resource_gets_no_more_events(api: Api) -> None:
    async with rta(api.base_url, api.token) as client:
        progress = await client.subscribe(progress_uri())
        notify = await client.subscribe(notify_uri())
        assert progress[2] == notify[2] == 0
        assert progress[3] != notify[3]
        assert await client.unsubscribe(progress[3]) == [2, 3, 0]
        assert await client.unsubscribe(progress[3]) == [2, 4, 1]  # no longer there
        assert (await api.update([("1", 100)])).status_code == 200
        event = await client.event()
        assert event[1] == notify[3]  # only the notification: progress is unsubscribed


@pytest.mark.parametrize("case", ["no token", "forged", "server token", "no subprotocol"])
async def test_a_handshake_without_a_player_token_or_subprotocol_is_refused(
    api: Api, case: str
) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    subprotocols: list[str] | None = [SUBPROTOCOL]
    if case == "no token":
        headers = {}
    elif case == "forged":
        headers = {"Authorization": f"Bearer {api.token[:-4]}AAAA"}
    elif case == "server token":
        headers = {"Authorization": f"Bearer {await token_for(api.db, server=True)}"}
    else:
        subprotocols = None
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            ws_url(api.base_url),
            subprotocols=subprotocols,  # type: ignore[arg-type]
            additional_headers=headers,
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_browser_may_pass_the_token_in_the_query(api: Api) -> None:
    async with connect(
        ws_url(api.base_url) + f"?token={api.token}",
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
    ) as ws:
        await ws.send(json.dumps([1, 7, notify_uri()]))
        answer = json.loads(await ws.recv())
    assert answer[:3] == [1, 7, 0]


@pytest.mark.parametrize(
    "frame",
    ["not json", "{}", "[]", "[9, 1]", '[1, "x", "uri"]', "[1, 1, 5]", "[2, 1]", '[1, 1, "u", 5]'],
)
async def test_a_bad_frame_closes_the_connection_with_1003(api: Api, frame: str) -> None:
    async with connect(
        ws_url(api.base_url),
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {api.token}"},
    ) as ws:
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1003
    assert (await api.update([("1", 10)])).status_code == 200  # nothing else changed


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info is not None or record.levelno >= logging.ERROR:
            self.records.append(record)


@contextlib.contextmanager
def tracebacks() -> Iterator[list[logging.LogRecord]]:
    """Errors and tracebacks the service (or uvicorn, whose loggers do not
    propagate to the root) logs meanwhile."""
    handler = _Tracebacks()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


NOTIFY = json.dumps(notify_uri())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        # `since` out of range reached the database: a logged traceback and code 1002.
        (f'[1, 1, {NOTIFY}, {{"since": "100000000000000000000.1"}}]', 1003),
        (f'[1, 1, {NOTIFY}, {{"since": "1.9223372036854775808"}}]', 1003),
        (f'[1, 1, {NOTIFY}, {{"since": 1e20}}]', 1003),
        (f'[1, 1, {NOTIFY}, {{"since": -1}}]', 1003),
        (f'[1, 1, {NOTIFY}, {{"since": 1.5}}]', 1003),
        (f'[1, 1, {NOTIFY}, {{"since": true}}]', 1003),
        ("[2, 1, 100000000000000000000]", 1003),
        ("[2, 1, 1e20]", 1003),
        # Deep nesting raised RecursionError out of the handler.
        ("[" * 5_000 + "]" * 5_000, 1003),
        ("[" * 100_000 + "]" * 100_000, 1009),
        (json.dumps([1, 1, "x" * 1_000_000]), 1009),
    ],
)
async def test_a_bad_frame_gets_its_close_code_and_never_a_traceback(
    api: Api, frame: str, code: int
) -> None:
    with tracebacks() as logged:
        async with connect(
            ws_url(api.base_url),
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {api.token}"},
            max_size=None,
        ) as ws:
            await ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
        async with rta(api.base_url, api.token) as client:  # the service still serves
            assert (await client.subscribe(notify_uri()))[2] == 0
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert logged == []


async def test_a_player_has_a_socket_limit_and_the_next_socket_is_refused_with_429(
    api: Api, settings: Settings
) -> None:
    limited = settings.with_changes(rta_max_sockets_per_player=2)
    other_player = await token_for(api.db, xuid=OTHER_XUID)
    async with (
        running_service(limited) as url,
        rta(url, api.token) as first,
        rta(url, api.token),
    ):
        with pytest.raises(InvalidStatus) as refused:
            async with rta(url, api.token):
                pass
        async with rta(url, other_player) as other:  # another player's limit is its own
            assert (await other.subscribe(notify_uri(xuid=OTHER_XUID)))[2] == 0
        await first.close()
        async with asyncio.timeout(10):  # room again once the server saw the close
            while True:
                with contextlib.suppress(InvalidStatus):
                    async with rta(url, api.token) as third:
                        assert (await third.subscribe(notify_uri()))[2] == 0
                        break
                await asyncio.sleep(0.05)
    response = refused.value.response
    assert response.status_code == 429
    body = check_error_body(json.loads(response.body or b"{}"))
    assert "LAURELS_RTA_MAX_SOCKETS_PER_PLAYER" in body["description"]


async def test_a_socket_is_closed_with_1008_when_its_token_expires(
    api: Api, settings: Settings
) -> None:
    strict = settings.with_changes(token_leeway_seconds=0)
    token = await token_for(api.db, ttl=2)
    expires_at = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]
    async with (
        running_service(strict) as url,
        connect(
            ws_url(url),
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as ws,
    ):
        await ws.send(json.dumps([1, 1, notify_uri()]))
        assert json.loads(await ws.recv())[:3] == [1, 1, 0]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        closed_at = time.time()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "token expired")
    assert expires_at <= closed_at < expires_at + 3


async def test_a_device_that_reconnects_with_since_gets_what_it_missed_once(api: Api) -> None:
    async with rta(api.base_url, api.token) as client:
        answer = await client.subscribe(notify_uri())
        since = answer[4]["lastEventId"]
        assert (await api.update([("1", 100)])).status_code == 200
        seen = (await client.event())[2]["eventId"]
    # Offline: two unlocks happen.
    assert (await api.update([("2", 100)])).status_code == 200
    assert (await api.update([("3", 100)])).status_code == 200
    async with rta(api.base_url, api.token) as client:
        await client.subscribe(notify_uri(), since=seen)
        missed = [(await client.event())[2]["achievementId"] for _ in range(2)]
        assert (await api.update([("4", 100)])).status_code == 200
        live = (await client.event())[2]
    assert missed == ["2", "3"]
    assert live["achievementId"] == "4"
    # From the very first cursor, everything comes back once, in order.
    async with rta(api.base_url, api.token) as client:
        await client.subscribe(notify_uri(), since=since)
        replayed = [(await client.event())[2]["achievementId"] for _ in range(4)]
        assert (await api.update([("5", 100)])).status_code == 200
        assert (await client.event())[2]["achievementId"] == "5"
    assert replayed == ["1", "2", "3", "4"]


async def test_metrics_count_updates_unlocks_and_sockets(api: Api) -> None:
    async with rta(api.base_url, api.token) as client:
        await client.subscribe(notify_uri())
        assert (await api.update([("1", 100)])).status_code == 200
        assert (await api.update([("1", 100)])).status_code == 304
        assert (await api.update([("nope", 10)])).status_code == 404
        await client.event()
        text = (await api.client.get("/metrics")).text
    assert 'laurels_updates_total{result="200"} 1.0' in text
    assert 'laurels_updates_total{result="304"} 1.0' in text
    assert 'laurels_updates_total{result="404"} 1.0' in text
    assert "laurels_unlocks_total 1.0" in text
    assert "laurels_rta_connections 1.0" in text
    assert 'laurels_events_relayed_total{type="achievement.unlocked"} 1.0' in text
    assert "laurels_outbox_lag_seconds_count" in text
    assert "laurels_webhook_failures_total 0.0" in text


async def test_a_connection_has_a_subscription_limit(api: Api, settings: Settings) -> None:
    limited = settings.with_changes(rta_max_subscriptions=1)
    async with running_service(limited) as url, rta(url, api.token) as client:
        first = (await client.subscribe(notify_uri()))[3]
        assert (await client.subscribe(progress_uri()))[2:4] == [2, None]
        assert (await client.subscribe(notify_uri()))[2:4] == [0, first]  # the one it has
        assert await client.unsubscribe(first) == [2, 4, 0]
        assert (await client.subscribe(progress_uri()))[2] == 0  # room again


async def test_a_device_that_stops_answering_pings_is_disconnected(
    api: Api, database_url: str
) -> None:
    """A raw client that never reads a ping nor answers one: `laurels serve` pings it
    and closes the connection once the ping goes unanswered."""
    process = start_serve(database_url, extra_env={"LAURELS_RTA_PING_SECONDS": "0.3"})
    try:
        host, port = process.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                "GET /connect HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n"
                f"Authorization: Bearer {api.token}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            opcodes = []
            while chunk := await reader.read(2):  # frame headers (small frames only)
                opcodes.append(chunk[0] & 0x0F)
                await reader.read(chunk[1] & 0x7F)
        assert 0x9 in opcodes  # pinged
        writer.close()
    finally:
        process.stop()
