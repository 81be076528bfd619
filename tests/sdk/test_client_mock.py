"""The clients (`AchievementsClient`, `SyncAchievementsClient`) and the deliverer
against a mock transport (`httpx.MockTransport`, exported as
`laurels.sdk.MockTransport`): classification of answers, the request on the wire,
tokens, argument checks, futures and callbacks, flushing, batching, Retry-After,
dead letters and a bounded close. The mock is the point here; the real service is
exercised by the integration tests."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from laurels.sdk import (
    AchievementsClient,
    ClientClosed,
    MockTransport,
    OfflineQueue,
    QueueError,
    SyncAchievementsClient,
    UpdateResult,
)
from laurels.sdk._delivery import Deliverer
from laurels.sdk._policy import iso_time
from tests.helpers import OTHER_XUID, SCID, TITLE_ID, XUID, eventually
from tests.helpers.queue import enqueue, rows_on_disk
from tests.helpers.sdk import (
    BASE,
    KINDS,
    SANDBOX,
    T0,
    TOKEN,
    Client,
    Clock,
    MakeClient,
    client_options,
    flush,
    save_credentials,
)

V2_KEYS = {"action", "serviceConfigId", "titleId", "userId", "achievements"}


class Service:
    """A mock achievements service. Answers every update with `status` (an error
    body for >= 400), 404 for an update naming an id in `reject`, raises `error`
    instead when set, and records every request with the status it answered."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = headers or {}
        self.error: type[httpx.TransportError] | None = None
        self.reject: set[str] = set()
        self.gate: threading.Event | None = None  # when set: hold each update until released
        self.requests: list[httpx.Request] = []
        self.answered: list[tuple[httpx.Request, int]] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if request.url.path.endswith("/delivery-credentials"):
            xuid = request.url.path.split("(")[1].split(")")[0]
            return httpx.Response(201, json={"credential": f"cred-{xuid}", "expiresAt": ""})
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the gate"
        if self.error is not None:
            raise self.error("the service cannot be reached", request=request)
        ids = {item["id"] for item in json.loads(request.content)["achievements"]}
        status = 404 if ids & self.reject else self.status
        with self._lock:
            self.answered.append((request, status))
        if status < 400:
            return httpx.Response(status, headers=self.headers)
        body = {"code": 4000, "source": "achievements", "description": f"refused with {status}"}
        return httpx.Response(status, headers=self.headers, json=body)

    def updates(self) -> list[httpx.Request]:
        with self._lock:
            return [r for r in self.requests if r.url.path.endswith("/update")]

    def delivered(self, status: int = 200) -> dict[tuple[str, str], tuple[int, str]]:
        """(xuid, id) -> (percent, timeAchieved) of every item answered `status`."""
        with self._lock:
            answered = list(self.answered)
        out: dict[tuple[str, str], tuple[int, str]] = {}
        for request, code in answered:
            if code == status:
                body = json.loads(request.content)
                for item in body["achievements"]:
                    out[(body["userId"], item["id"])] = (
                        item["percentComplete"],
                        item["timeAchieved"],
                    )
        return out


async def update(
    client: Client, xuid: str | int, achievement_id: str, percent: int
) -> UpdateResult:
    if isinstance(client, SyncAchievementsClient):
        return await asyncio.wrap_future(client.update_achievement(xuid, achievement_id, percent))
    return await client.update_achievement(xuid, achievement_id, percent)


def preload(path: Path, items: list[tuple[str, str, int]], *, now: float = T0) -> OfflineQueue:
    """Queue (xuid, id, percent) items as an earlier run of the game would have,
    with a delivery credential for each player."""
    queue = OfflineQueue(path, clock=Clock(now))
    for xuid, aid, percent in items:
        enqueue(queue, BASE, aid, percent, xuid=xuid)
    save_credentials(queue, BASE, {xuid: f"cred-{xuid}" for xuid in {x for x, _, _ in items}})
    return queue


# --- classification of answers ------------------------------------------------------------


@KINDS
@pytest.mark.parametrize(
    ("status", "expected", "code", "queued"),
    [
        (200, "updated", 0, False),
        (304, "not_modified", 0x80190130, False),
        (400, "rejected", 0x80190190, False),
        (401, "rejected", 0x80190191, False),
        (403, "rejected", 0x80190193, False),
        (404, "rejected", 0x80190194, False),
        (409, "rejected", 0x80190199, False),
        (408, "queued", 0, True),
        (429, "queued", 0, True),
        (500, "queued", 0, True),
        (503, "queued", 0, True),
    ],
)
async def test_update_result_by_status(
    make: MakeClient,
    queue_path: Path,
    kind: str,
    status: int,
    expected: str,
    code: int,
    queued: bool,
) -> None:
    service = Service(status)
    client = make(service, kind, clock=Clock(T0))
    result = await update(client, XUID, "1", 40)
    assert (result.status, result.hresult) == (expected, code)
    assert result.ok is (expected != "rejected")
    if expected == "rejected":
        assert result.http_status == status
        assert result.description == f"refused with {status}"
    if queued:
        assert client.status().pending == 1
        assert rows_on_disk(queue_path) == {(XUID, "1"): (40, T0)}  # on disk already
    else:
        assert len(service.updates()) == 1
        assert client.status().pending == 0  # never queued
        assert client.status().dead_letters == 0
        assert rows_on_disk(queue_path) == {}


