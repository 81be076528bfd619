"""`write_event` (spec/events.md) against a mock transport: results and callbacks
of both clients, impossible arguments, the request on the wire, the queue's event
rows (append-only, ordered, ids and times fixed at the call), batches of at most
100 in order per player, dead letters per event and per batch, a bounded queue,
and a lost answer redelivered once. The real service: test_events_service.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from laurels.sdk import (
    E_QUEUE_FULL,
    QUEUE_FULL,
    AchievementsClient,
    EventResult,
    MockTransport,
    OfflineQueue,
    SyncAchievementsClient,
)
from laurels.sdk._cli import describe
from laurels.sdk._delivery import Deliverer
from laurels.sdk._policy import iso_time
from tests.helpers import OTHER_XUID, SCID, TITLE_ID, XUID
from tests.helpers.queue import enqueue_event, event_rows
from tests.helpers.sdk import (
    BASE,
    KINDS,
    SANDBOX,
    T0,
    TOKEN,
    Client,
    Clock,
    MakeClient,
    flush,
    save_credentials,
)


class EventService:
    """A mock of `POST /events`: answers `status` (an error body for >= 400),
    refuses a request holding an event named in `refuse` with that status and a
    description naming the event's path, answers 409 to anything while
    `title_managed`, raises `error` when set, and loses `lose` answers after
    applying them. It keeps each event id once, as the service does."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.refuse: dict[str, int] = {}
        self.title_managed = False
        self.error: type[httpx.TransportError] | None = None
        self.lose = 0
        self.applied: list[str] = []  # ids, in the order applied, once each
        self.duplicates = 0
        self.requests: list[dict[str, Any]] = []
        self.raw: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/delivery-credentials"):
            return httpx.Response(201, json={"credential": "cred", "expiresAt": ""})
        body = json.loads(request.content)
        with self._lock:
            self.raw.append(request)
            self.requests.append(body)
        if self.error is not None:
            raise self.error("unreachable", request=request)
        if self.title_managed:
            return error(409, "title 1234 is title-managed")
        for i, event in enumerate(body["events"]):
            if event["name"] in self.refuse:
                return error(self.refuse[event["name"]], f"events[{i}].name: refused")
        if self.status != 200:
            return error(self.status, f"refused with {self.status}")
        with self._lock:
            fresh = [e["id"] for e in body["events"] if e["id"] not in self.applied]
            self.applied += fresh
            self.duplicates += len(body["events"]) - len(fresh)
            lost, self.lose = self.lose > 0, max(0, self.lose - 1)
        if lost:
            raise httpx.ReadError("the answer was lost", request=request)
        dupes = len(body["events"]) - len(fresh)
        return httpx.Response(200, json={"accepted": len(fresh), "duplicates": dupes})

    def names(self) -> list[str]:
        """Names of the applied events, in the order applied."""
        by_id = {e["id"]: e["name"] for body in self.requests for e in body["events"]}
        return [by_id[i] for i in self.applied]


def error(status: int, description: str) -> httpx.Response:
    body = {"code": 0x80190000 | status, "source": "achievements", "description": description}
    return httpx.Response(status, json=body)


async def write(client: Client, name: str = "Progress", **fields: Any) -> EventResult:
    xuid = fields.pop("xuid", XUID)
    if isinstance(client, SyncAchievementsClient):
        return await asyncio.wrap_future(client.write_event(xuid, name, **fields))
    return await client.write_event(xuid, name, **fields)


def credential(queue: OfflineQueue, xuid: str = XUID) -> None:
    save_credentials(queue, BASE, {xuid: "cred"})


# --- results ------------------------------------------------------------------------------


@KINDS
@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [
        (200, "sent", 0),
        (400, "rejected", 0x80190190),
        (403, "rejected", 0x80190193),
        (404, "rejected", 0x80190194),
        (409, "rejected", 0x80190199),
        (408, "queued", 0),
        (429, "queued", 0),
        (500, "queued", 0),
        (503, "queued", 0),
    ],
)
async def test_write_event_result_by_status(
    make: MakeClient, queue_path: Path, kind: str, status: int, expected: str, code: int
) -> None:
    client = make(EventService(status), kind)
    result = await write(client, measurements={"count": 1})
    assert (result.status, result.hresult) == (expected, code)
    assert result.ok is (expected != "rejected")
    uuid.UUID(result.event_id)  # the SDK's id
    rows = event_rows(queue_path)
    assert [r.event_id for r in rows] == ([result.event_id] if expected == "queued" else [])
    assert client.status().events_pending == len(rows)
    if expected == "rejected":
        assert result.http_status == status
        assert "refused" in (result.description or "")


@KINDS
async def test_a_network_error_queues_the_event(
    make: MakeClient, queue_path: Path, kind: str
) -> None:
    service = EventService()
    service.error = httpx.ConnectError
    client = make(service, kind)
    result = await write(client, measurements={"count": 1})
    assert result.status == "queued"
    assert [r.event_id for r in event_rows(queue_path)] == [result.event_id]


