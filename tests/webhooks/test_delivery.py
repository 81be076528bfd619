"""Unlocks through the real update API reach a local receiver, signed, retried with
the same idempotency key until it accepts; exactly one delivery per unlock however
many requests race; failures of every kind are attempts; giving up; shutdown."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from laurels.db import Database
from laurels.settings import Settings
from laurels.webhooks import verify_signature
from laurels.webhooks.dispatcher import CLAIM_ROUNDS
from laurels.webhooks.queue import Due, has_unclaimed
from laurels.webhooks.sender import USER_AGENT, pinned
from laurels.webhooks.service import count_pending, list_deliveries
from laurels.webhooks.views import Delivery
from laurels.wire.times import now_micros
from tests.helpers import (
    SCID,
    TITLE_ID,
    XUID,
    Api,
    eventually,
    free_socket,
    laurels,
    publish_config,
    title_config,
)
from tests.helpers.webhooks import (
    Clock,
    Receiver,
    add,
    catalog_of,
    dispatcher,
    unlock,
    writer,
)


async def _deliveries(db: Database, **filters: object) -> list[Delivery]:
    async with db.read() as conn:
        return await list_deliveries(conn, **filters)  # type: ignore[arg-type]


async def _settled(db: Database) -> bool:
    async with db.read() as conn:
        return await count_pending(conn) == 0


async def test_failing_receiver_gets_the_same_event_until_it_accepts(
    api: Api, db: Database, database_url: str
) -> None:
    receiver = Receiver(statuses=[500, 500, 500])
    async with receiver.serving() as url:
        added = await add(db, url, description="fails three times")
        before = time.time()
        response = await api.update([("2", 100)])
        assert response.status_code == 200
        await eventually(lambda: _status_is(db, "delivered"), 15.0, what="the delivery")
    assert len(receiver.requests) == 4
    bodies = {r.body for r in receiver.requests}
    assert len(bodies) == 1  # the same bytes every time
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert len(keys) == 1
    for request in receiver.requests:
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == USER_AGENT
        header = request.headers["laurels-signature"]
        assert verify_signature(added.secret, header, request.body, now=request.at, tolerance=5)
        assert not verify_signature("whsec_wrong", header, request.body, now=request.at)
    event = json.loads(receiver.requests[0].body)
    assert event["id"] == keys.pop()
    assert event["type"] == "achievement.unlocked"
    assert event["data"]["xuid"] == XUID
    assert event["data"]["achievementId"] == "2"
    assert event["data"]["titleId"] == TITLE_ID
    assert event["data"]["serviceConfigId"] == SCID
    assert event["data"]["achievementName"] == "Achievement 2"
    assert event["data"]["gamerscore"] == 10

    [delivery] = await _deliveries(db, endpoint_id=added.endpoint.id)
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert [a.status_code for a in delivery.log] == [500, 500, 500, 200]
    assert [a.attempt for a in delivery.log] == [1, 2, 3, 4]
    assert all(a.error is None and a.duration_ms >= 0 for a in delivery.log)
    assert all(a.started_at_us >= int(before * 1_000_000) for a in delivery.log)
    shown = await asyncio.to_thread(
        laurels, database_url, "webhooks", "deliveries", "--endpoint", added.endpoint.id
    )
    assert shown.returncode == 0, shown.stderr
    assert f"delivery {delivery.id}  delivered  endpoint {added.endpoint.id}  4 attempts" in (
        shown.stdout
    )
    attempt_lines = [line.split() for line in shown.stdout.splitlines() if " ms  " in line]
    assert [(line[0], line[-2], line[-1]) for line in attempt_lines] == [
        ("1", "HTTP", "500"),
        ("2", "HTTP", "500"),
        ("3", "HTTP", "500"),
        ("4", "HTTP", "200"),
    ]
    assert f"key {delivery.idempotency_key}" in shown.stdout


async def _status_is(db: Database, status: str) -> bool:
    deliveries = await _deliveries(db)
    return bool(deliveries) and all(d.status == status for d in deliveries)


CONCURRENT = 50


async def test_fifty_concurrent_unlocks_make_one_delivery(api: Api, db: Database) -> None:
    receiver = Receiver()
    async with receiver.serving() as url:
        await add(db, url)
        start = asyncio.Event()

        async def one() -> int:
            await start.wait()
            return (await api.update([("3", 100)])).status_code

        tasks = [asyncio.create_task(one()) for _ in range(CONCURRENT)]
        await asyncio.sleep(0)
        start.set()
        statuses = await asyncio.gather(*tasks)
        assert sorted(statuses) == [200] + [304] * (CONCURRENT - 1)
        await eventually(lambda: _status_is(db, "delivered"), 15.0, what="the delivery")
    assert await _settled(db)  # nothing left to claim or send
    assert len(await _deliveries(db)) == 1
    assert len(receiver.requests) == 1


async def test_timeouts_and_refused_connections_are_failed_attempts(db: Database) -> None:
    await publish_config(db, title_config(3))
    refused = free_socket()  # bound, never listening: connections are refused
    silent = free_socket()  # listening, never answering: requests time out
    silent.listen()
    try:
        closed_port = await add(db, f"http://127.0.0.1:{refused.getsockname()[1]}/hook")
        no_answer = await add(db, f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        async with writer(db) as committer, catalog_of(db) as catalog:
            await unlock(committer, "500")
            async with dispatcher(db, catalog, timeout_seconds=0.3) as sending:
                await sending.dispatch_once()
                assert sending.failures == 2
                assert sending.delivered == 0
                assert await sending.count_pending() == 2
    finally:
        refused.close()
        silent.close()
    [closed] = await _deliveries(db, endpoint_id=closed_port.endpoint.id)
    [late] = await _deliveries(db, endpoint_id=no_answer.endpoint.id)
    assert closed.status == late.status == "pending"
    assert closed.log[0].status_code is None
    assert closed.log[0].error is not None
    assert closed.log[0].error.startswith("could not connect")
    assert late.log[0].error == "timed out after 0.3 s"
    assert 250 <= late.log[0].duration_ms < 2000
    assert late.last_error == "timed out after 0.3 s"
    assert closed.next_attempt_at_us > closed.log[0].started_at_us  # retried later


async def test_gives_up_after_the_give_up_period(db: Database) -> None:
    await publish_config(db, title_config(3))
    refused = free_socket()
    clock = Clock()
    try:
        await add(db, f"http://127.0.0.1:{refused.getsockname()[1]}/hook")
        async with writer(db) as committer, catalog_of(db) as catalog:
            await unlock(committer, "600")
            async with dispatcher(db, catalog, clock=clock) as sending:
                await sending.dispatch_once()  # attempt 1; retried in 5..10 s
                await sending.dispatch_once()
                assert (await _deliveries(db))[0].attempts == 1  # not due yet
                clock.advance(10)
                await sending.dispatch_once()  # attempt 2
                [delivery] = await _deliveries(db)
                assert (delivery.status, delivery.attempts) == ("pending", 2)
                clock.advance(86_400)  # a day after it was created
                await sending.dispatch_once()  # attempt 3, and the last
                clock.advance(86_400)
                await sending.dispatch_once()
                assert sending.failures == 3
    finally:
        refused.close()
    [delivery] = await _deliveries(db)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error is not None
    assert "could not connect" in delivery.last_error
    assert [a.attempt for a in delivery.log] == [1, 2, 3]
    assert await _deliveries(db, status="failed") == [delivery]


async def test_addresses_are_checked_again_before_each_attempt(db: Database) -> None:
    """A RETAIL endpoint whose name resolved to a public address when it was added
    but resolves to a loopback address now: the attempt fails, nothing is sent."""
    await publish_config(db, title_config(3), sandbox="RETAIL")
    receiver = Receiver()
    answers = {"hooks.example.test": ["93.184.216.34"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    async with receiver.serving() as url:
        port = url.split(":")[2].split("/")[0]
        hook = f"http://hooks.example.test:{port}/hook"
        await add(db, hook, sandbox="RETAIL", resolve=resolve)
        answers["hooks.example.test"] = ["127.0.0.1"]
        async with writer(db) as committer, catalog_of(db) as catalog:
            await unlock(committer, "700", sandbox="RETAIL")
            async with dispatcher(db, catalog, resolve=resolve) as sending:
                await sending.dispatch_once()
    [delivery] = await _deliveries(db)
    assert delivery.status == "pending"
    assert delivery.log[0].status_code is None
    assert delivery.log[0].error == (
        "refused: hooks.example.test resolves to 127.0.0.1, a loopback address; "
        "only development sandboxes (DEV.*) may send webhooks to such addresses"
    )
    assert receiver.requests == []


async def test_retail_requests_go_to_the_address_that_was_checked() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]

    def due(url: str, sandbox: str = "RETAIL") -> Due:
        return Due(1, "e", url, "s", sandbox, "k", "{}", 0, 0, 0)

    url, headers, extensions = await pinned(
        due("https://hooks.example.test/x?a=1"), resolve=resolve
    )
    assert str(url) == "https://93.184.216.34/x?a=1"
    assert headers == {"Host": "hooks.example.test"}
    assert extensions == {"sni_hostname": "hooks.example.test"}
    url, headers, extensions = await pinned(
        due("http://hooks.example.test:8080/x"), resolve=resolve
    )
    assert (str(url), headers, extensions) == (
        "http://93.184.216.34:8080/x",
        {"Host": "hooks.example.test:8080"},
        {},
    )
    literal = await pinned(due("https://93.184.216.34/x"), resolve=resolve)
    assert (str(literal[0]), literal[1]) == ("https://93.184.216.34/x", {})
    development = await pinned(due("http://localhost:1/x", "DEV.1"), resolve=resolve)
    assert (str(development[0]), development[1]) == ("http://localhost:1/x", {})


async def test_two_dispatchers_deliver_each_unlock_once(db: Database, database_url: str) -> None:
    """Two processes' dispatchers (each its own database pool) woken together."""
    await publish_config(db, title_config(3))
    receiver = Receiver()
    count = 30
    async with receiver.serving() as url:
        await add(db, url)
        second_db = Database(database_url, pool_size=4)
        try:
            async with (
                catalog_of(db) as catalog,
                catalog_of(second_db) as second_catalog,
                dispatcher(db, catalog, start=True) as first,
                dispatcher(second_db, second_catalog, start=True) as second,
                writer(db) as committer,
            ):
                for n in range(count):
                    await unlock(committer, str(3000 + n), str(n % 3 + 1))
                    (first if n % 2 else second).wake()  # the poll is a minute: only wake
                await eventually(lambda: _delivered(db, count), 15.0, what=f"{count} deliveries")
                assert first.delivered + second.delivered == count
                assert first.failures == second.failures == 0
        finally:
            await second_db.dispose()
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) == count
    deliveries = await _deliveries(db, limit=100)
    assert len(deliveries) == count
    assert all(d.attempts == 1 for d in deliveries)


