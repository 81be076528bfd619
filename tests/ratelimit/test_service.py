"""Rate limiters: in memory with an injected clock, in a real Redis (shared by two
processes), and failing open when Redis is down or silent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from laurels.errors import ConfigurationError, RateInfo, RateLimited
from laurels.ratelimit.policy import Bucket, Limits, Window, limits_from_settings
from laurels.ratelimit.service import (
    EXPIRY_MARGIN_SECONDS,
    WARNING_INTERVAL_SECONDS,
    MemoryRateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from laurels.settings import Settings
from laurels.wire.principal import Principal
from tests.helpers import eventually_sync

REDIS_URL = "redis://127.0.0.1:6379/0"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
PLAYER = Principal("player", "2533274790395904", 1234, "DEV.1", 0.0)
SERVER = Principal("server", None, 1234, "DEV.1", 0.0)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def allowed(limiter: MemoryRateLimiter | RedisRateLimiter, caller: Principal) -> bool:
    try:
        await limiter.check(caller)
    except RateLimited:
        return False
    return True


async def refusal(limiter: MemoryRateLimiter | RedisRateLimiter, caller: Principal) -> RateInfo:
    with pytest.raises(RateLimited) as caught:
        await limiter.check(caller)
    return caught.value.info


# -- in memory ---------------------------------------------------------------------------


def limits(*windows: Window) -> Limits:
    return Limits(player=windows, server=windows)


def bucket(key: str, *windows: Window) -> Bucket:
    return Bucket(key, windows)


def count_allowed(limiter: MemoryRateLimiter, key: Bucket) -> bool:
    try:
        limiter.count(key)
    except RateLimited:
        return False
    return True


def count_refusal(limiter: MemoryRateLimiter, key: Bucket) -> RateInfo:
    with pytest.raises(RateLimited) as caught:
        limiter.count(key)
    return caught.value.info


async def test_memory_default_limits_refuse_the_101st_request_in_15_s() -> None:
    clock = FakeClock(1_500_000_000.0)
    limiter = MemoryRateLimiter(limits_from_settings(Settings()), clock=clock)
    for _ in range(100):
        await limiter.check(PLAYER)
    clock.now += 3.5
    assert await refusal(limiter, PLAYER) == RateInfo(101, 100, 15, 12)


def test_memory_burst_refused_then_allowed_after_the_window_rolls() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(limits(Window(3, 10)), clock=clock)
    k = bucket("k", Window(3, 10))
    assert [count_allowed(limiter, k) for _ in range(5)] == [True, True, True, False, False]
    clock.now = 1009.9
    assert count_refusal(limiter, k) == RateInfo(6, 3, 10, 1)  # refused ones counted
    clock.now = 1010.0
    assert count_allowed(limiter, k)


def test_memory_sustained_window_outlives_the_burst_window() -> None:
    clock = FakeClock(3000.0)
    windows = (Window(2, 10), Window(3, 300))
    limiter = MemoryRateLimiter(limits(*windows), clock=clock)
    k = bucket("k", *windows)
    assert [count_allowed(limiter, k) for _ in range(2)] == [True, True]
    clock.now = 3010.0
    assert count_allowed(limiter, k)
    assert count_refusal(limiter, k) == RateInfo(4, 3, 300, 290)


def test_memory_windows_of_one_length_count_each_request_once() -> None:
    windows = (Window(2, 60), Window(5, 60))
    limiter = MemoryRateLimiter(limits(*windows), clock=FakeClock(60.0))
    k = bucket("k", *windows)
    assert [count_allowed(limiter, k) for _ in range(2)] == [True, True]
    assert count_refusal(limiter, k) == RateInfo(3, 2, 60, 60)


def test_memory_keys_are_independent() -> None:
    limiter = MemoryRateLimiter(limits(Window(2, 60)), clock=FakeClock(60.0))
    a, b = bucket("a", Window(2, 60)), bucket("b", Window(2, 60))
    assert [count_allowed(limiter, a) for _ in range(3)] == [True, True, False]
    assert [count_allowed(limiter, b) for _ in range(3)] == [True, True, False]


def test_memory_a_million_keys_at_one_instant_stay_within_the_cap() -> None:
    window = Window(1, 60)
    limiter = MemoryRateLimiter(limits(window), clock=FakeClock(60.0), max_keys=1000)
    for n in range(1_000_000):
        limiter.count(Bucket(f"made-up:{n}", (window,)))
    assert limiter.key_count == 1000


def test_memory_new_callers_over_time_keep_only_the_live_ones() -> None:
    clock = FakeClock(0.0)
    window = Window(1, 60)
    limiter = MemoryRateLimiter(limits(window), clock=clock, max_keys=10**9)
    sizes = []
    for n in range(300_000):
        clock.now = n / 1000  # a thousand new callers a second, for 300 s
        limiter.count(Bucket(f"caller:{n}", (window,)))
        if n % 1000 == 999:
            sizes.append(limiter.key_count)
    assert max(sizes) <= 60 * 1000  # never more than one window's worth of callers
    assert sizes[-1] == 1000 * (299 % 60 + 1)  # the callers of the current window
    clock.now = 2000.0
    limiter.count(Bucket("late", (window,)))
    assert limiter.key_count == 1


def test_memory_cap_drops_the_least_recently_counted_and_keeps_busy_callers() -> None:
    window = Window(3, 60)
    limiter = MemoryRateLimiter(limits(window), clock=FakeClock(60.0), max_keys=10)
    busy = bucket("busy", window)
    assert [count_allowed(limiter, busy) for _ in range(3)] == [True] * 3
    for n in range(1000):
        limiter.count(bucket(f"made-up:{n}", window))
        if n % 5 == 0:  # the busy caller keeps coming back
            assert not count_allowed(limiter, busy)
    assert limiter.key_count == 10
    assert count_refusal(limiter, busy).current_requests == 3 + 200 + 1


def test_memory_idle_buckets_go_but_live_counts_stay() -> None:
    clock = FakeClock(3000.0)
    windows = (Window(1, 15), Window(2, 300))
    limiter = MemoryRateLimiter(limits(*windows), clock=clock)
    k = bucket("k", *windows)
    limiter.count(k)
    for n in range(100):
        limiter.count(bucket(f"other{n}", *windows))
    clock.now = 3020.0  # the burst window ended, the sustained one did not
    limiter.count(k)
    assert limiter.key_count == 101
    clock.now = 3040.0
    assert count_refusal(limiter, k) == RateInfo(3, 2, 300, 260)
    clock.now = 3300.0  # every window of every bucket ended
    limiter.count(bucket("later", *windows))
    assert limiter.key_count == 1


async def test_memory_counts_each_caller_in_its_own_bucket() -> None:
    limiter = MemoryRateLimiter(
        Limits(player=(Window(1, 60),), server=(Window(2, 60),)), clock=FakeClock(60.0)
    )
    assert [await allowed(limiter, SERVER) for _ in range(3)] == [True, True, False]
    assert [await allowed(limiter, PLAYER) for _ in range(2)] == [True, False]
    other = Principal("player", "2533274790395905", 1234, "DEV.1", 0.0)
    assert await allowed(limiter, other)


def test_memory_refuses_an_empty_table() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        MemoryRateLimiter(limits(Window(1, 1)), max_keys=0)


async def test_memory_close_forgets_counters() -> None:
    limiter = MemoryRateLimiter(limits(Window(1, 60)), clock=FakeClock(0.0))
    await limiter.check(PLAYER)
    await limiter.close()
    assert limiter.key_count == 0


# -- building ----------------------------------------------------------------------------


async def test_build_without_redis_url_is_in_memory() -> None:
    limiter = build_rate_limiter(Settings())
    assert isinstance(limiter, MemoryRateLimiter)
    await limiter.close()


async def test_build_with_redis_url_is_redis_and_uses_the_settings() -> None:
    limiter = build_rate_limiter(Settings(redis_url=REDIS_URL, rate_burst_requests=7))
    assert isinstance(limiter, RedisRateLimiter)
    await limiter.close()


def test_build_with_a_malformed_redis_url_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="LAURELS_REDIS_URL"):
        build_rate_limiter(Settings(redis_url="http://not-redis"))


# -- a real Redis ------------------------------------------------------------------------


def sync_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture
def redis_url() -> str:
    """The local Redis; skipped where Redis is not installed, an error where it is down."""
    client = sync_client(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if shutil.which("redis-server") is None:
            pytest.skip("Redis is not installed on this machine")
        pytest.fail(f"Redis is installed but not running ({exc}); start it with: {START_REDIS}")
    finally:
        client.close()
    return REDIS_URL


def delete_keys(url: str, prefix: str) -> None:
    client = sync_client(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"laurels-test:{uuid.uuid4().hex}:"
    yield prefix
    delete_keys(redis_url, prefix)


async def test_redis_limit_is_exact_and_rolls_with_the_window(redis_url: str, prefix: str) -> None:
    clock = FakeClock(7200.0)
    window = Window(5, 3600)
    limiter = RedisRateLimiter(redis_url, limits(window), clock=clock, prefix=prefix)
    try:
        assert [await allowed(limiter, PLAYER) for _ in range(6)] == [True] * 5 + [False]
        clock.now = 7200.0 + 3599.5
        assert await refusal(limiter, PLAYER) == RateInfo(7, 5, 3600, 1)
        clock.now = 7200.0 + 3600
        assert await allowed(limiter, PLAYER)
    finally:
        await limiter.close()


async def test_redis_keys_are_the_callers_buckets_and_expire(redis_url: str, prefix: str) -> None:
    clock = FakeClock(7200.0)
    windows = (Window(1, 15), Window(2, 300))
    limiter = RedisRateLimiter(redis_url, limits(*windows), clock=clock, prefix=prefix)
    try:
        assert [await allowed(limiter, PLAYER) for _ in range(2)] == [True, False]
        assert [await allowed(limiter, SERVER) for _ in range(2)] == [True, False]
        keys = [
            limiter.redis_key("player:1234:2533274790395904:DEV.1", window, clock.now)
            for window in windows
        ]
    finally:
        await limiter.close()
    client = sync_client(redis_url)
    try:
        assert [int(client.get(key) or 0) for key in keys] == [2, 2]
        assert int(client.get(f"{prefix}{{server:1234:DEV.1}}:15:480") or 0) == 2
        for key, window in zip(keys, windows, strict=True):
            ttl = client.ttl(key)
            assert window.seconds < ttl <= window.seconds + EXPIRY_MARGIN_SECONDS
    finally:
        client.close()


async def test_redis_windows_of_one_length_count_each_request_once(
    redis_url: str, prefix: str
) -> None:
    windows = (Window(2, 60), Window(5, 60))
    limiter = RedisRateLimiter(redis_url, limits(*windows), clock=FakeClock(60.0), prefix=prefix)
    try:
        assert [await allowed(limiter, PLAYER) for _ in range(2)] == [True, True]
        assert await refusal(limiter, PLAYER) == RateInfo(3, 2, 60, 60)
    finally:
        await limiter.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from laurels.errors import RateLimited
    from laurels.ratelimit.policy import Bucket, Limits, Window
    from laurels.ratelimit.service import RedisRateLimiter

    async def main(url: str, prefix: str, ready: str, go: str) -> None:
        windows = (Window(100, 3600),)
        limiter = RedisRateLimiter(
            url, Limits(windows, windows), clock=lambda: 7200.0, prefix=prefix, timeout=5.0
        )
        await limiter._redis.ping()  # connected before the race starts
        Path(ready).touch()
        deadline = time.monotonic() + 20
        while not Path(go).exists():
            if time.monotonic() > deadline:
                sys.exit("never told to go")
            await asyncio.sleep(0.002)
        allowed = 0
        for _ in range(80):
            try:
                await limiter.count(Bucket("player:title", windows))
                allowed += 1
            except RateLimited:
                pass
        shared = limiter.shared
        await limiter.close()
        print(allowed if shared else "fell back")

    asyncio.run(main(*sys.argv[1:]))
    """
)