@KINDS
@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError],
)
async def test_network_errors_queue_the_update(
    make: MakeClient, queue_path: Path, kind: str, error: type[httpx.TransportError]
) -> None:
    service = Service()
    service.error = error
    client = make(service, kind, clock=Clock(T0))
    result = await update(client, XUID, "1", 40)
    assert (result.status, result.hresult, result.http_status) == ("queued", 0, None)
    assert rows_on_disk(queue_path) == {(XUID, "1"): (40, T0)}
    # Known to be unreachable: the next update goes straight to disk, with no
    # connection attempt of its own (the worker may retry "1" meanwhile, so the
    # request count is not the test).
    second = await update(client, XUID, "2", 10)
    assert (second.status, second.description) == ("queued", "offline")
    assert client.status().pending == 2


# --- the request --------------------------------------------------------------------------


@KINDS
async def test_update_request_is_the_v2_body_plus_time_achieved(
    make: MakeClient, kind: str
) -> None:
    service = Service(200)
    client = make(service, kind, clock=Clock(T0 + 0.5), scid=SCID.upper())
    assert (await update(client, int(XUID), "1", 150)).status == "updated"
    [request] = service.updates()
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/users/xuid({XUID})/achievements/{SCID}/update"
    assert request.headers["x-xbl-contract-version"] == "2"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert set(body) == V2_KEYS
    assert body == {
        "action": "progressUpdate",
        "serviceConfigId": SCID,  # lower case
        "titleId": TITLE_ID,
        "userId": XUID,
        "achievements": [
            {"id": "1", "percentComplete": 100, "timeAchieved": "2024-05-01T18:22:07.5000000Z"}
        ],
    }
    assert type(body["titleId"]) is int
    assert type(body["userId"]) is str


def sync_provider() -> Callable[[], str]:
    def provide() -> str:
        return "provided-token"

    return provide


def async_provider() -> Callable[[], Awaitable[str]]:
    async def provide() -> str:
        await asyncio.sleep(0)
        return "provided-token"

    return provide


@KINDS
@pytest.mark.parametrize("provider", [sync_provider, async_provider])
async def test_token_provider_is_used(
    make: MakeClient, kind: str, provider: Callable[[], Callable[[], Any]]
) -> None:
    calls: list[int] = []
    inner = provider()

    def counting() -> Any:
        calls.append(1)
        return inner()

    service = Service(200)
    client = make(service, kind, token=None, token_provider=counting)
    assert (await update(client, XUID, "1", 40)).status == "updated"
    assert (await update(client, XUID, "2", 40)).status == "updated"
    assert [r.headers["authorization"] for r in service.updates()] == [
        "Bearer provided-token",
        "Bearer provided-token",
    ]
    assert len(calls) >= 2  # asked for each call, not once at construction


@pytest.mark.parametrize("answer", ["none", "raises"])
async def test_no_token_queues_the_update(make: MakeClient, answer: str) -> None:
    def provide() -> str | None:
        if answer == "raises":
            raise RuntimeError("the platform has no token yet")
        return None

    service = Service(200)
    client = make(service, token=None, token_provider=provide)
    assert (await update(client, XUID, "1", 40)).status == "queued"
    assert service.updates() == []
    assert client.status().pending == 1


async def test_a_credential_is_fetched_after_the_first_online_update(
    make: MakeClient, queue_path: Path
) -> None:
    service = Service(200)
    client = make(service)
    assert (await update(client, XUID, "1", 40)).status == "updated"
    queue = OfflineQueue(queue_path)
    key: dict[str, Any] = {"service": BASE, "sandbox": SANDBOX, "title_id": TITLE_ID}
    await eventually(lambda: queue.credential(**key, xuid=XUID) is not None, what="the credential")
    assert queue.credential(**key, xuid=XUID) == f"cred-{XUID}"
    [asked] = [r for r in service.requests if r.url.path.endswith("/delivery-credentials")]
    assert asked.url.path == f"/users/xuid({XUID})/delivery-credentials"
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"


async def test_quick_updates_ask_for_one_credential(make: MakeClient, queue_path: Path) -> None:
    service = Service(200)
    client = make(service)
    answers = await asyncio.gather(*(update(client, XUID, a, 40) for a in ("1", "2", "3")))
    assert [a.status for a in answers] == ["updated"] * 3
    queue = OfflineQueue(queue_path)
    key: dict[str, Any] = {"service": BASE, "sandbox": SANDBOX, "title_id": TITLE_ID}
    await eventually(lambda: queue.credential(**key, xuid=XUID) is not None, what="the credential")
    asked = [r for r in service.requests if r.url.path.endswith("/delivery-credentials")]
    assert len(asked) == 1


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"token": TOKEN, "token_provider": lambda: TOKEN},
        {"title_id": 0},
        {"title_id": 2**32},
        {"title_id": "1234"},
    ],
)
def test_constructor_refuses_bad_arguments(queue_path: Path, arguments: dict[str, Any]) -> None:
    options = client_options(queue_path, **arguments)
    for cls in (AchievementsClient, SyncAchievementsClient):
        with pytest.raises(ValueError):  # noqa: PT011
            cls(BASE, **options)


