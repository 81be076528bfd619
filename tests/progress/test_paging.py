"""Paging: 250 achievements walked with maxItems=25 while another task unlocks some
between pages: each item exactly once, in every order; a tampered token is a 400."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers import (
    Api,
    publish_config,
    running_service,
    title_config,
    token_for,
)

COUNT = 250
PAGE = 25


@pytest.fixture
async def big(db: Database, settings: Settings) -> AsyncIterator[Api]:
    await publish_config(db, title_config(COUNT))
    token = await token_for(db)
    fast = settings.with_changes(rate_burst_requests=10_000, rate_sustained_requests=10_000)
    async with running_service(fast) as url, httpx.AsyncClient(base_url=url) as client:
        yield Api(client, db, token, url)


async def _walk(api: Api, unlock_between: list[str], **params: Any) -> tuple[list[str], set[int]]:
    seen: list[str] = []
    totals: set[int] = set()
    token: str | None = None
    while True:
        query = {**params, "maxItems": PAGE}
        if token:
            query["continuationToken"] = token
        response = await api.achievements(**query)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["achievements"]]
        totals.add(page["pagingInfo"]["totalRecords"])
        token = page["pagingInfo"]["continuationToken"]
        if token is None:
            return seen, totals
        for _ in range(3):  # another task unlocks some between pages
            if unlock_between:
                assert (await api.update([(unlock_between.pop(), 100)])).status_code == 200


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, COUNT),
        ({"orderBy": "Title"}, COUNT),
        ({"orderBy": "UnlockTime"}, COUNT),
        ({"orderBy": "unlocktime", "unlockedOnly": "true"}, 40),
        ({"orderBy": "EndingSoon"}, COUNT),
    ],
)
async def test_walk_is_exact_under_concurrent_unlocks(
    big: Api, params: dict[str, Any], expected: int
) -> None:
    ids = [str(n) for n in range(1, COUNT + 1)]
    rng = random.Random(7)
    before = rng.sample(ids, 40)  # unlocked before the walk
    await big.update([(achievement, 100) for achievement in before[:20]])
    await big.update([(achievement, 100) for achievement in before[20:]])
    locked = [i for i in ids if i not in set(before)]
    rng.shuffle(locked)
    seen, totals = await _walk(big, locked, **params)
    assert len(seen) == len(set(seen)) == expected
    assert totals == {expected}
    if params.get("orderBy", "").lower() == "unlocktime":
        # The snapshot's unlocked achievements come first, whatever unlocked later.
        assert set(seen[:40]) == set(before)


async def test_a_fresh_walk_sees_the_new_unlocks_first(big: Api) -> None:
    await big.update([("7", 100)])
    await big.update([("9", 100)])
    seen, _ = await _walk(big, [], orderBy="UnlockTime")
    assert seen[:2] == ["9", "7"]


@pytest.mark.parametrize("tamper", ["flip", "truncate", "garbage", "other-query", "other-player"])
async def test_a_tampered_token_is_refused(big: Api, db: Database, tamper: str) -> None:
    first = (await big.achievements(maxItems=PAGE)).json()
    token = first["pagingInfo"]["continuationToken"]
    params: dict[str, Any] = {"maxItems": PAGE}
    headers_token = None
    xuid = "2533274790395904"
    if tamper == "flip":
        body, mac = token.split(".")
        token = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    elif tamper == "truncate":
        token = token[:-3]
    elif tamper == "garbage":
        token = "not-a-token"
    elif tamper == "other-query":
        params["orderBy"] = "UnlockTime"
    else:
        xuid = "2533274790395905"
        headers_token = await token_for(db, xuid=xuid)
    response = await big.achievements(
        xuid=xuid, token=headers_token, continuationToken=token, **params
    )
    assert response.status_code == 400
    assert response.json()["code"] == 4000
