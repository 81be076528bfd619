"""Rate limiters: count each request in its caller's bucket (`policy.bucket_for`), in
every window of the bucket, and raise `RateLimited` once a window's limit is passed.
The decision is `policy.decide`.

`MemoryRateLimiter` keeps its counters in the process, in a table of bounded size;
`RedisRateLimiter` keeps them in Redis so that every service process shares them, and
falls back to a `MemoryRateLimiter` of its own while Redis is unreachable.
`build_rate_limiter` picks one.

Failure: a refused request raises `RateLimited` (429 with Retry-After). Nothing else is
raised by `check`: the memory limiter cannot fail, and the Redis limiter fails open to
per-process limits (see its docstring). A malformed Redis URL is refused when the
limiter is built, as a `ConfigurationError` naming LAURELS_REDIS_URL.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from laurels.errors import ConfigurationError, RateLimited
from laurels.ratelimit.policy import (
    Bucket,
    Limits,
    Window,
    bucket_for,
    decide,
    idle_after,
    limits_from_settings,
    window_index,
)

if TYPE_CHECKING:
    from laurels.settings import Settings
    from laurels.wire.principal import Principal

# redis is imported when a RedisRateLimiter is built, so a process without Redis
# configured does not carry the client in memory.

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# Redis keys outlive their window by this much, so a process whose clock is slightly
# behind still finds the counter it shares with the others.
EXPIRY_MARGIN_SECONDS = 60
# While Redis is unreachable, it is tried again this often (the requests in between
# are counted in the process without waiting on Redis).
REDIS_RETRY_SECONDS = 5.0
# An outage that goes on is reported again at most this often.
WARNING_INTERVAL_SECONDS = 60.0
DEFAULT_MAX_KEYS = 100_000

# One round trip: count the request in every window (KEYS), give a new counter its
# expiry (ARGV, seconds), and return every count. Atomic, so INCR and EXPIRE never split.
# Two windows of the same length share one key, counted once per request.
_COUNT_SCRIPT = """
local counts, seen = {}, {}
for i, key in ipairs(KEYS) do
  if seen[key] == nil then
    seen[key] = redis.call('INCR', key)
    if seen[key] == 1 then
      redis.call('EXPIRE', key, ARGV[i])
    end
  end
  counts[i] = seen[key]
end
return counts
"""


class RateLimiter(Protocol):
    async def check(self, principal: Principal) -> None:
        """Count one request of the caller `principal` speaks for, in its own bucket;
        raise `RateLimited` if the bucket is over a limit."""

    async def close(self) -> None:
        """Release what the limiter holds (connections); it is not used afterwards."""


def _raise_if_refused(windows: Sequence[Window], now: float, counts: Sequence[int]) -> None:
    info = decide(windows, now, counts)
    if info is not None:
        raise RateLimited(info)


class _Counts:
    """One bucket's counts: the window index and count of each of its windows, and
    when they have all ended."""

    __slots__ = ("counts", "idle_at", "indexes")

    def __init__(self, size: int) -> None:
        self.indexes = [-1] * size
        self.counts = [0] * size
        self.idle_at = -math.inf

    def add(self, windows: Sequence[Window], now: float) -> list[int]:
        """Count one request at `now` in every window; every window's count after it."""
        rolled = False
        for i, window in enumerate(windows):
            index = window_index(window, now)
            if index != self.indexes[i]:
                self.indexes[i], self.counts[i], rolled = index, 0, True
            self.counts[i] += 1
        if rolled:  # the windows' ends move only when a window rolls
            self.idle_at = idle_after(windows, now)
        return self.counts