@KINDS
@pytest.mark.parametrize(
    ("xuid", "achievement_id", "percent"),
    [
        (XUID, "", 40),
        (XUID, "x" * 65, 40),
        (XUID, "1", 0),
        (XUID, "1", -1),
        (XUID, "1", 1.5),
        (XUID, "1", "50"),
        (XUID, "1", None),
        (XUID, "1", True),
        ("abc", "1", 40),
        ("0", "1", 40),
        (2**64, "1", 40),
        ("", "1", 40),
    ],
)
async def test_impossible_arguments_raise_at_once(
    make: MakeClient, kind: str, xuid: Any, achievement_id: Any, percent: Any
) -> None:
    service = Service(200)
    client = make(service, kind)
    if isinstance(client, SyncAchievementsClient):
        with pytest.raises(ValueError):  # noqa: PT011 - raised by the call, not in a Future
            client.update_achievement(xuid, achievement_id, percent)
    else:
        with pytest.raises(ValueError):  # noqa: PT011
            await client.update_achievement(xuid, achievement_id, percent)
    assert service.requests == []
    assert client.status().pending == 0


# --- the sync client ----------------------------------------------------------------------


async def test_sync_client_returns_a_future_at_once_and_calls_back(make: MakeClient) -> None:
    service = Service(200)
    service.gate = threading.Event()  # the service does not answer until released
    client = make(service, "sync")
    assert isinstance(client, SyncAchievementsClient)
    seen: list[concurrent.futures.Future[UpdateResult]] = []
    called = threading.Event()

    def callback(future: concurrent.futures.Future[UpdateResult]) -> None:
        seen.append(future)
        called.set()

    start = time.monotonic()
    future = client.update_achievement(XUID, "1", 40, callback=callback)
    assert time.monotonic() - start < 1.0
    assert isinstance(future, concurrent.futures.Future)
    assert not future.done()
    assert not called.is_set()
    service.gate.set()
    assert await asyncio.to_thread(called.wait, 5)
    assert seen == [future]
    assert future.result(0).status == "updated"


async def test_sync_client_callback_sees_a_queued_result(make: MakeClient) -> None:
    service = Service(503)
    client = make(service, "sync")
    assert isinstance(client, SyncAchievementsClient)
    results: list[UpdateResult] = []
    done = threading.Event()

    def callback(future: concurrent.futures.Future[UpdateResult]) -> None:
        results.append(future.result())
        done.set()

    client.update_achievement(XUID, "1", 40, callback=callback)
    assert await asyncio.to_thread(done.wait, 5)
    assert [r.status for r in results] == ["queued"]


# --- flush and batching -------------------------------------------------------------------


@KINDS
async def test_flush_delivers_queued_updates_once_the_service_answers(
    make: MakeClient, kind: str
) -> None:
    clock = Clock(T0)
    service = Service(503)
    client = make(service, kind, clock=clock)
    for n, aid in enumerate(["1", "2", "3"]):
        clock.now = T0 + n
        assert (await update(client, XUID, aid, 100)).status == "queued"
    assert client.status().pending == 3
    service.status = 200
    clock.now = T0 + 600  # delivered long after: timeAchieved stays the time reached
    assert await flush(client, 5.0) == 0
    assert client.status().pending == 0
    assert service.delivered() == {
        (XUID, "1"): (100, iso_time(T0)),
        (XUID, "2"): (100, iso_time(T0 + 1)),
        (XUID, "3"): (100, iso_time(T0 + 2)),
    }


async def test_flush_returns_what_is_still_queued(make: MakeClient) -> None:
    service = Service(503)
    client = make(service)
    assert (await update(client, XUID, "1", 40)).status == "queued"
    assert await flush(client, 0.3) == 1


@pytest.mark.parametrize(("count", "sizes"), [(5, [5]), (32, [32]), (40, [32, 8])])
async def test_queued_achievements_of_one_player_go_in_one_request(
    make: MakeClient, queue_path: Path, count: int, sizes: list[int]
) -> None:
    items = [(XUID, str(n), 100) for n in range(count)] + [(OTHER_XUID, "1", 50)]
    preload(queue_path, items)
    service = Service(200)
    client = make(service)
    assert await flush(client, 5.0) == 0
    per_player: dict[str, list[int]] = {}
    for request in service.updates():
        body = json.loads(request.content)
        per_player.setdefault(body["userId"], []).append(len(body["achievements"]))
    assert sorted(per_player[XUID], reverse=True) == sizes
    assert per_player[OTHER_XUID] == [1]
    assert set(service.delivered()) == {(x, a) for x, a, _ in items}


async def test_a_rejected_batch_is_split_and_only_the_bad_item_dead_lettered(
    make: MakeClient, queue_path: Path
) -> None:
    preload(queue_path, [(XUID, aid, 100) for aid in ("1", "2", "bad", "3")])
    service = Service(200)
    service.reject = {"bad"}
    client = make(service)
    assert await flush(client, 5.0) == 0
    sizes = [len(json.loads(r.content)["achievements"]) for r in service.updates()]
    assert sizes == [4, 1, 1, 1, 1]  # the batch, then each item alone
    assert set(service.delivered()) == {(XUID, "1"), (XUID, "2"), (XUID, "3")}
    status = client.status()
    assert (status.pending, status.dead_letters) == (0, 1)
    assert status.last_reasons == (f"{XUID} {SCID} bad: HTTP 404: refused with 404",)


# --- the deliverer, driven directly with an injected clock --------------------------------


