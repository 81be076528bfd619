"""Rate limits over the real HTTP API, on both databases: a request is counted in its
caller's bucket (the token's player, or a game server's title), never in the bucket of
the player its path names.

The burst window is a day long (aligned to the epoch), so a burst of a few requests
never straddles a window's end in practice; its limit is 5.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers import (
    OTHER_XUID,
    SCID,
    XUID,
    Api,
    publish_config,
    running_service,
    title_config,
    token_for,
)

LIMIT = 5
DAY = 86_400

Request = Callable[[Api, str, str, int], Awaitable[httpx.Response]]


@pytest.fixture
async def limited(db: Database, settings: Settings) -> AsyncIterator[Api]:
    """A service allowing 5 requests a day per caller (players and servers alike),
    with A (XUID) as the client's player."""
    await publish_config(db, title_config(5))
    tight = settings.with_changes(
        rate_burst_requests=LIMIT,
        rate_burst_seconds=DAY,
        rate_sustained_requests=1000,
        rate_sustained_seconds=2 * DAY,
        rate_server_burst_requests=LIMIT,
        rate_server_sustained_requests=1000,
    )
    async with running_service(tight) as url, httpx.AsyncClient(base_url=url) as client:
        yield Api(client, db, await token_for(db), url)


async def post_update(api: Api, xuid: str, token: str, n: int) -> httpx.Response:
    return await api.update([("1", n)], xuid=xuid, token=token)


async def list_achievements(api: Api, xuid: str, token: str, n: int) -> httpx.Response:
    return await api.achievements(xuid=xuid, token=token)


async def read_feed(api: Api, xuid: str, token: str, n: int) -> httpx.Response:
    return await api.client.get(f"/users/xuid({xuid})/activity", headers=api.auth(token))


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(post_update, id="updates"),
        pytest.param(list_achievements, id="reads"),
        pytest.param(read_feed, id="feed"),
    ],
)
async def test_another_players_forbidden_requests_do_not_lock_the_player_out(
    limited: Api, attack: Request
) -> None:
    b = await token_for(limited.db, xuid=OTHER_XUID)
    answers = [(await attack(limited, XUID, b, n)).status_code for n in range(1, 11)]
    # B pays for its own refused requests, in its own bucket
    assert answers == [403] * LIMIT + [429] * LIMIT
    own = await limited.update([("1", 50)])
    assert own.status_code == 200
    assert (await limited.achievements()).status_code == 200
    assert await limited.stored("1") == 50


async def test_requests_without_a_valid_token_count_for_no_one(limited: Api) -> None:
    forged = limited.token[:-4] + ("AAAA" if not limited.token.endswith("AAAA") else "BBBB")
    for n in range(1, 11):
        assert (await limited.update([("1", n)], token=forged)).status_code == 401
    answers = [(await limited.update([("2", 10 * n)])).status_code for n in range(1, 7)]
    assert answers == [200] * LIMIT + [429]


@pytest.mark.parametrize(
    ("server", "refused"),
    [
        pytest.param(False, 403, id="player"),  # each one refused, and still counted
        pytest.param(True, 200, id="game-server"),  # each one written, one title bucket
    ],
)
async def test_a_caller_naming_made_up_players_is_still_limited(
    limited: Api, server: bool, refused: int
) -> None:
    token = await token_for(limited.db, xuid=OTHER_XUID, server=server)
    made_up = [str(4_100_000_000 + n) for n in range(10)]
    answers = [
        (await limited.update([("1", 10)], xuid=xuid, token=token)).status_code for xuid in made_up
    ]
    assert answers == [refused] * LIMIT + [429] * LIMIT
    assert (await limited.update([("1", 10)])).status_code == 200  # A is untouched


async def test_a_game_server_and_the_player_it_writes_have_separate_buckets(
    limited: Api,
) -> None:
    server = await token_for(limited.db, server=True)
    writes = [(await limited.update([("1", n)], token=server)).status_code for n in range(1, 7)]
    assert writes == [200] * LIMIT + [429]
    own = [(await limited.update([("2", n)])).status_code for n in range(1, 7)]
    assert own == [200] * LIMIT + [429]


async def test_a_delivery_credential_shares_its_players_bucket(limited: Api) -> None:
    created = await limited.client.post(
        f"/users/xuid({XUID})/delivery-credentials", headers=limited.auth()
    )
    assert created.status_code == 201  # the player's first request
    credential = created.json()["credential"]
    by_credential = [
        (await limited.update([("1", n)], token=credential)).status_code for n in range(1, 5)
    ]
    assert by_credential == [200] * (LIMIT - 1)
    assert (await limited.update([("2", 10)])).status_code == 429
    assert (await limited.update([("1", 90)], token=credential, scid=SCID)).status_code == 429
