"""Rate limiters: in memory with an injected clock, in a real Redis (shared by two
processes), and failing open when Redis is down or silent."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from laurels.errors import ConfigurationError, RateInfo, RateLimited
from laurels.ratelimit.policy import Window
from laurels.ratelimit.service import (
    EXPIRY_MARGIN_SECONDS,
    MemoryRateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from laurels.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def allowed(limiter: MemoryRateLimiter | RedisRateLimiter, key: str) -> bool:
    try:
        await limiter.check(key)
    except RateLimited:
        return False
    return True


async def refusal(limiter: MemoryRateLimiter | RedisRateLimiter, key: str) -> RateInfo:
    with pytest.raises(RateLimited) as caught:
        await limiter.check(key)
    return caught.value.info


# -- in memory ---------------------------------------------------------------------------


async def test_memory_default_limits_refuse_the_101st_request_in_15_s() -> None:
    clock = FakeClock(1_500_000_000.0)
    limiter = MemoryRateLimiter((Window(100, 15), Window(300, 300)), clock=clock)
    for _ in range(100):
        await limiter.check("u1:t1")
    clock.now += 3.5
    assert await refusal(limiter, "u1:t1") == RateInfo(101, 100, 15, 12)


async def test_memory_burst_refused_then_allowed_after_the_window_rolls() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter((Window(3, 10),), clock=clock)
    assert [await allowed(limiter, "k") for _ in range(5)] == [True, True, True, False, False]
    clock.now = 1009.9
    assert await refusal(limiter, "k") == RateInfo(6, 3, 10, 1)  # refused ones counted
    clock.now = 1010.0
    assert await allowed(limiter, "k")


async def test_memory_sustained_window_outlives_the_burst_window() -> None:
    clock = FakeClock(3000.0)
    limiter = MemoryRateLimiter((Window(2, 10), Window(3, 300)), clock=clock)
    assert [await allowed(limiter, "k") for _ in range(2)] == [True, True]
    clock.now = 3010.0
    assert await allowed(limiter, "k")
    assert await refusal(limiter, "k") == RateInfo(4, 3, 300, 290)


async def test_memory_keys_are_independent() -> None:
    limiter = MemoryRateLimiter((Window(2, 60),), clock=FakeClock(60.0))
    assert [await allowed(limiter, "a") for _ in range(3)] == [True, True, False]
    assert [await allowed(limiter, "b") for _ in range(3)] == [True, True, False]


async def test_memory_sweep_drops_counters_of_ended_windows() -> None:
    clock = FakeClock(3000.0)  # both windows begin here
    limiter = MemoryRateLimiter((Window(100, 15), Window(300, 300)), clock=clock)
    for n in range(1000):
        await limiter.check(f"user{n}")
    assert limiter.counter_count == 2000
    clock.now = 3020.0  # the burst windows ended, the sustained ones did not
    await limiter.check("late")
    assert limiter.counter_count == 1000 + 2
    clock.now = 3400.0  # every window ended
    await limiter.check("later")
    assert limiter.counter_count == 2


async def test_memory_sweep_keeps_live_counts() -> None:
    clock = FakeClock(3000.0)
    limiter = MemoryRateLimiter((Window(1, 15), Window(2, 300)), clock=clock)
    await limiter.check("k")
    clock.now = 3020.0  # a sweep happens here; the sustained count of "k" must survive
    await limiter.check("k")
    clock.now = 3040.0
    assert await refusal(limiter, "k") == RateInfo(3, 2, 300, 260)


async def test_memory_close_forgets_counters() -> None:
    limiter = MemoryRateLimiter((Window(1, 60),), clock=FakeClock(0.0))
    await limiter.check("k")
    await limiter.close()
    assert limiter.counter_count == 0


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


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"laurels-test:{uuid.uuid4().hex}:"
    yield prefix
    client = sync_client(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def test_redis_limit_is_exact_and_rolls_with_the_window(redis_url: str, prefix: str) -> None:
    clock = FakeClock(7200.0)
    window = Window(5, 3600)
    limiter = RedisRateLimiter(redis_url, (window,), clock=clock, prefix=prefix)
    try:
        assert [await allowed(limiter, "u:t") for _ in range(6)] == [True] * 5 + [False]
        clock.now = 7200.0 + 3599.5
        assert await refusal(limiter, "u:t") == RateInfo(7, 5, 3600, 1)
        clock.now = 7200.0 + 3600
        assert await allowed(limiter, "u:t")
    finally:
        await limiter.close()


async def test_redis_keys_are_independent_and_expire(redis_url: str, prefix: str) -> None:
    clock = FakeClock(7200.0)
    windows = (Window(1, 15), Window(2, 300))
    limiter = RedisRateLimiter(redis_url, windows, clock=clock, prefix=prefix)
    try:
        assert [await allowed(limiter, "a") for _ in range(2)] == [True, False]
        assert [await allowed(limiter, "b") for _ in range(2)] == [True, False]
        keys = [limiter.redis_key("a", window, clock.now) for window in windows]
    finally:
        await limiter.close()
    client = sync_client(redis_url)
    try:
        assert [int(client.get(key) or 0) for key in keys] == [2, 2]
        for key, window in zip(keys, windows, strict=True):
            ttl = client.ttl(key)
            assert window.seconds < ttl <= window.seconds + EXPIRY_MARGIN_SECONDS
    finally:
        client.close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from laurels.errors import RateLimited
    from laurels.ratelimit.policy import Window
    from laurels.ratelimit.service import RedisRateLimiter

    async def main(url: str, prefix: str, ready: str, go: str) -> None:
        limiter = RedisRateLimiter(
            url, (Window(100, 3600),), clock=lambda: 7200.0, prefix=prefix, timeout=5.0
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
                await limiter.check("player:title")
                allowed += 1
            except RateLimited:
                pass
        await limiter.close()
        print(allowed)

    asyncio.run(main(*sys.argv[1:]))
    """
)


def wait_for_files(paths: list[Path], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not all(path.exists() for path in paths):
        if time.monotonic() > deadline:
            pytest.fail(f"children never got ready: {paths}")
        time.sleep(0.01)


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


# -- Redis down: fail open ---------------------------------------------------------------


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


@pytest.mark.parametrize("down", ["refused", "silent"])
async def test_redis_down_fails_open_promptly_and_warns_once(
    down: str, silent_server: int, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port() if down == "refused" else silent_server
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", (Window(1, 3600),), timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="laurels.ratelimit.service"):
        try:
            for _ in range(2):
                started = time.monotonic()
                assert await allowed(limiter, "k")
                assert time.monotonic() - started < 2
        finally:
            await limiter.close()
    warnings = [r for r in caplog.records if r.name == "laurels.ratelimit.service"]
    assert len(warnings) == 1
    assert "allowing requests" in warnings[0].getMessage()


async def test_redis_down_warns_again_after_ten_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{closed_port()}/0", (Window(1, 3600),), timeout=0.2
    )
    with caplog.at_level(logging.WARNING, logger="laurels.ratelimit.service"):
        try:
            for _ in range(3):
                await limiter.check("k")
            limiter._warned_at -= 10.0  # as if ten seconds had passed
            await limiter.check("k")
        finally:
            await limiter.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "laurels.ratelimit.service"]
    assert len(messages) == 2
    assert "failed 3 time(s)" in messages[1]  # the two suppressed ones and this one