@pytest.mark.parametrize(
    ("status", "settled", "pending", "dead"),
    [
        (200, 1, 0, 0),
        (304, 1, 0, 0),  # already there: delivered
        (401, 0, 1, 0),  # a credential problem: kept, not dead-lettered
        (408, 0, 1, 0),
        (429, 0, 1, 0),
        (500, 0, 1, 0),
        (503, 0, 1, 0),
        (400, 1, 0, 1),
        (403, 1, 0, 1),
        (404, 1, 0, 1),
        (409, 1, 0, 1),
    ],
)
async def test_deliverer_settles_by_status(
    queue_path: Path, status: int, settled: int, pending: int, dead: int
) -> None:
    queue = preload(queue_path, [(XUID, "1", 100)])
    service = Service(status)
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        deliverer = Deliverer(queue, http, rng=random.Random(1))
        assert await deliverer.run_once(force=True) == settled
    [request] = service.updates()
    assert request.headers["authorization"] == f"Bearer cred-{XUID}"  # the stored credential
    state = queue.status()
    assert (state.pending, state.dead_letters) == (pending, dead)
    if pending:
        assert state.last_error is not None
        assert state.last_error.startswith(f"HTTP {status}")


async def test_deliverer_without_a_credential_sends_nothing(queue_path: Path) -> None:
    queue = OfflineQueue(queue_path, clock=Clock(T0))
    enqueue(queue, BASE)
    service = Service(200)
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        assert await Deliverer(queue, http).run_once(force=True) == 0
    assert service.requests == []
    assert queue.status().pending == 1
    assert "credential" in (queue.status().last_error or "")


async def test_retry_after_holds_delivery_back_without_sleeping(queue_path: Path) -> None:
    clock = Clock(T0)
    queue = preload(queue_path, [(XUID, "1", 100)])
    queue.clock = clock
    service = Service(429, headers={"Retry-After": "3"})
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        deliverer = Deliverer(queue, http, rng=random.Random(7))
        assert await deliverer.run_once(force=True) == 0
        assert len(service.updates()) == 1
        service.status, service.headers = 200, {}
        clock.now = T0 + 2.9
        assert await deliverer.run_once(force=True) == 0  # not even a flush
        assert await deliverer.run_once() == 0
        assert len(service.updates()) == 1
        clock.now = T0 + 3.0
        assert await deliverer.run_once(force=True) == 1
        assert len(service.updates()) == 2
    assert queue.status().pending == 0


async def test_a_direct_429_holds_the_queued_update_for_retry_after(make: MakeClient) -> None:
    clock = Clock(T0)
    service = Service(429, headers={"Retry-After": "3"})
    client = make(service, clock=clock)
    assert (await update(client, XUID, "1", 100)).status == "queued"
    service.status, service.headers = 200, {}
    clock.now = T0 + 2.9
    assert await flush(client, 0.3) == 1
    assert len(service.updates()) == 1
    clock.now = T0 + 3.0
    assert await flush(client, 5.0) == 0
    assert len(service.updates()) == 2


# --- lifecycle ----------------------------------------------------------------------------


