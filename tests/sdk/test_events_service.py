"""`write_event` against the real service (an event-based title 1234: event
`Progress`, sum stat `Count` of its measurement `count`, achievement n at Count >= n).

- 50 game processes each write one event offline and are SIGKILLed the moment
  they say "queued"; `laurels sync --once` then delivers every event exactly once
  (each player's events carry distinct powers of two, so the stat's sum shows a
  lost or a doubled one).
- A lost answer after the service's commit, then a redelivery: counted once.
- Three queued events of 10: `GET .../stats` shows 30.
Until the service starts, its port is bound but not listening (connections are
refused), so the games are offline and no other process can take the port."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from laurels.app import create_app
from laurels.sdk import OfflineQueue
from tests.helpers import eventually, free_socket, serve_app, token_for
from tests.helpers.processes import first_line_then_kill
from tests.helpers.queue import event_rows, read_queue, stored_credential
from tests.helpers.sdk import (
    ServiceDb,
    client_for,
    game_script,
    game_xuid,
    read_stats,
    save_credentials,
    sync_once,
    url_of,
)

SERVICE_KIND = "event-based"
SERVICE_ACHIEVEMENTS = 31  # achievement n unlocks at Count >= n
GAMES = 50
PLAYERS = 5
AT_ONCE = 4  # game processes alive at a time (2 cores)
DEADLINE_SECONDS = 90
GAME = game_script(
    "count", 'client.write_event(xuid, "Progress", measurements={"count": int(count)})'
)


def plan() -> list[tuple[str, int]]:
    """(player, count) of each game: player p's k-th event counts 2**k."""
    return [(game_xuid(n % PLAYERS), 2 ** (n // PLAYERS)) for n in range(GAMES)]


@pytest.mark.slow
async def test_sigkilled_games_lose_no_queued_event_and_sync_delivers_each_once(
    service: ServiceDb, tmp_path: Path
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    sock = free_socket()  # bound, not listening: every game is offline
    url, queue = url_of(sock), tmp_path / "queue.db"
    games = plan()
    tokens = {x: await token_for(service.db, xuid=x) for x in {x for x, _ in games}}

    gate = asyncio.Semaphore(AT_ONCE)
    answers = await asyncio.gather(
        *(
            first_line_then_kill(GAME, [url, str(queue), tokens[x], x, str(c)], gate, deadline)
            for x, c in games
        )
    )
    assert answers == ["queued"] * GAMES
    rows = event_rows(queue)  # every acknowledged event is on disk, once
    assert sorted((r.xuid, r.measurements) for r in rows) == sorted(
        (x, f'{{"count": {c}}}') for x, c in games
    )
    assert len({r.event_id for r in rows}) == GAMES

    store = OfflineQueue(queue)
    save_credentials(store, url, tokens)  # a player token stands in for the credential
    store.close()
    expected = {x: sum(c for p, c in games if p == x) for x in tokens}
    async with serve_app(create_app(service.settings()), sock):  # no game runs
        out = await sync_once(queue, deadline)
        assert f"0 pending, 0 dead letter(s), {GAMES} delivered now" in out, out
        assert event_rows(queue) == []
        for player, total in expected.items():
            assert await read_stats(url, tokens[player], player) == {"Count": total}
        out = await sync_once(queue, deadline)  # nothing left: nothing sent twice
        assert "0 pending, 0 dead letter(s), 0 delivered now" in out, out
        for player, total in expected.items():
            assert await read_stats(url, tokens[player], player) == {"Count": total}


class LosingTransport(httpx.AsyncHTTPTransport):
    """Delivers to the service, then loses the answer of the first `lose` event
    requests (the service has committed them)."""

    def __init__(self, lose: int) -> None:
        super().__init__()
        self.lose = lose
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        if request.url.path.endswith("/events"):
            self.sent += 1
            await response.aread()
            if self.lose > 0:
                self.lose -= 1
                await response.aclose()  # its connection goes back, not to the collector
                raise httpx.ReadError("the answer was lost", request=request)
        return response


async def test_a_lost_answer_and_a_redelivery_count_once(
    service: ServiceDb, tmp_path: Path
) -> None:
    token = await token_for(service.db)
    sock = free_socket()
    url = url_of(sock)
    transport = LosingTransport(lose=1)
    async with (
        serve_app(create_app(service.settings()), sock),
        client_for(url, token, tmp_path / "queue.db", transport=transport) as client,
    ):
        result = await client.write_event(
            "2533274790395904", "Progress", measurements={"count": 10}
        )
        assert result.status == "queued"  # as far as the game can tell
        assert await client.flush(10) == 0
        assert transport.sent == 2  # the same event, with the same id, twice
        assert await read_stats(url, token) == {"Count": 10}
        assert await service.unlocks("10") == 1
        assert await service.unlocks("11") == 0  # not counted twice
        assert client.status().event_dead_letters == 0


async def test_three_queued_events_of_ten_make_thirty(service: ServiceDb, tmp_path: Path) -> None:
    token = await token_for(service.db)
    sock = free_socket()  # bound, not listening: offline
    url = url_of(sock)
    queue = tmp_path / "queue.db"
    async with client_for(url, token, queue, exit_timeout=0) as client:
        results = [
            await client.write_event("2533274790395904", "Progress", measurements={"count": 10})
            for _ in range(3)
        ]
        assert [r.status for r in results] == ["queued"] * 3
        await client.close(timeout=0)
    assert len(event_rows(queue)) == 3
    async with (
        serve_app(create_app(service.settings()), sock),
        client_for(url, token, queue) as client,
    ):
        assert await client.flush(10) == 0  # the next session delivers them
        assert await read_stats(url, token) == {"Count": 30}
        assert await service.unlocks("30") == 1
        assert await service.unlocks("31") == 0


class SwitchTransport(httpx.AsyncHTTPTransport):
    """The network, until `down` is set: then every request fails to connect."""

    down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("the network is down", request=request)
        return await super().handle_async_request(request)


async def test_sync_delivers_queued_events_with_the_players_delivery_credential(
    service: ServiceDb, tmp_path: Path
) -> None:
    """The realistic path: the game is online once (and gets the player's delivery
    credential), then offline; after it has gone, `laurels sync` delivers its
    queued events with that credential, no session token in the file."""
    player = "2533274790395904"
    token = await token_for(service.db, xuid=player)
    sock = free_socket()
    url, queue = url_of(sock), tmp_path / "queue.db"
    transport = SwitchTransport()
    async with serve_app(create_app(service.settings()), sock):
        async with client_for(url, token, queue, transport=transport, exit_timeout=0) as client:
            first = await client.write_event(player, "Progress", measurements={"count": 1})
            assert first.status == "sent"
            await eventually(lambda: stored_credential(queue, player) is not None, 10)
            transport.down = True
            for _ in range(2):
                result = await client.write_event(player, "Progress", measurements={"count": 2})
                assert result.status == "queued"
            await client.close(timeout=0)
        assert read_queue(queue, "SELECT count(*) FROM session_tokens") == [(0,)]
        out = await sync_once(queue, time.monotonic() + 30)
        assert "0 pending, 0 dead letter(s), 2 delivered now" in out, out
        assert await read_stats(url, token, player) == {"Count": 5}