async def test_the_request_carries_the_event_with_its_id_and_time(make: MakeClient) -> None:
    service = EventService()
    clock = Clock()
    client = make(service, clock=clock)
    dimensions = {"weapon": "Sword", "difficulty": "Hard"}
    result = await write(client, "EnemyDefeated", dimensions=dimensions, measurements={"count": 2})
    assert result.status == "sent"
    (request,) = service.raw
    assert request.url.path == f"/users/xuid({XUID})/events"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "titleId": TITLE_ID,
        "events": [
            {
                "id": result.event_id,
                "name": "EnemyDefeated",
                "time": iso_time(T0),
                "dimensions": dimensions,
                "measurements": {"count": 2},
            }
        ],
    }


@pytest.mark.parametrize(
    ("xuid", "name", "fields"),
    [
        (XUID, "", {}),
        (XUID, "1Enemy", {}),
        (XUID, "Enemy-Defeated", {}),
        (XUID, "E" * 65, {}),
        (XUID, 7, {}),
        ("", "Progress", {}),
        ("not-a-xuid", "Progress", {}),
        (XUID, "Progress", {"dimensions": {"weapon": 3}}),
        (XUID, "Progress", {"dimensions": {"weapon": None}}),
        (XUID, "Progress", {"dimensions": ["weapon"]}),
        (XUID, "Progress", {"measurements": {"count": 1.5}}),
        (XUID, "Progress", {"measurements": {"count": "3"}}),
        (XUID, "Progress", {"measurements": {"count": True}}),
        (XUID, "Progress", {"measurements": {"count": 2**63}}),
        (XUID, "Progress", {"measurements": {"count": -(2**63) - 1}}),
        (XUID, "Progress", {"measurements": {"bad name": 1}}),
    ],
)
@KINDS
async def test_impossible_events_raise_at_once(
    make: MakeClient, kind: str, xuid: Any, name: Any, fields: dict[str, Any]
) -> None:
    service = EventService()
    client = make(service, kind)
    if isinstance(client, SyncAchievementsClient):
        with pytest.raises(ValueError, match="must"):
            client.write_event(xuid, name, **fields)
    else:
        with pytest.raises(ValueError, match="must"):
            await client.write_event(xuid, name, **fields)
    assert service.requests == []
    assert client.status().events_pending == 0


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63), 0])
async def test_int64_bounds_are_accepted(make: MakeClient, value: int) -> None:
    service = EventService()
    result = await write(make(service), measurements={"count": value})
    assert result.status == "sent"
    assert service.requests[0]["events"][0]["measurements"] == {"count": value}


async def test_sync_write_event_returns_a_future_at_once_and_calls_back(
    make: MakeClient,
) -> None:
    service = EventService(503)
    client = make(service, "sync")
    assert isinstance(client, SyncAchievementsClient)
    seen: list[EventResult] = []
    done = threading.Event()

    def callback(future: concurrent.futures.Future[EventResult]) -> None:
        seen.append(future.result())
        done.set()

    future = client.write_event(XUID, "Progress", measurements={"count": 1}, callback=callback)
    assert isinstance(future, concurrent.futures.Future)
    assert await asyncio.to_thread(done.wait, 5)
    assert [r.status for r in seen] == ["queued"]
    assert future.result(0) is seen[0]


# --- the queue ----------------------------------------------------------------------------


async def test_queued_events_are_never_coalesced_and_keep_their_order(
    make: MakeClient, queue_path: Path
) -> None:
    service = EventService()
    service.error = httpx.ConnectError
    clock = Clock()
    client = make(service, clock=clock)
    ids = []
    for n in range(5):
        clock.now = T0 + n
        ids.append((await write(client, measurements={"count": 10})).event_id)
    rows = event_rows(queue_path)
    assert [r.event_id for r in rows] == ids
    assert len(set(ids)) == 5
    assert [r.time for r in rows] == [T0 + n for n in range(5)]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    assert all(json.loads(r.measurements) == {"count": 10} for r in rows)


async def test_a_new_event_goes_behind_the_players_queued_ones(
    make: MakeClient, queue_path: Path
) -> None:
    service = EventService()
    clock = Clock()
    queue = OfflineQueue(queue_path, clock=clock)
    credential(queue)
    first = enqueue_event(queue, BASE, "First")
    # held by a Retry-After, which even the client's first (forced) pass honours
    queue.retry_events(queue.claim_events(), soft=T0 + 200, hard=T0 + 200, error="HTTP 429")
    client = make(service, clock=clock)
    result = await write(client, "Second")
    assert result.status == "queued"  # not sent ahead of "First"
    other = await write(client, "Other", xuid=OTHER_XUID)
    assert other.status == "sent"  # another player's events are not held back
    clock.now = T0 + 201
    assert await flush(client) == 0
    assert service.names() == ["Other", "First", "Second"]
    assert service.applied[1:] == [first, result.event_id]