async def hang_forever(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()  # never set: a service that never answers
    raise AssertionError("unreachable")


@pytest.mark.parametrize("how", ["awaits", "blocks"])
async def test_close_is_bounded_when_the_service_hangs(queue_path: Path, how: str) -> None:
    """`close(timeout=1)` returns within ~3 s whether the request awaits forever
    (a silent network) or the handler blocks the worker's loop on an event that is
    set only after the assertion."""
    entered, release = threading.Event(), threading.Event()

    async def awaits(request: httpx.Request) -> httpx.Response:
        entered.set()
        return await hang_forever(request)

    def blocks(request: httpx.Request) -> httpx.Response:
        entered.set()
        release.wait(30)
        return httpx.Response(503)

    client = SyncAchievementsClient(
        BASE,
        title_id=TITLE_ID,
        scid=SCID,
        sandbox=SANDBOX,
        token=TOKEN,
        queue_path=queue_path,
        transport=MockTransport(awaits if how == "awaits" else blocks),
        exit_timeout=0.0,
    )
    future = client.update_achievement(XUID, "1", 40)
    assert await asyncio.to_thread(entered.wait, 5)
    start = time.monotonic()
    await asyncio.to_thread(client.close, 1.0)
    assert time.monotonic() - start < 3.0
    release.set()
    # the call in flight ends: its caller is not left waiting forever
    done, _ = await asyncio.to_thread(concurrent.futures.wait, [future], 10)
    assert future in done
    if how == "awaits":
        assert isinstance(future.exception(), ClientClosed)
    with pytest.raises(ClientClosed):
        client.update_achievement(XUID, "1", 50)


async def test_async_close_ends_a_call_in_flight(queue_path: Path) -> None:
    entered = threading.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        entered.set()
        return await hang_forever(request)

    client = AchievementsClient(
        BASE,
        title_id=TITLE_ID,
        scid=SCID,
        sandbox=SANDBOX,
        token=TOKEN,
        queue_path=queue_path,
        transport=MockTransport(handler),
        exit_timeout=0.0,
    )
    call = asyncio.ensure_future(client.update_achievement(XUID, "1", 40))
    assert await asyncio.to_thread(entered.wait, 5)
    start = time.monotonic()
    await client.close(timeout=1.0)
    assert time.monotonic() - start < 3.0
    with pytest.raises(ClientClosed):
        await asyncio.wait_for(call, 5)
    # The answer was never read, so the update was kept for the next run.
    assert OfflineQueue(queue_path).status().pending == 1


async def test_context_managers_close_the_client(queue_path: Path) -> None:
    options: dict[str, Any] = {
        "title_id": TITLE_ID,
        "scid": SCID,
        "sandbox": SANDBOX,
        "token": TOKEN,
        "queue_path": queue_path,
        "transport": MockTransport(Service(200)),
        "exit_timeout": 0.0,
    }
    async with AchievementsClient(BASE, **options) as client:
        assert (await client.update_achievement(XUID, "1", 40)).status == "updated"
    with pytest.raises(ClientClosed):
        await client.update_achievement(XUID, "1", 50)

    def use_sync() -> None:
        with SyncAchievementsClient(BASE, **options) as sync:
            assert sync.update_achievement(XUID, "2", 40).result(5).status == "updated"
        with pytest.raises(ClientClosed):
            sync.update_achievement(XUID, "2", 50)

    await asyncio.to_thread(use_sync)


# --- answers that are not the service's (captive portals, proxies) ------------------------

HTML = b"<!doctype html><html><body><form action=/login>Sign in</form></body></html>"
SERVICE_404 = b'{"code": 4000, "source": "achievements", "description": "no such achievement"}'
SERVICE_401 = b'{"code": 4500, "source": "achievements", "description": "bad token"}'
NOT_LAURELS = "not an answer of the achievements service"
YEAR = 365 * 86400.0
# (status, body, headers, what a direct update answers, what a queued one does)
ANSWERS = [
    (200, b"", {}, "updated", "delivered"),
    (304, b"", {}, "not_modified", "delivered"),
    (404, SERVICE_404, {}, "rejected", "dead"),
    (401, SERVICE_401, {}, "rejected", "kept"),
    (200, HTML, {"content-type": "text/html"}, "queued", "kept"),  # a captive portal
    (200, b"{}", {"content-type": "application/json"}, "queued", "kept"),
    (204, b"", {}, "queued", "kept"),
    (302, b"", {"location": "http://portal.test/login"}, "queued", "kept"),
    (302, HTML, {"location": "http://portal.test/login"}, "queued", "kept"),
    (307, b"", {"location": "http://portal.test/login"}, "queued", "kept"),
    (407, HTML, {"proxy-authenticate": "Basic"}, "queued", "kept"),
    (502, HTML, {"content-type": "text/html"}, "queued", "kept"),
    (511, HTML, {}, "queued", "kept"),
    (401, HTML, {}, "queued", "kept"),  # a proxy's 401, not the service's
    (403, HTML, {}, "queued", "kept"),
    (404, HTML, {}, "queued", "kept"),
    (404, b"", {}, "queued", "kept"),
    (400, b'["not", "an", "object"]', {}, "queued", "kept"),
    (400, b'"refused"', {}, "queued", "kept"),
    (400, b"null", {}, "queued", "kept"),
    (403, b'{"code": 4500, "source": "proxy", "description": "denied"}', {}, "queued", "kept"),
    (409, b"[" * 50_000 + b"]" * 50_000, {}, "queued", "kept"),
]


class Answer:
    """A network answering every update with one fixed response (the service's
    or a captive portal's); credential requests get the service's 201."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status, self.body, self.headers = status, body, headers
        self.updates = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/delivery-credentials"):
            return httpx.Response(201, json={"credential": "cred", "expiresAt": ""})
        self.updates += 1
        return httpx.Response(self.status, content=self.body, headers=self.headers)


@KINDS
@pytest.mark.parametrize(("status", "body", "headers", "direct", "queued"), ANSWERS)
async def test_a_direct_update_is_settled_only_by_the_services_answer(
    make: MakeClient,
    queue_path: Path,
    kind: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
    direct: str,
    queued: str,
) -> None:
    client = make(
        Service(), kind, clock=Clock(T0), transport=MockTransport(Answer(status, body, headers))
    )
    result = await update(client, XUID, "1", 40)
    assert result.status == direct
    if direct == "queued":  # kept on disk, saying why
        assert rows_on_disk(queue_path) == {(XUID, "1"): (40, T0)}
        assert result.description is not None
        assert result.description.startswith(f"HTTP {status}: ")
        assert (NOT_LAURELS in result.description) is (status != 200 or body != b"")
    else:
        assert rows_on_disk(queue_path) == {}
    if direct == "rejected":
        assert result.description in ("no such achievement", "bad token")


@pytest.mark.parametrize(("status", "body", "headers", "direct", "queued"), ANSWERS)
async def test_a_queued_update_is_settled_only_by_the_services_answer(
    queue_path: Path,
    status: int,
    body: bytes,
    headers: dict[str, str],
    direct: str,
    queued: str,
) -> None:
    queue = preload(queue_path, [(XUID, "1", 100)])
    answer = Answer(status, body, headers)
    async with httpx.AsyncClient(transport=MockTransport(answer)) as http:
        deliverer = Deliverer(queue, http, rng=random.Random(1))
        settled = await deliverer.run_once(force=True)
    state = queue.status()
    assert answer.updates == 1
    assert (settled, state.pending, state.dead_letters) == {
        "delivered": (1, 0, 0),
        "dead": (1, 0, 1),
        "kept": (0, 1, 0),
    }[queued]
    if queued == "kept":
        assert state.last_error is not None
        assert state.last_error.startswith(f"HTTP {status}: ")


# --- Retry-After and clocks -----------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after",
    ["31536000", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT", "soon", "-1", "1e9"],
)
async def test_a_huge_or_malformed_retry_after_cannot_park_a_direct_update(
    make: MakeClient, retry_after: str
) -> None:
    clock = Clock(T0)
    service = Service(503, headers={"Retry-After": retry_after})
    client = make(service, clock=clock)
    assert (await update(client, XUID, "1", 100)).status == "queued"
    service.status, service.headers = 200, {}
    clock.now = T0 + 300.0  # the longest any answer may hold an update back
    assert await flush(client, 5.0) == 0
    assert set(service.delivered()) == {(XUID, "1")}


async def test_a_huge_retry_after_cannot_park_a_queued_update(queue_path: Path) -> None:
    clock = Clock(T0)
    queue = preload(queue_path, [(XUID, "1", 100)])
    queue.clock = clock
    service = Service(429, headers={"Retry-After": "31536000"})
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        deliverer = Deliverer(queue, http, rng=random.Random(3))
        assert await deliverer.run_once(force=True) == 0
        service.status, service.headers = 200, {}
        clock.now = T0 + 300.0
        assert await deliverer.run_once(force=True) == 1
    assert queue.status().pending == 0


@pytest.mark.parametrize("step", [YEAR, 3600.0, 400.0])
async def test_a_clock_stepped_back_does_not_park_an_entry(queue_path: Path, step: float) -> None:
    """Backoffs, Retry-Afters and leases written while the wall clock was `step`
    seconds ahead are due once it is set right, without a flush."""
    ahead = Clock(T0 + step)
    queue = preload(queue_path, [(XUID, "1", 100), (XUID, "2", 100)], now=T0)
    queue.clock = ahead
    entries = queue.claim(force=True)
    queue.retry(entries[:1], soft=ahead.now + 250, hard=ahead.now + 120, error="HTTP 503")
    # entries[1:] stays leased until `ahead.now + LEASE_SECONDS`: a process that died
    queue.clock = Clock(T0)
    service = Service(200)
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        assert await Deliverer(queue, http).run_once() == 2
    assert queue.status().pending == 0


async def test_a_clock_stepped_forward_delivers_at_once(queue_path: Path) -> None:
    queue = preload(queue_path, [(XUID, "1", 100)])
    [entry] = queue.claim(force=True)
    queue.retry([entry], soft=T0 + 250, hard=T0 + 120, error="HTTP 503")
    queue.clock = Clock(T0 + YEAR)
    async with httpx.AsyncClient(transport=MockTransport(Service(200))) as http:
        assert await Deliverer(queue, http).run_once() == 1


# --- the worker -----------------------------------------------------------------------------


async def test_after_a_good_answer_the_worker_delivers_what_waits_out_a_backoff(
    make: MakeClient, queue_path: Path
) -> None:
    queue = preload(queue_path, [(OTHER_XUID, "7", 100), (XUID, "8", 100)])
    entries = queue.claim(force=True)  # both failed a moment ago: 250 s of backoff
    queue.retry(entries, soft=T0 + 250, hard=T0, error="HTTP 503")
    service = Service(200)
    client = make(service, clock=Clock(T0))  # the clock stands still: only a good answer helps
    assert (await update(client, XUID, "1", 40)).status == "updated"
    await eventually(lambda: client.status().pending == 0, 4.0, what="the queued updates")
    assert set(service.delivered()) == {(XUID, "1"), (XUID, "8"), (OTHER_XUID, "7")}


async def test_a_retry_after_still_holds_after_a_good_answer(
    make: MakeClient, queue_path: Path
) -> None:
    queue = preload(queue_path, [(XUID, "8", 100)])
    queue.retry(queue.claim(force=True), soft=T0 + 250, hard=T0 + 200, error="HTTP 429")
    service = Service(200)
    client = make(service, clock=Clock(T0))
    assert (await update(client, XUID, "1", 40)).status == "updated"
    await asyncio.sleep(1.0)  # a forced pass would have come by now
    assert client.status().pending == 1
    assert set(service.delivered()) == {(XUID, "1")}


async def test_an_error_never_stops_the_worker(
    make: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Service(503)
    client = make(service, clock=Clock(T0))
    queue = client._engine.queue
    real_next_due = queue.next_due
    failures: list[int] = []

    def failing_once() -> float | None:
        if not failures:
            failures.append(1)
            raise QueueError("the disk went away for a moment")
        return real_next_due()

    monkeypatch.setattr(queue, "next_due", failing_once)
    assert (await update(client, XUID, "1", 40)).status == "queued"
    await eventually(lambda: bool(failures), what="the worker's failure")
    service.status = 200
    assert (await update(client, XUID, "2", 40)).status == "updated"
    await eventually(lambda: client.status().pending == 0, what="delivery after the failure")


# --- a broken queue file --------------------------------------------------------------------


GARBAGE = b"this is not SQLite\x00" * 300


def break_file(path: Path) -> None:
    path.write_bytes(GARBAGE)


def drop_pending(path: Path) -> None:
    """Break a queue file a game has open: its main table disappears."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TABLE pending")
    finally:
        conn.close()


