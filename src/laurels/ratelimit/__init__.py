"""Rate limits per caller (wire.md): a burst and a sustained fixed window, counted in
the bucket of the caller a verified token speaks for (its player, title and sandbox;
a game server's title and sandbox), in memory or, when a Redis URL is configured, in
Redis shared by all processes, falling back to per-process counts while Redis is down."""

from laurels.ratelimit.policy import (
    Bucket,
    Limits,
    Window,
    bucket_for,
    decide,
    limits_from_settings,
    windows_from_settings,
)
from laurels.ratelimit.service import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)

__all__ = [
    "Bucket",
    "Limits",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Window",
    "bucket_for",
    "build_rate_limiter",
    "decide",
    "limits_from_settings",
    "windows_from_settings",
]
