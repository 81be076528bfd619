"""Feed and history walks follow commit order: an unlock whose transaction began
before another's but commits after it (ids are handed out at insert on PostgreSQL)
neither joins a walk that began before it committed nor moves a title out of one;
and a walk through two `laurels serve` processes under concurrent unlocks repeats
nothing, skips nothing that was there when it began, and keeps its count."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.activity.service import decode_walk, token_key
from laurels.activity.tables import activity
from laurels.db import Database
from laurels.errors import BadRequest
from laurels.wire import tokens as paging
from laurels.wire.times import now_micros
from tests.helpers import SCID, TITLE_ID, XUID, publish_config, start_serve, token_for, update_body
from tests.helpers.activity import GAME, SIDE_ID, SIDE_SCID, Player

HOUR_US = 3_600_000_000


def _unlock_row(achievement_id: str, *, at_us: int, scid: str = SCID) -> dict[str, Any]:
    return {
        "sandbox": "DEV.1",
        "xuid": XUID,
        "scid": scid,
        "title_id": SIDE_ID if scid == SIDE_SCID else TITLE_ID,
        "achievement_id": achievement_id,
        "time_unlocked": at_us,
        "created_at": now_micros(),
    }


@asynccontextmanager
async def late_commit(
    db: Database, late: dict[str, Any], early: dict[str, Any]
) -> AsyncIterator[AsyncConnection]:
    """`late` inserted in a transaction that began first and is still open, then
    `early` inserted and committed in a second one; commit the yielded connection
    to commit `late`."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time: ids are commit order")
    async with db.engine.connect() as older, db.engine.connect() as newer:
        await older.begin()
        await older.execute(insert(activity).values(late))
        await newer.begin()
        await newer.execute(insert(activity).values(early))
        await newer.commit()
        yield older


Get = Callable[..., Awaitable[httpx.Response]]


async def _walk(
    get: Get, key: str, page: int, between: Callable[[], Awaitable[None]] | None = None
) -> tuple[list[dict[str, Any]], set[int]]:
    """Every page of a walk, and the totalRecords each page said; `between` runs
    after the first page."""
    found: list[dict[str, Any]] = []
    totals: set[int] = set()
    token = None
    while True:
        params: dict[str, Any] = {"maxItems": page}
        if token is not None:
            params["continuationToken"] = token
        response = await get(**params)
        assert response.status_code == 200, response.text
        body = response.json()
        found += body[key]
        totals.add(body["pagingInfo"]["totalRecords"])
        token = body["pagingInfo"]["continuationToken"]
        if between is not None:
            await between()
            between = None
        if token is None:
            return found, totals


def _earned(titles: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(title["titleId"], title["earnedAchievements"]) for title in titles]


async def test_an_unlock_committed_during_a_feed_walk_is_not_in_it(player: Player) -> None:
    for achievement_id in ("1", "2", "3"):
        assert (await player.unlock(achievement_id)).status_code == 200
    now = now_micros()
    late, early = _unlock_row("4", at_us=now), _unlock_row("5", at_us=now)
    async with late_commit(player.api.db, late, early) as older:
        items, totals = await _walk(player.feed, "activityItems", 1, older.commit)
    assert [item["achievementId"] for item in items] == ["5", "3", "2", "1"]
    assert totals == {4}
    fresh, _ = await _walk(player.feed, "activityItems", 2)
    assert [item["achievementId"] for item in fresh] == ["5", "4", "3", "2", "1"]


async def test_an_unlock_committed_during_a_history_walk_moves_no_title(player: Player) -> None:
    now = now_micros()
    game = {"id": "1", "percentComplete": 100, "timeAchieved": "2026-01-01T00:00:00Z"}
    assert (await player.api.update([game])).status_code == 200
    assert (await player.unlock("b1", scid=SIDE_SCID)).status_code == 200
    # GAME's late unlock is the newest of all: had the walk seen it, GAME would
    # come first and, walked past SIDE, be skipped.
    late = _unlock_row("2", at_us=now + HOUR_US)
    early = _unlock_row("b2", at_us=now, scid=SIDE_SCID)
    async with late_commit(player.api.db, late, early) as older:
        titles, totals = await _walk(player.history, "titles", 1, older.commit)
    assert [(t["titleId"], t["earnedAchievements"]) for t in titles] == [
        (SIDE_ID, 2),
        (TITLE_ID, 1),
    ]
    assert totals == {2}
    fresh, _ = await _walk(player.history, "titles", 5)
    assert _earned(fresh) == [(TITLE_ID, 2), (SIDE_ID, 2)]