@KINDS
async def test_a_broken_queue_file_costs_no_online_update(
    make: MakeClient, queue_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    break_file(queue_path)
    client = make(Service(200), kind)  # before: QueueError here, and no update at all
    assert (await update(client, XUID, "1", 40)).status == "updated"
    [aside] = client.status().moved_aside
    assert aside.startswith(f"{queue_path}.broken-")
    assert aside in caplog.text
    assert await asyncio.to_thread(Path(aside).read_bytes) == GARBAGE  # kept
    assert (await update(client, XUID, "2", 40)).status == "updated"
    assert client.status().pending == 0


async def test_a_queue_broken_while_the_game_runs_costs_no_online_update(
    make: MakeClient, queue_path: Path
) -> None:
    client = make(Service(200))
    assert (await update(client, XUID, "1", 40)).status == "updated"
    drop_pending(queue_path)
    assert (await update(client, XUID, "2", 40)).status == "updated"
    with pytest.raises(QueueError):  # not a raw sqlite3 error
        client.status()


# --- the delivery credential's answer ---------------------------------------------------------

PLAYER: dict[str, Any] = {"service": BASE, "sandbox": SANDBOX, "title_id": TITLE_ID, "xuid": XUID}
ISSUED = {"credential": "cred-good", "expiresAt": "2024-06-01T00:00:00.0000000Z"}


def session_token(xuid: str = XUID, expires_at: float = T0 + 3600) -> str:
    """A JWT-shaped player token of the title (the SDK reads its claims, never its
    signature)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"typ": "player", "xuid": xuid, "tid": TITLE_ID, "sbx": SANDBOX, "exp": expires_at}
    return f"{part({'alg': 'EdDSA'})}.{part(claims)}.c2lnbmF0dXJl"


class CredentialAnswer:
    """A network answering credential requests with one fixed response until
    `fixed` is set (then with the service's 201), and updates with the service's
    empty 200; records the token each update was sent with."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.fixed = False
        self.asked = 0
        self.sent_with: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/delivery-credentials"):
            self.sent_with.append(request.headers["authorization"].removeprefix("Bearer "))
            return httpx.Response(200)
        self.asked += 1
        if self.fixed:
            return httpx.Response(201, json=ISSUED)
        return httpx.Response(self.status, content=self.body, headers=self.headers)


# Answers to a credential request that are not the service's issuing answer.
NOT_ISSUED = [
    pytest.param(200, HTML, id="portal-page"),
    pytest.param(201, HTML, id="html-201"),
    pytest.param(302, b"", id="redirect-to-login"),
    pytest.param(407, HTML, id="proxy-auth"),
    pytest.param(502, HTML, id="proxy-502"),
    pytest.param(201, b'["cred"]', id="a-list"),
    pytest.param(201, b'"cred"', id="a-string"),
    pytest.param(201, b"null", id="null"),
    pytest.param(201, b"[" * 5_000 + b"]" * 5_000, id="nested-too-deep"),
    pytest.param(201, b'{"credential": {"a": ' * 3_000 + b"1" + b"}" * 3_000, id="deep-object"),
    pytest.param(201, b'{"expiresAt": ""}', id="no-credential"),
    pytest.param(201, b'{"credential": "c"}', id="no-expiry"),
    pytest.param(201, b'{"credential": 7, "expiresAt": ""}', id="credential-a-number"),
    pytest.param(201, b'{"credential": "", "expiresAt": ""}', id="empty-credential"),
    pytest.param(201, b'{"credential": "c", "expiresAt": 5}', id="expiry-a-number"),
]


@pytest.mark.parametrize(("status", "body"), NOT_ISSUED)
async def test_a_credential_answer_not_the_services_raises_nothing_and_keeps_the_token(
    make: MakeClient, queue_path: Path, status: int, body: bytes
) -> None:
    token = session_token()
    network = CredentialAnswer(status, body, {"location": "http://portal.test/login"})
    client = make(Service(), token=token, clock=Clock(T0), transport=MockTransport(network))
    engine = client._engine
    engine.keep_token(XUID)  # as an update queued offline keeps it, for `laurels sync`
    queue = OfflineQueue(queue_path, clock=Clock(T0))
    assert queue.session_token(**PLAYER) == token
    async with httpx.AsyncClient(transport=MockTransport(network)) as http:
        deliverer = Deliverer(engine.queue, http)
        await engine.ensure_credential(deliverer, XUID)  # before: JSON errors raised here
        assert (queue.credential(**PLAYER), queue.session_token(**PLAYER)) == (None, token)
        network.fixed = True
        await engine.ensure_credential(deliverer, XUID)
    assert queue.credential(**PLAYER) == "cred-good"
    assert queue.session_token(**PLAYER) is None  # exchanged: erased
    assert network.asked == 2


async def test_after_a_portal_answers_the_credential_request_the_next_update_asks_again(
    make: MakeClient, queue_path: Path
) -> None:
    network = CredentialAnswer(200, HTML)
    client = make(Service(), transport=MockTransport(network))
    engine = client._engine
    assert (await update(client, XUID, "1", 40)).status == "updated"
    await eventually(lambda: network.asked == 1 and not engine._credentialing, what="the request")
    network.fixed = True
    assert (await update(client, XUID, "2", 40)).status == "updated"
    queue = OfflineQueue(queue_path)
    await eventually(lambda: queue.credential(**PLAYER) is not None, what="the credential")
    assert (network.asked, queue.credential(**PLAYER)) == (2, "cred-good")


@pytest.mark.parametrize(("status", "body"), NOT_ISSUED)
async def test_a_stored_session_token_survives_a_credential_answer_not_the_services(
    queue_path: Path, status: int, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    queue = OfflineQueue(queue_path, clock=Clock(T0))
    enqueue(queue, BASE)
    token = session_token()
    assert queue.save_session_token(**PLAYER, token=token, expires_at=T0 + 3600)
    network = CredentialAnswer(status, body, {"location": "http://portal.test/login"})
    async with httpx.AsyncClient(transport=MockTransport(network)) as http:
        assert await Deliverer(queue, http).run_once(force=True) == 1
    assert network.asked == 1
    assert network.sent_with == [token]  # the stored token itself delivered it
    assert (queue.credential(**PLAYER), queue.session_token(**PLAYER)) == (None, token)
    assert "failed" not in caplog.text


# --- flush and what nothing can deliver ----------------------------------------------------


@KINDS
async def test_flush_does_not_wait_for_updates_nothing_can_deliver(
    make: MakeClient, queue_path: Path, kind: str
) -> None:
    queue = preload(queue_path, [(XUID, "1", 100), (XUID, "2", 100)])
    for aid in ("1", "2", "3"):  # a player with no credential and no stored token
        enqueue(queue, BASE, aid, 100, xuid=OTHER_XUID)
    service = Service(200)
    client = make(service, kind, token=session_token(XUID), clock=Clock(T0))
    started = time.monotonic()
    assert await flush(client, 10.0) == 3  # the other player's, still queued
    assert time.monotonic() - started < 3.0  # not the whole timeout
    assert set(service.delivered()) == {(XUID, "1"), (XUID, "2")}
    [blocked] = client.status().blocked
    assert (blocked.xuid, blocked.count) == (OTHER_XUID, 3)


async def test_flush_still_waits_for_what_a_network_error_holds(
    make: MakeClient, queue_path: Path
) -> None:
    preload(queue_path, [(XUID, "1", 100)])
    service = Service(200)
    service.error = httpx.ConnectError
    client = make(service, token=session_token(XUID), clock=Clock(T0))
    started = time.monotonic()
    assert await flush(client, 0.6) == 1
    assert time.monotonic() - started >= 0.5  # it can be delivered: flush keeps trying


# --- a queue location that cannot be used at all ---------------------------------------------


def unusable(tmp_path: Path, where: str) -> Path:
    """A queue path where no file can be made."""
    if where == "parent-is-a-file":
        (tmp_path / "saves").write_text("not a directory")
        return tmp_path / "saves" / "queue.db"
    if where == "symlink-loop":
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
        return tmp_path / "loop" / "queue.db"
    if where == "nul-in-path":
        return tmp_path / "queue\x00.db"
    (tmp_path / "locked").mkdir(mode=0o500)  # read-only (not for root)
    return tmp_path / "locked" / "queue.db"


@KINDS
@pytest.mark.parametrize(
    "where",
    [
        "parent-is-a-file",
        "symlink-loop",
        "nul-in-path",
        pytest.param(
            "read-only-directory",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere"),
        ),
    ],
)
async def test_an_unusable_queue_location_falls_back_to_memory(
    make: MakeClient, tmp_path: Path, kind: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = unusable(tmp_path, where)
    service = Service(200)
    client = make(service, kind, queue_path=path, clock=Clock(T0))  # before: QueueError
    assert (await update(client, XUID, "1", 40)).status == "updated"
    service.error = httpx.ConnectError
    assert (await update(client, XUID, "2", 50)).status == "queued"
    assert (await update(client, XUID, "2", 100)).status == "queued"  # coalesced
    assert (await update(client, XUID, "3", 10)).status == "queued"
    state = client.status()
    assert state.pending == 2
    assert state.not_durable is not None
    assert str(path) in state.not_durable
    assert "memory" in state.not_durable
    assert str(path) in caplog.text  # logged, naming the path
    service.error = None
    assert await flush(client, 5.0) == 0
    assert service.delivered() == {
        (XUID, "1"): (40, iso_time(T0)),
        (XUID, "2"): (100, iso_time(T0)),
        (XUID, "3"): (10, iso_time(T0)),
    }
    assert client.status().pending == 0


async def test_a_usable_queue_is_durable(make: MakeClient) -> None:
    client = make(Service(200))
    assert client.status().not_durable is None


def test_a_queue_in_memory_is_shared_by_threads_and_one_per_queue(tmp_path: Path) -> None:
    first = OfflineQueue.in_memory(tmp_path / "x" / "q.db", "a test", clock=Clock(T0))
    second = OfflineQueue.in_memory(tmp_path / "x" / "q.db", "a test", clock=Clock(T0))

    def enqueue(n: int) -> None:
        first.enqueue(
            service=BASE,
            sandbox=SANDBOX,
            title_id=TITLE_ID,
            scid=SCID,
            xuid=XUID,
            achievement_id=str(n % 10),
            percent=n + 1,
        )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(enqueue, range(200)))
    assert first.pending_count() == 10
    assert {first.queued(BASE, SANDBOX, SCID, XUID, str(n)).percent for n in range(10)} == {  # type: ignore[union-attr]
        191 + n for n in range(10)
    }
    assert second.pending_count() == 0  # not a shared database
    assert not (tmp_path / "x").exists()
    first.close()
    with pytest.raises(QueueError):
        first.pending_count()
