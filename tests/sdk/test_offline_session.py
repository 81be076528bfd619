"""A session that was offline from start to end, and a refused delivery credential
(issue 9, items 1 and 5), against the real service on 127.0.0.1.

- A game that never reached the service keeps its player's session token in the
  0600 queue file; `laurels sync` exchanges it for a delivery credential once the
  network returns, erases it, and delivers every update with the time the player
  earned it.
- A game session with a fresh token delivers every queued update of its player,
  at start-up and on `flush`, though it did not make them.
- When nothing can deliver an update, `status()` and `laurels sync --status` say so,
  and what will.
- A delivery credential the service refuses (revoked with `laurels credentials
  revoke`, or expired) is erased, its updates stay queued, and the player's next
  session replaces it; then they deliver.

The service's port is held from the start (bound, not listening: connections are
refused) so that a test can be offline first and the service start there later.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest

from laurels.app import create_app
from laurels.auth.credentials import DAY_SECONDS, IssuedCredential, issue_credential
from laurels.auth.service import ensure_signing_key, mint_token
from laurels.progress.service import read_progress
from laurels.sdk import AchievementsClient, MockTransport, OfflineQueue, SyncAchievementsClient
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    eventually,
    free_socket,
    laurels,
    serve_app,
)
from tests.helpers.processes import first_line_then_kill
from tests.helpers.queue import enqueue, pending_rows, read_queue, stored_credential
from tests.helpers.sdk import SANDBOX, ServiceDb, client_for, game_script, game_xuid

SERVICE_ACHIEVEMENTS = 10


# -- helpers ---------------------------------------------------------------------------


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}"


async def expired_token(service: ServiceDb, xuid: str = XUID) -> str:
    """A player token that expired an hour ago (a game started with a stale one)."""
    key = await ensure_signing_key(service.db)
    return mint_token(
        key,
        xuid=xuid,
        title_id=TITLE_ID,
        sandbox=SANDBOX,
        ttl_seconds=3600,
        now=time.time() - 7200,
    )


def pending(queue: Path) -> dict[tuple[str, str], float]:
    """(xuid, achievement) → the time the player earned it, read from the file."""
    return {(r.xuid, r.achievement_id): r.time_achieved for r in pending_rows(queue)}


def stored_tokens(queue: Path) -> list[str]:
    return [str(row[0]) for row in read_queue(queue, "SELECT token FROM session_tokens")]


async def sync(*args: str) -> str:
    """`laurels sync ...` (while the service may serve in this loop); its stdout."""
    done = await asyncio.to_thread(laurels, "sqlite:///unused.db", "sync", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def unlock_times(service: ServiceDb, players: set[str]) -> dict[tuple[str, str], float]:
    """(xuid, achievement) → timeUnlocked (seconds) of what the service stored."""
    found: dict[tuple[str, str], float] = {}
    async with service.db.read() as conn:
        for player in players:
            rows = await read_progress(conn, sandbox=SANDBOX, xuid=player, scids=[SCID])
            for (_, achievement_id), row in rows.items():
                assert row.percent == 100
                assert row.time_unlocked is not None
                found[(player, achievement_id)] = row.time_unlocked / 1e6
    return found


def assert_same_times(
    stored: dict[tuple[str, str], float], earned: dict[tuple[str, str], float]
) -> None:
    assert stored.keys() == earned.keys()
    for key, when in earned.items():
        assert stored[key] == pytest.approx(when, abs=1e-5), key  # when earned, not delivered


# -- a never-online session, delivered by `laurels sync` ----------------------------------


async def test_sync_delivers_a_never_online_sessions_updates_with_the_time_earned(
    service: ServiceDb, tmp_path: Path
) -> None:
    sock, queue = free_socket(), tmp_path / "queue.db"
    url, token = url_of(sock.getsockname()[1]), await service.token()
    async with client_for(url, token, queue) as client:
        for achievement_id in ("1", "2", "3"):
            assert (await client.update_achievement(XUID, achievement_id, 100)).status == "queued"
        assert client.status().blocked == ()  # the token kept on disk will deliver them
    earned = pending(queue)
    assert stored_tokens(queue) == [token]  # kept for `laurels sync`, in a 0600 file
    assert stat.S_IMODE(os.stat(queue).st_mode) == 0o600
    assert stored_credential(queue) is None

    status = await sync("--status", "--queue", str(queue))
    assert "3 pending, 0 dead letter(s)" in status, status
    assert "blocked" not in status, status

    async with serve_app(create_app(service.settings()), sock):  # no game runs now
        out = await sync("--once", "--queue", str(queue))
    assert "0 pending, 0 dead letter(s), 3 delivered now" in out, out
    assert stored_tokens(queue) == []  # exchanged, then erased
    assert stored_credential(queue) not in (None, token)
    assert_same_times(await unlock_times(service, {XUID}), earned)


async def test_an_expired_session_token_is_erased_and_status_says_what_will_deliver(
    service: ServiceDb, tmp_path: Path
) -> None:
    """A token kept on disk is erased once expired; the updates then have nothing
    to deliver them, and both status views say so and what will."""
    sock, queue = free_socket(), tmp_path / "queue.db"
    url = url_of(sock.getsockname()[1])
    now = [time.time()]
    client = AchievementsClient(
        url,
        title_id=TITLE_ID,
        scid=SCID,
        sandbox=SANDBOX,
        token=await service.token(),  # valid for an hour
        queue_path=queue,
        clock=lambda: now[0],
    )
    try:
        assert (await client.update_achievement(XUID, "1", 100)).status == "queued"
        assert len(stored_tokens(queue)) == 1
        assert client.status().blocked == ()
        now[0] += 2 * 3600  # two hours later, by this clock
        [blocked] = client.status().blocked
    finally:
        await client.close(timeout=0)
    assert (blocked.xuid, blocked.count) == (XUID, 1)
    assert "the session token stored for them has expired" in blocked.describe()

    sock.close()
    store = OfflineQueue(queue, clock=lambda: now[0])
    store.erase_expired_tokens()  # (the client's own last pass may have done it already)
    assert stored_tokens(queue) == []
    [blocked] = store.status().blocked
    store.close()
    assert "no session token is stored for them" in blocked.describe()
    out = await sync("--status", "--queue", str(queue))
    assert "1 pending, 0 dead letter(s)" in out, out
    assert f"blocked: {blocked.describe()}" in out, out


# -- a second game session ---------------------------------------------------------------


async def test_a_new_session_delivers_its_players_queue_at_start_and_on_flush(
    service: ServiceDb, tmp_path: Path
) -> None:
    """The first session started with a stale token and never reached the service:
    nothing could deliver its updates. The next session, with a fresh token for the
    same player, delivers them at start-up, with the time they were earned."""
    sock, queue = free_socket(), tmp_path / "queue.db"
    url = url_of(sock.getsockname()[1])
    async with client_for(url, await expired_token(service), queue) as client:
        for achievement_id in ("1", "2"):
            assert (await client.update_achievement(XUID, achievement_id, 100)).status == "queued"
        [blocked] = client.status().blocked
    earned = pending(queue)
    assert stored_tokens(queue) == []  # an expired token is never kept
    assert blocked.count == 2
    out = await sync("--status", "--queue", str(queue))
    assert f"blocked: {blocked.describe()}" in out, out

    async with serve_app(create_app(service.settings()), sock):
        out = await sync("--once", "--queue", str(queue))
        assert "2 pending, 0 dead letter(s), 0 delivered now" in out, out  # nothing can, yet

        async with client_for(url, await service.token(), queue) as second:

            async def delivered() -> bool:
                return await service.percent("2") == 100

            await eventually(delivered, what="the start-up delivery")  # no call made yet
            assert await second.flush(timeout=10) == 0
            state = second.status()
    assert (state.pending, state.dead_letters, state.blocked) == (0, 0, ())
    assert_same_times(await unlock_times(service, {XUID}), earned)
    assert stored_credential(queue) is not None  # and it got a credential for later


async def test_a_token_that_says_nothing_is_tried_and_a_403_keeps_the_update(
    tmp_path: Path,
) -> None:
    """A token the SDK cannot read may speak for any player: it is tried for each
    (after a player's own credential), and a 403 keeps that player's update queued
    instead of making it a dead letter."""
    queue = OfflineQueue(tmp_path / "queue.db")
    base = "http://laurels.test"
    for player in (XUID, OTHER_XUID):
        enqueue(queue, base, xuid=player)
    sent: list[tuple[str, str]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        player = json.loads(request.content)["userId"]
        sent.append((player, request.headers["authorization"]))
        if player == XUID:
            return httpx.Response(200)
        body = {"code": 4500, "source": "achievements", "description": "not your player"}
        return httpx.Response(403, json=body)

    client = SyncAchievementsClient(
        base,
        title_id=TITLE_ID,
        scid=SCID,
        sandbox=SANDBOX,
        token="opaque-token",
        queue_path=queue.path,
        transport=MockTransport(answer),
        exit_timeout=0,
    )
    try:
        assert await asyncio.to_thread(client.flush, 1.0) == 1
        state = client.status()
    finally:
        await asyncio.to_thread(client.close, 0)
    assert sorted(set(sent)) == [
        (XUID, "Bearer opaque-token"),
        (OTHER_XUID, "Bearer opaque-token"),
    ]
    assert sent.count((OTHER_XUID, "Bearer opaque-token")) == 1  # not tried again
    assert (state.pending, state.dead_letters) == (1, 0)
    assert state.last_error is not None
    assert "the player's next game session" in state.last_error
    assert [b.xuid for b in state.blocked] == [OTHER_XUID]
    [(player, _)] = pending(queue.path).keys()
    assert player == OTHER_XUID
    queue.close()


# -- a refused delivery credential -------------------------------------------------------


def hold(port: int) -> socket.socket:
    """The service's port held again after a stop: bound, not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


async def credential_of_earlier_session(
    service: ServiceDb, queue: Path, url: str, refusal: str
) -> str:
    """Store in the queue file the player's credential as an earlier online session
    got it; make the service refuse it (revoked with the command line, or expired)."""
    key = await ensure_signing_key(service.db)
    ago = 2 * DAY_SECONDS if refusal == "expired" else 0
    issued: IssuedCredential = await service.db.run_write(
        lambda conn: issue_credential(
            conn,
            key,
            xuid=XUID,
            title_id=TITLE_ID,
            sandbox=SANDBOX,
            ttl_seconds=DAY_SECONDS,
            now=time.time() - ago,
        )
    )
    store = OfflineQueue(queue)
    store.save_credential(
        service=url,
        sandbox=SANDBOX,
        title_id=TITLE_ID,
        xuid=XUID,
        credential=issued.credential,
        expires_at="",
    )
    store.close()
    if refusal == "revoked":
        done = await asyncio.to_thread(
            laurels, service.url, "credentials", "revoke", "--id", issued.id
        )
        assert done.returncode == 0, done.stderr
    return issued.credential


@pytest.mark.parametrize("next_session", ["online", "offline"])
@pytest.mark.parametrize("refusal", ["revoked", "expired"])
async def test_a_refused_credential_is_replaced_by_the_next_session_and_its_updates_deliver(
    service: ServiceDb, tmp_path: Path, refusal: str, next_session: str
) -> None:
    sock, queue = free_socket(), tmp_path / "queue.db"
    port = sock.getsockname()[1]
    url = url_of(port)
    refused = await credential_of_earlier_session(service, queue, url, refusal)
    async with client_for(url, await service.token(), queue) as client:  # offline
        for achievement_id in ("1", "2"):
            assert (await client.update_achievement(XUID, achievement_id, 100)).status == "queued"
    assert stored_tokens(queue) == []  # a credential was there: the token is not kept

    async with serve_app(create_app(service.settings()), sock):
        out = await sync("--once", "--queue", str(queue))
        assert "2 pending, 0 dead letter(s), 0 delivered now" in out, out  # kept, not lost
        assert "the delivery credential was refused and erased" in out, out
        assert f"blocked: 2 update(s) of player {XUID}" in out, out
        assert stored_credential(queue) is None
        if next_session == "online":
            async with client_for(url, await service.token(), queue) as second:
                assert await second.flush(timeout=10) == 0
    if next_session == "offline":
        async with client_for(url, await service.token(), queue) as second:
            assert (await second.update_achievement(XUID, "3", 100)).status == "queued"
        assert len(stored_tokens(queue)) == 1  # no credential now: the token is kept
        async with serve_app(create_app(service.settings()), hold(port)):
            out = await sync("--once", "--queue", str(queue))
        assert "0 pending, 0 dead letter(s), 3 delivered now" in out, out
    replaced = stored_credential(queue)
    assert replaced not in (None, refused)
    assert stored_tokens(queue) == []
    assert pending(queue) == {}
    assert set(await unlock_times(service, {XUID})) == {
        (XUID, a) for a in (("1", "2") if next_session == "online" else ("1", "2", "3"))
    }


# -- spec/sdk.md's flow: games killed after "queued", then the network returns ------------

GAMES = 50
PLAYERS = 5
AT_ONCE = 4  # game processes alive at a time (2 cores)
DEADLINE_SECONDS = 90
GAME = game_script("achievement", "client.update_achievement(xuid, achievement, 100)")


def plan() -> list[tuple[str, str]]:
    """(player, achievement) of each game process: ten unlocks for each of five players."""
    return [(game_xuid(n % PLAYERS), str(n // PLAYERS + 1)) for n in range(GAMES)]


async def play_and_die(args: list[str], gate: asyncio.Semaphore, deadline: float) -> str:
    """Run one offline game; SIGKILL it the moment it says what became of its update."""
    return await first_line_then_kill(GAME, args, gate, deadline)


async def killed_games(
    url: str, queue: Path, tokens: dict[str, str], deadline: float
) -> dict[tuple[str, str], float]:
    """Fifty offline games, each SIGKILLed after "queued"; what they left on disk."""
    gate = asyncio.Semaphore(AT_ONCE)
    answers = await asyncio.gather(
        *(play_and_die([url, str(queue), tokens[x], x, a], gate, deadline) for x, a in plan())
    )
    assert answers == ["queued"] * GAMES
    earned = pending(queue)
    assert set(earned) == set(plan())  # every acknowledged unlock is on disk
    return earned


@pytest.mark.slow
async def test_games_killed_offline_then_sync_delivers_all_with_the_time_earned(
    service: ServiceDb, tmp_path: Path
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    sock, queue = free_socket(), tmp_path / "queue.db"
    url = url_of(sock.getsockname()[1])
    tokens = {x: await service.token(x) for x, _ in plan()}
    earned = await killed_games(url, queue, tokens, deadline)
    assert sorted(stored_tokens(queue)) == sorted(tokens.values())  # one a player

    async with serve_app(create_app(service.settings()), sock):  # and no game runs
        out = await sync("--once", "--queue", str(queue))
    assert f"0 pending, 0 dead letter(s), {GAMES} delivered now" in out, out
    assert stored_tokens(queue) == []
    assert_same_times(await unlock_times(service, set(tokens)), earned)


@pytest.mark.slow
async def test_games_killed_offline_then_the_next_sessions_deliver_all_with_the_time_earned(
    service: ServiceDb, tmp_path: Path
) -> None:
    """The games ran with stale tokens: `laurels sync` cannot deliver, and says so;
    each player's next session, with a fresh token, delivers that player's unlocks."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    sock, queue = free_socket(), tmp_path / "queue.db"
    url = url_of(sock.getsockname()[1])
    players = {x for x, _ in plan()}
    stale = {x: await expired_token(service, x) for x in players}
    earned = await killed_games(url, queue, stale, deadline)
    assert stored_tokens(queue) == []
    out = await sync("--status", "--queue", str(queue))
    assert out.count("blocked: 10 update(s) of player") == PLAYERS, out

    async with serve_app(create_app(service.settings()), sock):
        sessions = [client_for(url, await service.token(x), queue) for x in players]
        try:
            left = await asyncio.gather(*(s.flush(timeout=30) for s in sessions))
            state = sessions[0].status()
        finally:
            await asyncio.gather(*(s.close(timeout=0) for s in sessions))
    # A session's flush returns once what it can send is settled: what it still
    # counts is other players' unlocks, which their own sessions deliver.
    per_player = GAMES // PLAYERS
    assert all(0 <= n <= (PLAYERS - 1) * per_player for n in left), left
    assert (state.pending, state.dead_letters, state.blocked) == (0, 0, ())
    assert_same_times(await unlock_times(service, players), earned)