async def test_events_go_in_batches_of_at_most_100_in_order(
    queue_path: Path,
) -> None:
    service = EventService()
    queue = OfflineQueue(queue_path)
    credential(queue)
    credential(queue, OTHER_XUID)
    ids = [enqueue_event(queue, BASE, f"E{n}") for n in range(250)]
    other = [enqueue_event(queue, BASE, f"O{n}", xuid=OTHER_XUID) for n in range(3)]
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        deliverer = Deliverer(queue, http)
        while await deliverer.run_once(force=True):
            pass
    sizes = [len(body["events"]) for body in service.requests]
    assert sorted(sizes) == [3, 50, 100, 100]
    mine = [e["id"] for body in service.requests for e in body["events"] if e["name"][0] == "E"]
    assert mine == ids
    assert [i for i in service.applied if i in other] == other
    assert queue.status().events_pending == 0


async def test_two_deliverers_on_one_file_deliver_each_event_once_in_order(
    queue_path: Path,
) -> None:
    service = EventService()
    first, second = OfflineQueue(queue_path), OfflineQueue(queue_path)
    credential(first)
    ids = [enqueue_event(first, BASE, f"E{n}") for n in range(300)]
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        one, two = Deliverer(first, http), Deliverer(second, http)
        for _ in range(10):
            await asyncio.gather(one.run_once(force=True), two.run_once(force=True))
    assert service.applied == ids
    assert service.duplicates == 0
    assert first.status().events_pending == 0


async def test_a_lost_answer_is_redelivered_and_counted_once(
    make: MakeClient, queue_path: Path
) -> None:
    service = EventService()
    service.lose = 1  # the service commits, the answer never arrives
    client = make(service)
    result = await write(client, measurements={"count": 10})
    assert result.status == "queued"
    assert await flush(client) == 0
    assert service.applied == [result.event_id]
    assert service.duplicates == 1  # the redelivery, with the same id
    assert [body["events"][0]["id"] for body in service.requests] == [result.event_id] * 2


# --- dead letters and a full queue ---------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403])
async def test_a_refusal_naming_one_event_dead_letters_that_one_only(
    queue_path: Path, status: int
) -> None:
    service = EventService()
    service.refuse = {"Bad": status}
    queue = OfflineQueue(queue_path)
    credential(queue)
    names = ["A", "B", "Bad", "C"]
    ids = [enqueue_event(queue, BASE, name) for name in names]
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        assert await Deliverer(queue, http).run_once(force=True) == 4
    assert service.names() == ["A", "B", "C"]
    (dead,) = queue.event_dead_letters()
    assert (dead.event.event_id, dead.event.name, dead.status) == (ids[2], "Bad", status)
    assert dead.reason == "events[2].name: refused"
    state = queue.status()
    assert (state.events_pending, state.event_dead_letters, state.dead_letters) == (0, 1, 1)
    assert any("Bad" in reason and "events[2].name" in reason for reason in state.last_reasons)
    assert "dead letter" in describe(queue_path, state)


async def test_a_refusal_of_the_whole_request_dead_letters_the_batch(queue_path: Path) -> None:
    service = EventService()
    service.title_managed = True  # 409
    queue = OfflineQueue(queue_path)
    credential(queue)
    for n in range(3):
        enqueue_event(queue, BASE, f"E{n}")
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        assert await Deliverer(queue, http).run_once(force=True) == 3
    assert len(service.requests) == 1
    dead = queue.event_dead_letters()
    assert [(d.event.name, d.status) for d in dead] == [("E0", 409), ("E1", 409), ("E2", 409)]
    assert queue.status().events_pending == 0


@pytest.mark.parametrize("answer", [502, 429, "network"])
async def test_a_retryable_answer_keeps_the_batch_queued(
    queue_path: Path, answer: int | str
) -> None:
    service = EventService(answer if isinstance(answer, int) else 200)
    if answer == "network":
        service.error = httpx.ConnectError
    queue = OfflineQueue(queue_path)
    credential(queue)
    ids = [enqueue_event(queue, BASE) for _ in range(3)]
    async with httpx.AsyncClient(transport=MockTransport(service)) as http:
        assert await Deliverer(queue, http).run_once(force=True) == 0
    assert [r.event_id for r in event_rows(queue_path)] == ids
    assert queue.event_dead_letters() == []
    assert queue.status().last_error


@KINDS
async def test_a_full_queue_refuses_the_event_and_says_so(
    make: MakeClient, queue_path: Path, kind: str
) -> None:
    service = EventService(503)
    client = make(service, kind, max_queued_events=3)
    results = [await write(client, measurements={"count": n}) for n in range(5)]
    assert [r.status for r in results] == ["queued"] * 3 + ["rejected"] * 2
    full = results[-1]
    assert (full.hresult, full.description, full.http_status) == (E_QUEUE_FULL, QUEUE_FULL, None)
    assert len(event_rows(queue_path)) == 3
    state = client.status()
    assert (state.events_pending, state.events_refused_full) == (3, 2)
    assert re.search(r"events refused, queue full: 2", describe(queue_path, state))


def test_max_queued_events_must_be_positive(queue_path: Path) -> None:
    with pytest.raises(ValueError, match="max_queued_events"):
        AchievementsClient(
            BASE,
            title_id=TITLE_ID,
            scid=SCID,
            sandbox=SANDBOX,
            queue_path=queue_path,
            max_queued_events=0,
        )