async def test_one_wake_claims_a_whole_backlog(db: Database) -> None:
    """Claims go in batches, a few per round; a full round means more may wait, so
    the loop goes on without waiting for another wake-up or poll."""
    await publish_config(db, title_config(3))
    async with writer(db) as committer, catalog_of(db) as catalog:
        await asyncio.gather(*(unlock(committer, str(4000 + n)) for n in range(25)))
        async with dispatcher(db, catalog, batch=2) as sending:
            assert CLAIM_ROUNDS * 2 < 25
            await sending.start()  # polls once a minute: only this start-up round
            await eventually(lambda: _all_claimed(db), 15.0, what="every unlock claimed")


async def _all_claimed(db: Database) -> bool:
    async with db.read() as conn:
        return not await has_unclaimed(conn)


async def _delivered(db: Database, count: int) -> bool:
    return len(await _deliveries(db, status="delivered", limit=100)) >= count


async def test_close_cancels_an_attempt_in_flight(db: Database) -> None:
    """Closing does not wait out a 10 s timeout: the attempt in flight is dropped,
    not counted, and the delivery is due again at once."""
    await publish_config(db, title_config(3))
    hold = asyncio.Event()
    receiver = Receiver(hold=hold)
    async with receiver.serving() as url:
        await add(db, url)
        try:
            async with writer(db) as committer, catalog_of(db) as catalog:
                await unlock(committer, "800")
                async with dispatcher(db, catalog, start=True, timeout_seconds=10) as sending:
                    await asyncio.wait_for(receiver.arrived.wait(), 10)
                    started = time.monotonic()
                    await sending.close()
                    assert time.monotonic() - started < 2
        finally:
            hold.set()
    [delivery] = await _deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.log) == ("pending", 0, ())
    assert delivery.next_attempt_at_us <= now_micros()
    assert sending.failures == 0


