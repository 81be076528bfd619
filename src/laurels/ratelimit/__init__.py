"""Rate limits per user and title (wire.md): a burst and a sustained fixed window,
counted in memory or, when a Redis URL is configured, in Redis shared by all processes."""

from laurels.ratelimit.policy import Window, decide, windows_from_settings
from laurels.ratelimit.service import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)

__all__ = [
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "Window",
    "build_rate_limiter",
    "decide",
    "windows_from_settings",
]