# --- two processes --------------------------------------------------------------------

UNLOCKS = 60
WRITERS = 6
PAGE = 4


@pytest.mark.slow
async def test_feed_walks_under_concurrent_unlocks_through_two_processes(
    db: Database, database_url: str
) -> None:
    await publish_config(db, GAME)
    token = await token_for(db, server=True)
    processes = (start_serve(database_url), start_serve(database_url))
    try:
        urls = [p.url for p in processes]
        headers = {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as client:
            walks = await _walks_while_unlocking(client, urls)
            final, totals = await _feed_walk(client, urls[0], set())
    finally:
        for process in processes:
            process.stop()
    assert len(walks) >= 3
    assert sorted(final) == sorted(str(n) for n in range(1, UNLOCKS + 1))
    assert totals == {UNLOCKS}


async def _walks_while_unlocking(client: httpx.AsyncClient, urls: list[str]) -> list[list[str]]:
    """Unlocks 1..UNLOCKS through both processes, WRITERS at a time, while walks go
    on through both; each walk is checked by `_feed_walk`. The unlocks go a third at
    a time, the next third released when a walk ends, so at least three walks
    overlap the unlocking however fast either goes."""
    acked: set[str] = set()
    pending = [str(n) for n in range(1, UNLOCKS + 1)]
    random.Random(9).shuffle(pending)
    walks: list[list[str]] = []
    taken = 0
    turn = asyncio.Condition()

    def may_take() -> bool:
        return not pending or taken < (len(walks) + 1) * UNLOCKS // 3

    async def writer(n: int) -> None:
        nonlocal taken
        while True:
            async with turn:
                await turn.wait_for(may_take)
                if not pending:
                    return
                achievement_id = pending.pop()
                taken += 1
            body = update_body([(achievement_id, 100)])
            path = f"/users/xuid({XUID})/achievements/{SCID}/update"
            response = await client.post(urls[n % 2] + path, json=body)
            assert response.status_code == 200, response.text
            acked.add(achievement_id)

    writers = [asyncio.create_task(writer(n)) for n in range(WRITERS)]
    try:
        while not all(w.done() for w in writers):
            walk, _ = await _feed_walk(client, urls[len(walks) % 2], set(acked))
            walks.append(walk)
            async with turn:
                turn.notify_all()
    finally:
        await asyncio.gather(*writers)
    return walks


async def _feed_walk(
    client: httpx.AsyncClient, url: str, acked_before: set[str]
) -> tuple[list[str], set[int]]:
    """One walk in pages of PAGE: no item twice, one totalRecords that is the number
    of items, and every unlock acknowledged before it began."""

    async def get(**params: Any) -> httpx.Response:
        return await client.get(f"{url}/users/xuid({XUID})/activity", params=params)

    async with asyncio.timeout(60):
        items, totals = await _walk(get, "activityItems", PAGE)
    seen = [item["achievementId"] for item in items]
    assert len(seen) == len(set(seen)), seen
    assert totals == {len(seen)}, (totals, len(seen))
    assert acked_before <= set(seen), acked_before - set(seen)
    return seen, totals


@pytest.mark.parametrize(
    "body",
    [
        ["scope", 5, [1]],  # the shape of the id-ordered walks
        ["scope", [1], [], [1, 2]],
        ["scope", [1, "x"], [], [1, 2]],
        ["scope", [1, 2], [None], [1, 2]],
        ["scope", [1, 2], 7, [1, 2]],
    ],
)
def test_a_token_of_another_shape_is_a_bad_request(body: list[Any]) -> None:
    key = token_key(b"paging key")
    with pytest.raises(BadRequest, match="continuationToken is not valid"):
        decode_walk(paging.seal(json.dumps(body).encode(), key), key)