def test_settings_are_checked() -> None:
    from laurels.errors import ConfigurationError

    env = {"LAURELS_WEBHOOK_TIMEOUT_SECONDS": "2.5", "LAURELS_WEBHOOK_POLL_SECONDS": "0.1"}
    loaded = Settings.from_env(env, database_url="sqlite:///x.db")
    assert (loaded.webhook_timeout_seconds, loaded.webhook_poll_seconds) == (2.5, 0.1)
    assert loaded.webhook_give_up_seconds == 86400
    assert loaded.webhook_retry_base_seconds == 10
    with pytest.raises(ConfigurationError, match="LAURELS_WEBHOOK_RETRY_BASE_SECONDS"):
        Settings.from_env({"LAURELS_WEBHOOK_RETRY_BASE_SECONDS": "0"}, database_url="sqlite://")
    with pytest.raises(ConfigurationError, match="LAURELS_WEBHOOK_RETRY_MAX_SECONDS"):
        Settings.from_env({"LAURELS_WEBHOOK_RETRY_MAX_SECONDS": "5"}, database_url="sqlite://")
    with pytest.raises(ConfigurationError, match="LAURELS_WEBHOOK_GIVE_UP_SECONDS"):
        Settings.from_env({"LAURELS_WEBHOOK_GIVE_UP_SECONDS": "soon"}, database_url="sqlite://")
