"""The SDK against the real service on 127.0.0.1: online answers; an update made
offline reaches the service later with the time the player earned it; `laurels sync`
delivers with the stored delivery credential after the game closed; dead letters;
and a connection cut after the service answered is redelivered as a harmless 304.

SDK behaviour, so the service runs on a SQLite file of the test's own, in the
test's event loop. A test that starts offline holds the service's port from the
start: bound but not listening (connections are refused), so no other process on
the machine can take it before the service starts there."""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from laurels.app import create_app
from laurels.sdk import NOT_MODIFIED, OfflineQueue
from laurels.wire.times import parse_time
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    eventually,
    free_socket,
    laurels,
    running_service,
    serve_app,
)
from tests.helpers.queue import enqueue
from tests.helpers.queue import pending_rows as queued
from tests.helpers.sdk import SANDBOX, ServiceDb, client_for, save_credentials, url_of

EARLIER = 600.0  # the player earned it 10 minutes before the delivery


def on_disk(queue: Path) -> bytes:
    """The queue file with its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in queue.parent.glob(queue.name + "*"))


async def wait_for_credential(queue: Path, url: str, xuid: str, seconds: float = 5.0) -> str:
    """The client fetches the credential in the background after an online success."""
    store = OfflineQueue(queue)
    try:
        return await eventually(
            lambda: store.credential(service=url, sandbox=SANDBOX, title_id=TITLE_ID, xuid=xuid),
            seconds,
            what="a delivery credential stored",
        )
    finally:
        store.close()


# -- online ---------------------------------------------------------------------


async def test_online_updated_then_not_modified_and_unknown_id_rejected_not_queued(
    service: ServiceDb, tmp_path: Path
) -> None:
    queue = tmp_path / "queue.db"
    async with (
        running_service(service.settings()) as url,
        client_for(url, await service.token(), queue) as client,
    ):
        first = await client.update_achievement(XUID, "1", 100)
        again = await client.update_achievement(XUID, "1", 100)
        unknown = await client.update_achievement(XUID, "no-such-achievement", 100)
        status = client.status()
    assert (first.status, first.hresult, first.http_status) == ("updated", 0, 200)
    assert (again.status, again.hresult, again.http_status) == ("not_modified", 0x80190130, 304)
    assert again.hresult == NOT_MODIFIED
    assert (unknown.status, unknown.hresult, unknown.http_status) == ("rejected", 0x80190194, 404)
    assert (status.pending, status.dead_letters) == (0, 0)
    assert queued(queue) == []
    assert await service.percent("1") == 100


# -- offline, then online ----------------------------------------------------------


async def test_offline_update_is_on_disk_then_delivered_with_the_time_it_was_earned(
    service: ServiceDb, tmp_path: Path
) -> None:
    sock, queue = free_socket(), tmp_path / "queue.db"

    def earlier() -> float:
        return time.time() - EARLIER

    async with client_for(url_of(sock), await service.token(), queue, clock=earlier) as client:
        before = earlier()
        result = await client.update_achievement(XUID, "1", 100)
        after = earlier()
        assert (result.status, result.hresult) == ("queued", 0)
        assert client.status().pending == 1
        [(xuid, achievement_id, percent, reached)] = queued(queue)
        assert (xuid, achievement_id, percent) == (XUID, "1", 100)
        assert before <= reached <= after

        async with serve_app(create_app(service.settings()), sock):
            assert await client.flush(timeout=10) == 0
            delivered = await client.get_achievement(XUID, "1")
    assert delivered.unlocked
    unlocked = parse_time(delivered.time_unlocked).timestamp()
    assert unlocked == pytest.approx(reached, abs=1e-5)  # when the player reached 100
    assert time.time() - unlocked > EARLIER - 10  # not when it was delivered
    assert queued(queue) == []


async def test_sync_once_delivers_with_the_stored_credential_after_the_game_closed(
    service: ServiceDb, tmp_path: Path
) -> None:
    sock, queue = free_socket(), tmp_path / "queue.db"
    url, port = url_of(sock), sock.getsockname()[1]
    token = await service.token()
    client = client_for(url, token, queue)
    try:
        async with serve_app(create_app(service.settings()), sock):
            assert (await client.update_achievement(XUID, "1", 50)).status == "updated"
            credential = await wait_for_credential(queue, url, XUID)
        sock = free_socket(port)  # the service is down
        assert (await client.update_achievement(XUID, "1", 100)).status == "queued"
    finally:
        await client.close(timeout=0.5)
    assert credential != token
    assert token.encode() not in on_disk(queue)  # the session token never reaches the file

    async with serve_app(create_app(service.settings()), sock):  # no game runs now
        done = await asyncio.to_thread(laurels, None, "sync", "--once", "--queue", str(queue))
    assert done.returncode == 0, done.stderr
    assert "0 pending, 0 dead letter(s), 1 delivered now" in done.stdout, done.stdout
    assert await service.percent("1") == 100


# -- dead letters --------------------------------------------------------------------


async def test_a_rejected_queued_update_is_a_dead_letter_shown_by_status_and_sync(
    service: ServiceDb, tmp_path: Path
) -> None:
    sock, queue = free_socket(), tmp_path / "queue.db"
    async with client_for(url_of(sock), await service.token(), queue) as client:
        assert (await client.update_achievement(XUID, "no-such", 100)).status == "queued"
        async with serve_app(create_app(service.settings()), sock):
            assert await client.flush(timeout=10) == 0
        status = client.status()
    assert (status.pending, status.dead_letters) == (0, 1)
    [reason] = status.last_reasons
    assert "no-such" in reason, reason
    assert "HTTP 404" in reason, reason

    done = await asyncio.to_thread(laurels, None, "sync", "--status", "--queue", str(queue))
    assert done.returncode == 0, done.stderr
    assert "0 pending, 1 dead letter(s)" in done.stdout, done.stdout
    assert f"dead letter: {reason}" in done.stdout, done.stdout


# -- one player's token, another player's queued update --------------------------------


async def test_a_client_never_delivers_another_players_update_with_its_own_token(
    service: ServiceDb, tmp_path: Path
) -> None:
    """Two local players share the (default) queue file: the client of player A
    delivers B's queued update with B's stored credential, never with A's token
    (the service would answer 403 and the update would become a dead letter)."""
    queue = tmp_path / "queue.db"
    async with running_service(service.settings()) as url:
        store = OfflineQueue(queue)
        enqueue(store, url, "2", 100, xuid=OTHER_XUID)
        # A player token stands in for B's delivery credential: the update route
        # accepts it, and the credential endpoint may not exist yet.
        save_credentials(store, url, {OTHER_XUID: await service.token(OTHER_XUID)})
        store.close()
        async with client_for(url, await service.token(XUID), queue) as client:
            assert (await client.update_achievement(XUID, "1", 100)).status == "updated"
            assert await client.flush(timeout=5) == 0
            status = client.status()
    assert status.dead_letters == 0, status.last_reasons
    assert await service.percent("2", xuid=OTHER_XUID) == 100


# -- the answer is lost on the way back ------------------------------------------------

REQUEST_LINE = re.compile(rb"(?:GET|POST|PUT|DELETE) (\S+) HTTP/1\.1\r\n")
STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")


@dataclass
class CuttingProxy:
    """A TCP proxy to the service. Once, it forwards an update request, reads the
    service's answer and closes the connection to the client instead of passing the
    answer on; otherwise it forwards both ways. Records (path, status) of every
    answer the service gave."""

    target_port: int
    cut_next_update: bool = True
    answers: list[tuple[str, int]] = field(default_factory=list)
    cut: list[tuple[str, int]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]
        paths: deque[str] = deque()
        cutting = False

        async def to_service() -> None:
            nonlocal cutting
            while data := await reader.read(65536):
                for match in REQUEST_LINE.finditer(data):
                    paths.append(match.group(1).decode())
                    if self.cut_next_update and paths[-1].endswith("/update"):
                        cutting, self.cut_next_update = True, False
                up_writer.write(data)
                await up_writer.drain()

        async def to_client() -> None:
            while data := await up_reader.read(65536):
                answers = [(paths.popleft(), int(m.group(1))) for m in STATUS_LINE.finditer(data)]
                self.answers += answers
                if cutting:
                    self.cut += answers
                    return  # the client never sees this answer
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.create_task(to_service()), asyncio.create_task(to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.close()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


async def test_an_answer_lost_after_the_service_applied_it_is_redelivered_as_a_304(
    service: ServiceDb, tmp_path: Path
) -> None:
    queue = tmp_path / "queue.db"
    async with running_service(service.settings()) as target:
        proxy = CuttingProxy(int(target.rsplit(":", 1)[1]))
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with client_for(url, await service.token(), queue) as client:
                result = await client.update_achievement(XUID, "1", 100)
                assert result.status == "queued", result  # a network error, to the SDK
                update_path = f"/users/xuid({XUID})/achievements/{SCID}/update"
                assert proxy.cut == [(update_path, 200)]  # yet the service applied it
                assert await service.percent("1") == 100
                assert await client.flush(timeout=10) == 0
                status = client.status()
        finally:
            proxy.close()
            server.close()
            await server.wait_closed()
    assert (status.pending, status.dead_letters) == (0, 0)
    # (the session token kept with the queued update was exchanged for a credential)
    assert [a for a in proxy.answers if a[0] == update_path] == [
        (update_path, 200),
        (update_path, 304),
    ]
    assert await service.unlocks("1") == 1
    assert await service.percent("1") == 100
    assert queued(queue) == []