def wait_for_files(paths: list[Path], seconds: float) -> None:
    eventually_sync(
        lambda: all(path.exists() for path in paths), seconds, what=f"children ready: {paths}"
    )


@pytest.mark.slow
def test_redis_limit_is_shared_by_two_processes(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{n}" for n in range(2)]
    args = [[sys.executable, "-c", CHILD, redis_url, prefix, str(r), str(go)] for r in ready]
    children = [subprocess.Popen(a, stdout=subprocess.PIPE, text=True) for a in args]
    try:
        wait_for_files(ready, 30)
        go.touch()
        outputs = [child.communicate(timeout=30)[0] for child in children]
    finally:
        for child in children:
            child.kill()
            child.wait(timeout=10)
            if child.stdout is not None:
                child.stdout.close()
    assert [child.returncode for child in children] == [0, 0]
    assert sum(int(out) for out in outputs) == 100
    client = sync_client(redis_url)
    try:
        key = f"{prefix}{{player:title}}:3600:2"
        assert int(client.get(key) or 0) == 160  # refused requests count too
    finally:
        client.close()


# -- Redis down: per-process limits, then shared again -----------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def limiter_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "laurels.ratelimit.service"]


@pytest.mark.parametrize("down", ["refused", "silent"])
async def test_redis_down_falls_back_to_the_process_limits_promptly_and_warns_once(
    down: str, silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port() if down == "refused" else silent_server
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", limits(Window(2, 3600)), timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="laurels.ratelimit.service"):
        try:
            started = time.monotonic()
            assert await allowed(limiter, PLAYER)  # Redis tried: at most 3 x 0.2 s
            assert time.monotonic() - started < 2
            assert not limiter.shared
            started = time.monotonic()
            assert await allowed(limiter, PLAYER)  # not tried again before 5 s
            assert await refusal(limiter, PLAYER) == RateInfo(3, 2, 3600, ANY_RETRY)
            assert await allowed(limiter, SERVER)  # the buckets are still the callers'
            assert time.monotonic() - started < 0.1
        finally:
            await limiter.close()
    messages = limiter_messages(caplog)
    assert len(messages) == 1
    assert "counted in this process only" in messages[0]


async def test_redis_down_is_probed_by_one_request_while_the_others_go_on(
    silent_server: int,
) -> None:
    tick = FakeClock(0.0)
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{silent_server}/0",
        limits(Window(1000, 3600)),
        timeout=0.2,
        monotonic=tick,
    )

    async def timed_check() -> float:
        started = time.monotonic()
        await limiter.check(PLAYER)
        return time.monotonic() - started

    try:
        assert await timed_check() >= 0.15  # the first request finds Redis silent
        tick.now = 5.0  # time to try Redis again
        durations = await asyncio.gather(*(timed_check() for _ in range(20)))
    finally:
        await limiter.close()
    assert len([d for d in durations if d >= 0.15]) == 1
    assert not limiter.shared


class AnyRetry(int):
    """Equal to any Retry-After (it depends on the wall clock)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and other >= 1

    def __hash__(self) -> int:
        return 0


ANY_RETRY = AnyRetry(1)


async def test_redis_down_for_long_is_reported_again_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tick = FakeClock(100.0)
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{closed_port()}/0",
        limits(Window(1000, 3600)),
        timeout=0.2,
        monotonic=tick,
    )
    with caplog.at_level(logging.WARNING, logger="laurels.ratelimit.service"):
        try:
            for second in range(0, 130, 5):  # Redis retried every 5 s for two minutes
                tick.now = 100.0 + second
                await limiter.check(PLAYER)
        finally:
            await limiter.close()
    messages = limiter_messages(caplog)
    assert len(messages) == 3
    assert "down for 60 s" in messages[1]
    assert "down for 120 s" in messages[2]
    assert WARNING_INTERVAL_SECONDS == 60.0


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def redis_on(port: int, redis_url: str) -> AsyncIterator[None]:
    """The real Redis, reachable on `port` too (a TCP relay) while the block runs."""
    target = urlsplit(redis_url)
    writers: list[asyncio.StreamWriter] = []
    relays: list[asyncio.Task[None]] = []

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        writers.extend((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        relays.append(asyncio.create_task(relay(reader, writer)))

    server = await asyncio.start_server(start, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await asyncio.wait_for(asyncio.gather(*relays, return_exceptions=True), 5)
        await server.wait_closed()


async def test_redis_that_comes_back_is_shared_again(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    tick = FakeClock(0.0)
    clock = FakeClock(7200.0)
    port = closed_port()
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{port}/0",
        limits(Window(3, 3600)),
        clock=clock,
        prefix=prefix,
        timeout=0.5,
        monotonic=tick,
    )
    key = f"{prefix}{{player:1234:2533274790395904:DEV.1}}:3600:2"
    with caplog.at_level(logging.WARNING, logger="laurels.ratelimit.service"):
        try:
            assert [await allowed(limiter, PLAYER) for _ in range(2)] == [True, True]
            assert not limiter.shared
            async with redis_on(port, redis_url):
                tick.now = 4.9  # not retried yet: still the process's count
                assert await allowed(limiter, PLAYER)
                assert not limiter.shared
                tick.now = 5.0
                assert [await allowed(limiter, PLAYER) for _ in range(4)] == [True] * 3 + [False]
                assert limiter.shared
                await limiter.close()
        finally:
            await limiter.close()
    client = sync_client(redis_url)
    try:
        assert int(client.get(key) or 0) == 4  # counted in the shared counters
    finally:
        client.close()
    messages = limiter_messages(caplog)
    assert len(messages) == 2
    assert "shared again" in messages[1]
