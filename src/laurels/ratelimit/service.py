"""Rate limiters: count each request of a key (a user and a title) in every window and
raise `RateLimited` once a window's limit is passed. The decision is `policy.decide`.

`MemoryRateLimiter` keeps its counters in the process; `RedisRateLimiter` keeps them in
Redis so that every service process shares them. `build_rate_limiter` picks one.

Failure: a refused request raises `RateLimited` (429 with Retry-After). Nothing else is
raised by `check`: the memory limiter cannot fail, and the Redis limiter fails OPEN
(see its docstring). A malformed Redis URL is refused when the limiter is built, as a
`ConfigurationError` naming LAURELS_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from laurels.errors import ConfigurationError, RateLimited
from laurels.ratelimit.policy import Window, decide, window_index, windows_from_settings

if TYPE_CHECKING:
    from laurels.settings import Settings

# redis is imported when a RedisRateLimiter is built, so a process without Redis
# configured does not carry the client in memory.

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# Redis keys outlive their window by this much, so a process whose clock is slightly
# behind still finds the counter it shares with the others.
EXPIRY_MARGIN_SECONDS = 60
# An unreachable Redis is reported at most this often.
WARNING_INTERVAL_SECONDS = 10.0

# One round trip: count the request in every window (KEYS), give a new counter its
# expiry (ARGV, seconds), and return every count. Atomic, so INCR and EXPIRE never split.
_COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then
    redis.call('EXPIRE', key, ARGV[i])
  end
end
return counts
"""


class RateLimiter(Protocol):
    async def check(self, key: str) -> None:
        """Count one request of `key`; raise `RateLimited` if it is over a limit."""

    async def close(self) -> None:
        """Release what the limiter holds (connections); it is not used afterwards."""


def _raise_if_refused(windows: Sequence[Window], now: float, counts: Sequence[int]) -> None:
    info = decide(windows, now, counts)
    if info is not None:
        raise RateLimited(info)


class MemoryRateLimiter:
    """Counters in a dict, for a single process. Not shared between processes.

    Memory stays bounded: at most once per shortest window, counters of windows that
    have ended are dropped, so keys seen once long ago do not accumulate.
    """

    def __init__(self, windows: Sequence[Window], clock: Clock = time.time) -> None:
        self._windows = tuple(windows)
        self._clock = clock
        self._counters: dict[tuple[str, int, int], int] = {}
        self._sweep_every = min((w.seconds for w in self._windows), default=60)
        self._next_sweep = -math.inf

    @property
    def counter_count(self) -> int:
        """How many counters are held (for tests and metrics)."""
        return len(self._counters)

    async def check(self, key: str) -> None:
        now = self._clock()
        self._sweep_if_due(now)
        counts = [self._count(key, window, now) for window in self._windows]
        _raise_if_refused(self._windows, now, counts)

    async def close(self) -> None:
        self._counters.clear()

    def _count(self, key: str, window: Window, now: float) -> int:
        slot = (key, window.seconds, window_index(window, now))
        count = self._counters.get(slot, 0) + 1
        self._counters[slot] = count
        return count

    def _sweep_if_due(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._sweep_every
        current = {w.seconds: window_index(w, now) for w in self._windows}
        self._counters = {
            slot: n for slot, n in self._counters.items() if slot[2] >= current[slot[1]]
        }


class RedisRateLimiter:
    """Counters in Redis, shared by every process pointed at the same server and prefix.

    Each check is one round trip: a Lua script (loaded once, then run by EVALSHA)
    increments the key `<prefix>{<key>}:<window seconds>:<window index>` of every window,
    sets its expiry (window length + EXPIRY_MARGIN_SECONDS) when it creates it, and
    returns the counts; `policy.decide` makes the decision.

    Failure: it fails OPEN. If Redis is unreachable, slow or answers an error, the
    request is allowed and a warning is logged (at most once per 10 s): a rate-limiter
    outage must not stop players from unlocking achievements. A check never waits much
    longer than `timeout` seconds per attempt (connect and read timeouts, one retry)
    and never longer than `3 * timeout` in all.
    """

    def __init__(
        self,
        url: str,
        windows: Sequence[Window],
        clock: Clock = time.time,
        prefix: str = "laurels:rl:",
        timeout: float = 0.5,
    ) -> None:
        self._windows = tuple(windows)
        self._clock = clock
        self._prefix = prefix
        self._deadline = 3 * timeout
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        self._failures: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self._redis.register_script(_COUNT_SCRIPT)
        self._warned_at = -math.inf
        self._unwarned_failures = 0

    async def check(self, key: str) -> None:
        now = self._clock()
        counts = await self._counts(key, now)
        if counts is not None:
            _raise_if_refused(self._windows, now, counts)

    async def close(self) -> None:
        await self._redis.aclose()

    def redis_key(self, key: str, window: Window, now: float) -> str:
        """The Redis key counting `key` in the window holding `now`."""
        return f"{self._prefix}{{{key}}}:{window.seconds}:{window_index(window, now)}"

    async def _counts(self, key: str, now: float) -> list[int] | None:
        """Every window's count after this request, or None when Redis failed."""
        keys = [self.redis_key(key, window, now) for window in self._windows]
        expiries = [window.seconds + EXPIRY_MARGIN_SECONDS for window in self._windows]
        try:
            async with asyncio.timeout(self._deadline):
                counts = await self._script(keys=keys, args=expiries)
        except self._failures as exc:
            self._warn(exc)
            return None
        return [int(count) for count in counts]

    def _warn(self, exc: BaseException) -> None:
        self._unwarned_failures += 1
        now = time.monotonic()
        if now - self._warned_at < WARNING_INTERVAL_SECONDS:
            return
        log.warning(
            "rate limits not enforced: Redis failed %d time(s) (last: %r); allowing requests",
            self._unwarned_failures,
            exc,
        )
        self._warned_at = now
        self._unwarned_failures = 0


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Redis-backed when `settings.redis_url` is set, in memory otherwise."""
    windows = windows_from_settings(settings)
    if not settings.redis_url:
        return MemoryRateLimiter(windows)
    try:
        return RedisRateLimiter(settings.redis_url, windows)
    except ValueError as exc:
        raise ConfigurationError(f"LAURELS_REDIS_URL: {exc}") from exc
