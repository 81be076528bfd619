"""Endpoints (the URL rules, the title check, removal) and the queue in the database:
claims and leases are taken once, whatever the number of claimers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select, update

from laurels.db import Database
from laurels.errors import BadRequest, Conflict, NotFound
from laurels.outbox.tables import UNLOCKED, outbox
from laurels.titles.catalog import Catalog
from laurels.webhooks import queue
from laurels.webhooks.service import (
    check_endpoint_url,
    count_pending,
    list_deliveries,
    list_endpoints,
    remove_endpoint,
)
from laurels.webhooks.tables import webhook_deliveries, webhook_endpoints
from laurels.wire.times import now_micros
from tests.helpers import SCID, TITLE_ID, publish_config, title_config
from tests.helpers.webhooks import add, catalog_of, unlock, writer

PUBLIC = "93.184.216.34"


async def resolver(host: str, port: int) -> list[str]:
    return {"hooks.example.test": [PUBLIC], "inside.example.test": [PUBLIC, "10.0.0.7"]}[host]


async def _rows(db: Database, table: object) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


PRIVATE = [
    "http://127.0.0.1:9000/hook",
    "http://localhost:9000/hook",
    "http://[::1]:9000/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.20/hook",
    "http://169.254.169.254/latest",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[64:ff9b:1::a00:1]/hook",
    "http://[fec0::1]/hook",
    "http://[::10.0.0.1]/hook",
    "http://0x7f000001/hook",  # names the system resolver reads as 127.0.0.1
    "http://2130706433/hook",
    "http://127.1/hook",
]


async def test_private_endpoints_refused_in_retail_accepted_in_development(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    await publish_config(db, title_config(3), sandbox="DEV.1")
    for url in PRIVATE:
        with pytest.raises(BadRequest, match="only development sandboxes") as refused:
            await add(db, url, sandbox="RETAIL")
        assert "webhook URL refused" in refused.value.description
    assert await _rows(db, webhook_endpoints) == 0
    added = [await add(db, url, sandbox="DEV.1", description="local") for url in PRIVATE]
    assert all(new.secret.startswith("whsec_") for new in added)
    assert len({new.secret for new in added}) == len(PRIVATE)
    assert min(len(new.secret) for new in added) > 40
    async with db.read() as conn:
        assert await list_endpoints(conn) == [new.endpoint for new in added]


async def test_public_endpoints_in_retail(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    by_ip = await add(db, f"https://{PUBLIC}/hook", sandbox="RETAIL")
    by_name = await add(db, "https://hooks.example.test/x", sandbox="RETAIL", resolve=resolver)
    with pytest.raises(BadRequest, match=r"inside\.example\.test resolves to 10\.0\.0\.7, a priv"):
        await add(db, "https://inside.example.test/x", sandbox="RETAIL", resolve=resolver)
    with pytest.raises(BadRequest, match="does not resolve"):
        await add(db, "https://no-such-host.invalid/x", sandbox="RETAIL")
    async with db.read() as conn:
        assert [e.id for e in await list_endpoints(conn)] == [
            by_ip.endpoint.id,
            by_name.endpoint.id,
        ]
    assert by_ip.secret != by_name.secret


NOT_PUBLIC = [
    "127.0.0.1",
    "10.0.0.5",
    "100.64.0.1",
    "169.254.169.254",
    "::1",
    "fe80::1",
    "fd00::5",
    "::ffff:10.0.0.5",  # IPv4-mapped
    "::ffff:0:a00:5",  # IPv4-translated
    "::10.0.0.5",  # IPv4-compatible
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "64:ff9b:1::5db8:d822",  # local-use NAT64, even of a public IPv4 address
    "fec0::5",  # site-local
    "2002:a00:5::1",  # 6to4 of 10.0.0.5
    "2001:0:4136:e378:8000:63bf:f5ff:fffa",  # Teredo of 10.0.0.5
    "3fff::5",
    "ff05::2",
]
PUBLIC_ADDRESSES = [PUBLIC, "2606:4700:4700::1111", "::ffff:93.184.216.34", "64:ff9b::5db8:d822"]


def _literal(address: str) -> str:
    return f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook"


def _resolving_to(*addresses: str) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example.test", 443)
        return list(addresses)

    return resolve


SAME_URL = [
    "https://hooks.example.test/h",
    "HTTPS://Hooks.Example.TEST:443/h",
    "https://hooks.example.test:443/h#part",
]


async def test_one_active_endpoint_per_url_of_a_title_and_sandbox(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    await publish_config(db, title_config(3), sandbox="DEV.1")
    await publish_config(db, title_config(3, title_id=77, scid=SCID.replace("6a", "7b")), "RETAIL")
    first = await add(db, SAME_URL[1], sandbox="RETAIL", resolve=resolver)
    assert first.endpoint.url == SAME_URL[0]
    for url in SAME_URL:
        with pytest.raises(Conflict, match=r"title 1234 already has an endpoint for https://hooks"):
            await add(db, url, sandbox="RETAIL", resolve=resolver)
    await add(db, SAME_URL[0], sandbox="DEV.1")
    await add(db, SAME_URL[0], sandbox="RETAIL", title_id=77, resolve=resolver)
    await add(db, "https://hooks.example.test/h?v=2", sandbox="RETAIL", resolve=resolver)
    assert await _rows(db, webhook_endpoints) == 4
    await db.run_write(
        lambda conn: remove_endpoint(conn, endpoint_id=first.endpoint.id, now_us=now_micros())
    )
    replaced = await add(db, SAME_URL[2], sandbox="RETAIL", resolve=resolver)
    assert replaced.endpoint.url == SAME_URL[0]


async def test_concurrent_adds_of_one_url_store_one(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    url = "https://hooks.example.test/concurrent"
    results = await asyncio.gather(
        *(add(db, url, sandbox="RETAIL", resolve=resolver) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 3
    assert await _rows(db, webhook_endpoints) == 1


@pytest.mark.parametrize("address", NOT_PUBLIC)
async def test_retail_refuses_every_non_public_address(address: str) -> None:
    with pytest.raises(BadRequest, match=r"is an? .* address; only development sandboxes"):
        await check_endpoint_url(_literal(address), sandbox="RETAIL", resolve=_resolving_to())
    with pytest.raises(BadRequest, match=r"^webhook URL refused: hooks\.example\.test resolves to"):
        await check_endpoint_url(
            "https://hooks.example.test/hook", sandbox="RETAIL", resolve=_resolving_to(address)
        )
    with pytest.raises(BadRequest, match="resolves to"):  # one bad address of several
        await check_endpoint_url(
            "https://hooks.example.test/hook",
            sandbox="RETAIL",
            resolve=_resolving_to(PUBLIC, address),
        )
    await check_endpoint_url(_literal(address), sandbox="DEV.1", resolve=_resolving_to())


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
async def test_retail_accepts_public_addresses(address: str) -> None:
    await check_endpoint_url(_literal(address), sandbox="RETAIL", resolve=_resolving_to())
    await check_endpoint_url(
        "https://hooks.example.test/hook", sandbox="RETAIL", resolve=_resolving_to(address)
    )


BAD_URLS = [
    ("ftp://example.com/hook", "not an http"),
    ("example.com/hook", "not an http"),
    ("http://", "has no host"),
    ("https://user:secret@example.com/", "credentials"),
    ("http://example.com:70000/", "invalid port"),
    ("http://exa mple.com/", "spaces"),
    ("", "bytes"),
]


async def test_bad_urls_store_nothing(db: Database) -> None:
    await publish_config(db, title_config(3))
    for url, reason in BAD_URLS:
        with pytest.raises(BadRequest, match=reason):
            await add(db, url)
        with pytest.raises(BadRequest, match=reason):  # before the title is looked at
            await add(db, url, title_id=99)
    assert await _rows(db, webhook_endpoints) == 0


async def test_title_must_be_published_in_the_sandbox(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="DEV.1")
    with pytest.raises(NotFound, match=r"title 1234 is not published in DEV\.2"):
        await add(db, "http://127.0.0.1/hook", sandbox="DEV.2")
    with pytest.raises(NotFound, match="title 99 is not published"):
        await add(db, "http://127.0.0.1/hook", title_id=99)
    with pytest.raises(BadRequest, match="not a sandbox name"):
        await add(db, "http://127.0.0.1/hook", sandbox="dev")
    with pytest.raises(BadRequest, match="at most 200"):
        await add(db, "http://127.0.0.1/hook", description="x" * 201)
    assert await _rows(db, webhook_endpoints) == 0


async def test_claim_creates_one_delivery_per_active_endpoint(db: Database) -> None:
    await publish_config(db, title_config(3))
    await publish_config(db, title_config(3, title_id=77, scid=SCID.replace("6a", "7b")))
    first = await add(db, "http://127.0.0.1:1/a")
    second = await add(db, "http://127.0.0.1:1/b")
    removed = await add(db, "http://127.0.0.1:1/c")
    await add(db, "http://127.0.0.1:1/other-title", title_id=77)
    async with db.write() as conn:
        await remove_endpoint(conn, endpoint_id=removed.endpoint.id, now_us=now_micros())
    async with writer(db) as committer, catalog_of(db) as catalog:
        await unlock(committer, "100", "2")
        await unlock(committer, "100", "2")  # no second unlock
        assert await _claim(db, catalog) == (1, 2)
        assert await _claim(db, catalog) == (0, 0)
    async with db.read() as conn:
        deliveries = await list_deliveries(conn)
        assert await count_pending(conn) == 2
    assert {d.endpoint_id for d in deliveries} == {first.endpoint.id, second.endpoint.id}
    assert len({d.idempotency_key for d in deliveries}) == 1
    assert deliveries[0].payload == deliveries[1].payload
    body = json.loads(deliveries[0].payload)
    assert body["id"] == deliveries[0].idempotency_key
    assert body["type"] == "achievement.unlocked"
    assert body["data"] == {
        "sandbox": "DEV.1",
        "xuid": "100",
        "titleId": TITLE_ID,
        "serviceConfigId": SCID,
        "achievementId": "2",
        "achievementName": "Achievement 2",
        "achievementDescription": "You did thing 2.",
        "gamerscore": 10,
        "unlockTime": body["data"]["unlockTime"],
    }
    assert body["createdAt"].endswith("Z")
    assert body["data"]["unlockTime"].endswith("Z")


async def test_a_claimed_unlock_is_never_delivered_twice(db: Database) -> None:
    """The unique (endpoint, idempotency key) is the backstop: an unlock claimed
    again (its mark lost) creates no second delivery."""
    await publish_config(db, title_config(3))
    await add(db, "http://127.0.0.1:1/a")
    async with writer(db) as committer, catalog_of(db) as catalog:
        for n in range(5):
            await unlock(committer, str(200 + n))
        assert await _claim(db, catalog) == (5, 5)
        async with db.write() as conn:
            await conn.execute(update(outbox).values(published_at=None))
        assert await _claim(db, catalog, limit=3) == (3, 0)
        assert await _claim(db, catalog, limit=3) == (2, 0)
    assert await _rows(db, webhook_deliveries) == 5


async def test_an_unlock_that_cannot_be_described_does_not_hold_back_the_rest(
    db: Database,
) -> None:
    await publish_config(db, title_config(3))
    await add(db, "http://127.0.0.1:1/a")
    async with writer(db) as committer, catalog_of(db) as catalog:
        await unlock(committer, "300")
        await unlock(committer, "301")
        async with db.write() as conn:  # the older one's payload is damaged
            damaged = (outbox.c.xuid == "300") & (outbox.c.event_type == UNLOCKED)
            await conn.execute(update(outbox).where(damaged).values(payload="{}"))
        assert await _claim(db, catalog) == (2, 1)
    async with db.read() as conn:
        [delivery] = await list_deliveries(conn)
    assert json.loads(delivery.payload)["data"]["xuid"] == "301"


async def test_unlocks_without_endpoints_are_only_marked(db: Database) -> None:
    await publish_config(db, title_config(3))
    async with writer(db) as committer, catalog_of(db) as catalog:
        await unlock(committer, "300")
        assert await _claim(db, catalog) == (1, 0)
        async with db.read() as conn:
            assert not await queue.has_unclaimed(conn)
    assert await _rows(db, webhook_deliveries) == 0


UNLOCKS = 40


async def test_concurrent_claimers_take_each_unlock_once(db: Database, database_url: str) -> None:
    await publish_config(db, title_config(3))
    await add(db, "http://127.0.0.1:1/a")
    async with writer(db) as committer:
        await asyncio.gather(*(unlock(committer, str(1000 + n)) for n in range(UNLOCKS)))
    others = [Database(database_url, pool_size=2) for _ in range(3)]
    try:
        async with catalog_of(db) as catalog:
            claimed = await asyncio.gather(*(_claim_all(other, catalog) for other in others))
    finally:
        for other in others:
            await other.dispose()
    assert sum(claimed) == UNLOCKS
    async with db.read() as conn:
        events = (await conn.execute(select(webhook_deliveries.c.event_id))).scalars().all()
    assert sorted(events) == sorted(set(events))
    assert len(events) == UNLOCKS


async def test_concurrent_senders_lease_each_delivery_once(db: Database, database_url: str) -> None:
    await publish_config(db, title_config(3))
    await add(db, "http://127.0.0.1:1/a")
    async with writer(db) as committer, catalog_of(db) as catalog:
        await asyncio.gather(*(unlock(committer, str(2000 + n)) for n in range(UNLOCKS)))
        assert await _claim(db, catalog) == (UNLOCKS, UNLOCKS)
    now = now_micros()
    others = [Database(database_url, pool_size=2) for _ in range(3)]
    try:
        taken = await asyncio.gather(*(_take_all(other, now) for other in others))
    finally:
        for other in others:
            await other.dispose()
    ids = [due.id for batch in taken for due in batch]
    assert len(ids) == len(set(ids)) == UNLOCKS
    async with db.write() as conn:  # leased: not due again until the lease ends
        assert await queue.take_due(conn, now_us=now, lease_us=1, limit=100) == []
        again = await queue.take_due(conn, now_us=now + 60_000_000, lease_us=1, limit=100)
    assert len(again) == UNLOCKS


async def test_removing_an_endpoint_cancels_its_pending_deliveries(db: Database) -> None:
    await publish_config(db, title_config(3))
    kept = await add(db, "http://127.0.0.1:1/a")
    gone = await add(db, "http://127.0.0.1:1/b")
    async with writer(db) as committer, catalog_of(db) as catalog:
        await unlock(committer, "400")
        await _claim(db, catalog)
    async with db.write() as conn:
        removal = await remove_endpoint(conn, endpoint_id=gone.endpoint.id, now_us=now_micros())
        again = await remove_endpoint(conn, endpoint_id=gone.endpoint.id, now_us=now_micros())
        with pytest.raises(NotFound, match="no webhook endpoint 'nope'"):
            await remove_endpoint(conn, endpoint_id="nope", now_us=now_micros())
    assert (removal.already_removed, removal.cancelled) == (False, 1)
    assert (again.already_removed, again.cancelled) == (True, 0)
    async with db.read() as conn:
        by_endpoint = {d.endpoint_id: d for d in await list_deliveries(conn)}
        assert [e.active for e in await list_endpoints(conn)] == [True, False]
        assert await list_deliveries(conn, status="failed", endpoint_id=kept.endpoint.id) == []
        with pytest.raises(BadRequest, match="status must be one of"):
            await list_deliveries(conn, status="lost")
        with pytest.raises(BadRequest, match="limit must be"):
            await list_deliveries(conn, limit=0)
    assert by_endpoint[gone.endpoint.id].status == "failed"
    assert by_endpoint[gone.endpoint.id].last_error == "the endpoint was removed"
    assert by_endpoint[kept.endpoint.id].status == "pending"


async def _claim(db: Database, catalog: Catalog, *, limit: int = 100) -> tuple[int, int]:
    return await db.run_write(
        lambda conn: queue.claim_unlocks(
            conn, describe=catalog.version, now_us=now_micros(), limit=limit
        )
    )


async def _claim_all(db: Database, catalog: Catalog) -> int:
    total = 0
    while True:
        claimed, _ = await _claim(db, catalog, limit=3)
        total += claimed
        async with db.read() as conn:
            if not claimed and not await queue.has_unclaimed(conn):
                return total


async def _take_all(db: Database, now: int) -> list[queue.Due]:
    taken: list[queue.Due] = []
    while True:
        batch = await db.run_write(
            lambda conn: queue.take_due(conn, now_us=now, lease_us=60_000_000, limit=3)
        )
        taken.extend(batch)
        async with db.read() as conn:
            if not batch and not await queue.has_due(conn, now_us=now):
                return taken