class MemoryRateLimiter:
    """Counters in a table held by the process. Not shared between processes.

    The table is kept in least-recently-counted order and bounded two ways: buckets
    whose windows have all ended are dropped as soon as they reach the front, and
    beyond `max_keys` buckets the least recently counted one is dropped even if live
    (its caller then starts from zero: under that pressure a little leniency is
    better than unbounded memory). Each check is O(1), amortized.
    """

    def __init__(
        self, limits: Limits, clock: Clock = time.time, max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        if max_keys < 1:
            raise ValueError("a rate limiter needs room for at least one key")
        self._limits = limits
        self._clock = clock
        self._max_keys = max_keys
        self._table: OrderedDict[str, _Counts] = OrderedDict()

    @property
    def key_count(self) -> int:
        """How many buckets are held (for tests and metrics)."""
        return len(self._table)

    async def check(self, principal: Principal) -> None:
        self.count(bucket_for(principal, self._limits))

    def count(self, bucket: Bucket) -> None:
        """Count one request in `bucket`; raise `RateLimited` if it is over a limit."""
        now = self._clock()
        self._drop_idle(now)
        counts = self._counts_of(bucket.key, len(bucket.windows)).add(bucket.windows, now)
        _raise_if_refused(bucket.windows, now, counts)

    async def close(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every count."""
        self._table.clear()

    def _counts_of(self, key: str, size: int) -> _Counts:
        found = self._table.get(key)
        if found is not None:
            self._table.move_to_end(key)
            return found
        if len(self._table) >= self._max_keys:
            self._table.popitem(last=False)
        created = self._table[key] = _Counts(size)
        return created

    def _drop_idle(self, now: float) -> None:
        while self._table:
            oldest = next(iter(self._table.values()))
            if oldest.idle_at > now:
                return
            self._table.popitem(last=False)


class RedisRateLimiter:
    """Counters in Redis, shared by every process pointed at the same server and prefix.

    Each check is one round trip: a Lua script (loaded once, then run by EVALSHA)
    increments the key `<prefix>{<bucket key>}:<window seconds>:<window index>` of
    every window, sets its expiry (window length + EXPIRY_MARGIN_SECONDS) when it
    creates it, and returns the counts; `policy.decide` makes the decision.

    Failure: it fails open to per-process limits. If Redis is unreachable, slow or
    answers an error, the request is counted in this process's own
    `MemoryRateLimiter` instead (each process then enforces the limits alone, so a
    caller spread over N processes gets up to N times the limit), and a warning says
    so. Redis is tried again every `retry_seconds` by one request, the requests in
    between (and during that attempt) are counted in memory without waiting on it,
    and once it answers the shared counters are used again (logged). A check never
    waits on Redis much longer than `timeout` seconds per attempt (connect and read
    timeouts, one retry), never longer than `3 * timeout` in all.
    """

    def __init__(
        self,
        url: str,
        limits: Limits,
        clock: Clock = time.time,
        prefix: str = "laurels:rl:",
        timeout: float = 0.5,
        *,
        retry_seconds: float = REDIS_RETRY_SECONDS,
        monotonic: Clock = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._prefix = prefix
        self._deadline = 3 * timeout
        self._retry_seconds = retry_seconds
        self._monotonic = monotonic
        self._fallback = MemoryRateLimiter(limits, clock=clock, max_keys=max_keys)
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
        self._down_since: float | None = None
        self._retry_at = -math.inf
        self._warned_at = -math.inf

    @property
    def shared(self) -> bool:
        """False while requests are counted in this process because Redis failed."""
        return self._down_since is None

    async def check(self, principal: Principal) -> None:
        await self.count(bucket_for(principal, self._limits))

    async def count(self, bucket: Bucket) -> None:
        """Count one request in `bucket`, in Redis or, while it is down, in this
        process; raise `RateLimited` if it is over a limit."""
        now = self._clock()
        counts = await self._shared_counts(bucket, now)
        if counts is None:
            self._fallback.count(bucket)
            return
        _raise_if_refused(bucket.windows, now, counts)

    async def close(self) -> None:
        self._fallback.clear()
        await self._redis.aclose()

    def redis_key(self, key: str, window: Window, now: float) -> str:
        """The Redis key counting bucket `key` in the window holding `now`."""
        return f"{self._prefix}{{{key}}}:{window.seconds}:{window_index(window, now)}"

    async def _shared_counts(self, bucket: Bucket, now: float) -> list[int] | None:
        """Every window's count in Redis after this request; None while Redis is down
        (not tried before its retry time) or when it fails now."""
        if self._monotonic() < self._retry_at:
            return None
        if self._down_since is not None:  # one probe at a time; the others count here
            self._retry_at = self._monotonic() + self._retry_seconds
        keys = [self.redis_key(bucket.key, window, now) for window in bucket.windows]
        expiries = [window.seconds + EXPIRY_MARGIN_SECONDS for window in bucket.windows]
        try:
            async with asyncio.timeout(self._deadline):
                counts = await self._script(keys=keys, args=expiries)
        except self._failures as exc:
            self._failed(exc)
            return None
        self._answered()
        return [int(count) for count in counts]

    def _failed(self, exc: BaseException) -> None:
        now = self._monotonic()
        self._retry_at = now + self._retry_seconds
        if self._down_since is None:
            self._down_since = self._warned_at = now
            log.warning(
                "rate limits counted in this process only: Redis failed (%r); "
                "trying it again every %g s",
                exc,
                self._retry_seconds,
            )
        elif now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            log.warning(
                "rate limits still counted in this process only: Redis down for %.0f s (%r)",
                now - self._down_since,
                exc,
            )

    def _answered(self) -> None:
        if self._down_since is None:
            return
        log.warning(
            "Redis answers again after %.0f s; rate limits are shared again",
            self._monotonic() - self._down_since,
        )
        self._down_since = None
        self._retry_at = -math.inf
        self._fallback.clear()


def build_rate_limiter(settings: Settings) -> RateLimiter:
    """Redis-backed when `settings.redis_url` is set, in memory otherwise."""
    limits = limits_from_settings(settings)
    max_keys = settings.rate_memory_max_keys
    if not settings.redis_url:
        return MemoryRateLimiter(limits, max_keys=max_keys)
    try:
        return RedisRateLimiter(settings.redis_url, limits, max_keys=max_keys)
    except ValueError as exc:
        raise ConfigurationError(f"LAURELS_REDIS_URL: {exc}") from exc
