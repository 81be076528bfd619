"""Every connection to `laurels serve` gets an answer or a close within a bounded
time: oversized heads, heads that never finish (slowloris), idle sockets and
upgrades the websockets parser refuses; and a frame over the limit is closed with
1009. Raw sockets against the real command, with its own uvicorn configuration."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from laurels.db import Database
from tests.helpers import ServeProcess, start_serve, token_for
from tests.helpers.rta import SUBPROTOCOL, notify_uri, ws_url

pytestmark = pytest.mark.slow
HEAD_TIMEOUT = 1.0
# How long past the head timeout an answer may take on a busy machine.
SLACK = 4.0


@pytest.fixture(scope="module")
def served_database(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("handshake") / "laurels.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def served(served_database: str) -> Iterator[ServeProcess]:
    """One `laurels serve` for the module (no test here writes to its database)."""
    env = {"LAURELS_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT)}
    process = start_serve(served_database, extra_env=env)
    try:
        yield process
    finally:
        process.stop()


def _upgrade_head(*extra: str) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /connect HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}",
        *extra,
    ]
    return "".join(f"{line}\r\n" for line in lines)


async def _exchange(
    served: ServeProcess, payload: bytes, *, trickle: bool = False, within: float = SLACK
) -> tuple[bytes, float]:
    """Send `payload` (and, with `trickle`, one more header byte every 0.1 s, so the
    head never ends); return what the service sent until it closed, and how long
    that took. Fails when it neither answers nor closes within `within` seconds."""
    host, port = served.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    writer.write(payload)
    received = b""
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 0.1)
                except TimeoutError:
                    if trickle:
                        writer.write(b"x")
                    continue
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
    finally:
        writer.close()
    return received, time.monotonic() - started


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        # A header line over 8 KiB: the websockets parser refused it and nobody answered.
        (_upgrade_head("X-Big: " + "a" * 9_000) + "\r\n", 431),
        (_upgrade_head(*(f"X-{n}: v" for n in range(200))) + "\r\n", 431),
        # Upgrades the websockets parser cannot read: also unanswered before.
        (_upgrade_head("Transfer-Encoding: chunked") + "\r\n0\r\n\r\n", 400),
        (_upgrade_head("Content-Length: 5") + "\r\nhello", 400),
        # A head over LAURELS_MAX_HEADER_BYTES (16 KiB): httptools read any size.
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 20_000 + "\r\n\r\n", 431),
        (_upgrade_head(*(f"X-{n}: {'v' * 7_000}" for n in range(3))) + "\r\n", 431),
        # Bad upgrades uvicorn and websockets already answered.
        (_upgrade_head().replace("Sec-WebSocket-Key", "X-Key") + "\r\n", 400),
        (_upgrade_head().replace("Version: 13", "Version: 8") + "\r\n", 400),
        (_upgrade_head().replace("GET", "POST") + "\r\n", 405),
    ],
)
async def test_a_bad_handshake_is_answered_and_closed(
    served: ServeProcess, payload: str, status: int
) -> None:
    answer, took = await _exchange(served, payload.encode())
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:100]
    assert took < SLACK


async def test_a_head_that_never_ends_gets_408_within_the_header_timeout(
    served: ServeProcess,
) -> None:
    partial = _upgrade_head().encode() + b"X-Slow: "
    answer, took = await _exchange(served, partial, trickle=True, within=HEAD_TIMEOUT + SLACK)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert HEAD_TIMEOUT * 0.9 <= took < HEAD_TIMEOUT + SLACK


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    served: ServeProcess,
) -> None:
    answer, took = await _exchange(served, b"", within=HEAD_TIMEOUT + SLACK)
    assert answer == b""
    assert HEAD_TIMEOUT * 0.9 <= took < HEAD_TIMEOUT + SLACK


def _descriptors(served: ServeProcess) -> int:
    return len(os.listdir(f"/proc/{served.process.pid}/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
async def test_twenty_bad_handshakes_hold_no_descriptor(served: ServeProcess) -> None:
    """20 oversized upgrades and 20 slowloris heads at once: every one is answered,
    and the service holds none of their sockets afterwards (it held 20 for 90 s)."""
    before = _descriptors(served)
    oversized = (_upgrade_head("X-Big: " + "a" * 9_000) + "\r\n").encode()
    slow = _upgrade_head().encode() + b"X-Slow: "
    answers = await asyncio.gather(
        *(_exchange(served, oversized, within=HEAD_TIMEOUT + SLACK) for _ in range(20)),
        *(_exchange(served, slow, trickle=True, within=HEAD_TIMEOUT + SLACK) for _ in range(20)),
    )
    assert [a[:12] for a, _ in answers] == [b"HTTP/1.1 431"] * 20 + [b"HTTP/1.1 408"] * 20
    async with asyncio.timeout(SLACK):  # the service closes its side as it answers
        while True:
            if _descriptors(served) <= before:
                break
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (json.dumps([1, 1, "x" * 1_000_000]), 1009),  # over uvicorn's ws_max_size
        ("[" * 100_000 + "]" * 100_000, 1009),
        ("[" * 5_000 + "]" * 5_000, 1003),
        (json.dumps([1, 1, notify_uri(), {"since": "100000000000000000000.1"}]), 1003),
    ],
)
async def test_laurels_serve_closes_a_bad_frame_with_its_code_and_logs_no_traceback(
    served: ServeProcess, served_database: str, frame: str, code: int
) -> None:
    db = Database(served_database, pool_size=1)
    try:
        token = await token_for(db)
    finally:
        await db.dispose()
    async with connect(
        ws_url(served.url),
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {token}"},
        max_size=None,
        open_timeout=10,
    ) as ws:
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert "Traceback" not in served.output()
