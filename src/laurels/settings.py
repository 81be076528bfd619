"""The service's settings: every environment variable Laurels reads is declared here.

Nothing reads the environment at import time; `Settings.from_env()` is called by the
command line or by whoever builds the app, so every test can build its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import platformdirs

from laurels.errors import ConfigurationError

ENV_PREFIX = "LAURELS_"
MAX_TOKEN_LEEWAY_SECONDS = 600


def default_database_url() -> str:
    """A SQLite file in the user's data directory."""
    directory = Path(platformdirs.user_data_dir("laurels", appauthor=False))
    return f"sqlite:///{directory / 'laurels.db'}"


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str = field(default_factory=default_database_url)
    redis_url: str | None = None
    # Public base URL used in links the service hands out (icons); None: from the request.
    public_url: str | None = None
    # Tokens minted elsewhere (a studio's login server): a PEM public key or a JWKS file.
    trusted_keys_file: Path | None = None
    trusted_issuer: str | None = None
    # When set, a studio token must name it in `aud`; unset, a token with an `aud` is refused.
    trusted_audience: str | None = None
    # Seconds by which a token's exp/nbf/iat may disagree with this machine's clock.
    token_leeway_seconds: int = 30
    # Rate limits per user and title (wire.md): burst and sustained windows.
    rate_burst_requests: int = 100
    rate_burst_seconds: int = 15
    rate_sustained_requests: int = 300
    rate_sustained_seconds: int = 300
    # A game-server credential's limits, per title and sandbox, over the same windows:
    # 10,000 a second in bursts, 5,000 sustained. It writes for every player of its
    # title, so it needs what a whole title's servers send (one process answers a few
    # thousand a second); the limit stops a runaway server, not a busy title.
    rate_server_burst_requests: int = 150_000
    rate_server_sustained_requests: int = 1_500_000
    # Callers whose counters one process keeps in memory (the least recent are dropped).
    rate_memory_max_keys: int = 100_000
    # Offline deliveries: how old a `timeAchieved` may be before it is recorded as now.
    time_achieved_window_seconds: int = 30 * 24 * 3600
    time_achieved_skew_seconds: int = 300
    # How often a process looks for configuration published by another process.
    catalog_refresh_seconds: float = 2.0
    # Group commit: at most this many updates share one transaction.
    max_batch: int = 256
    # PostgreSQL: how many batches one process commits at once. Two keep a batch
    # building while another commits; `laurels serve --workers N` (N > 1) makes it one
    # per process unless set: the processes' batches overlap already, and larger
    # batches cost fewer statements per update.
    writer_committers: int = 2
    # Achievements accepted in one update body (wire.md: cap N, 400 above).
    max_achievements_per_update: int = 32
    max_body_bytes: int = 64 * 1024
    pool_size: int = 8
    # How long a delivery credential (offline updates delivered days later) stays valid.
    delivery_credential_days: int = 365
    # Webhooks: retries wait from the base, doubling up to the max (with jitter), until
    # a delivery is older than the give-up period; one attempt lasts at most the
    # timeout; every process looks for new unlocks and due retries every poll.
    webhook_retry_base_seconds: float = 10.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_give_up_seconds: float = 86400.0
    webhook_timeout_seconds: float = 10.0
    webhook_poll_seconds: float = 1.0
    # Real-time activity (docs/realtime.md).
    rta_max_subscriptions: int = 100
    rta_buffer_events: int = 256
    rta_ping_seconds: float = 20.0
    # Sockets one player may hold open on one service process (HTTP 429 beyond).
    rta_max_sockets_per_player: int = 10
    # Every connection's request head (request line and headers) must arrive within
    # this time and size: 408 / 431 and a close otherwise.
    header_timeout_seconds: float = 10.0
    max_header_bytes: int = 16 * 1024
    # ... and its body within this time of its headers (408 and a close otherwise).
    body_timeout_seconds: float = 30.0
    # Requests one process works on at once; a connection's next request beyond waits
    # unread for one to finish (memory stays bounded however many clients send).
    max_requests_in_flight: int = 128
    # How often a process looks for events other processes wrote (SQLite; on
    # PostgreSQL NOTIFY wakes it at once and this is a fallback).
    event_poll_seconds: float = 0.25
    # How long a reconnecting device can still get missed events replayed.
    event_retention_seconds: int = 24 * 3600
    progress_event_retention_seconds: int = 600
    # The portal: how long a sign-in lasts, and whether its cookie is marked Secure
    # ("auto": when the request came over HTTPS, as the proxy's X-Forwarded-Proto says
    # to uvicorn's --forwarded-allow-ips; "always"; "never" only for plain-HTTP tests).
    portal_session_hours: int = 12
    portal_secure_cookies: str = "auto"
    # Fault injection for crash tests: exit right after committing an unlock, before
    # anything is relayed. Never set it in production.
    fault_exit_after_unlock_commit: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read `LAURELS_*` variables; raises ConfigurationError naming a bad one."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, kind in _ENV_FIELDS.items():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError as exc:
                raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}: {exc}") from exc
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def check(self) -> None:
        """Refuse settings that cannot work, with the variable's name."""
        if not self.database_url.startswith(("sqlite", "postgresql", "postgres")):
            raise ConfigurationError(
                "LAURELS_DATABASE_URL: must start with sqlite:// or postgresql://"
            )
        for name in (
            "rate_burst_requests",
            "rate_burst_seconds",
            "rate_sustained_requests",
            "rate_sustained_seconds",
            "rate_server_burst_requests",
            "rate_server_sustained_requests",
            "rate_memory_max_keys",
            "max_batch",
            "writer_committers",
            "max_achievements_per_update",
            "pool_size",
            "delivery_credential_days",
            "rta_max_subscriptions",
            "rta_buffer_events",
            "rta_max_sockets_per_player",
            "max_header_bytes",
            "max_requests_in_flight",
            "event_retention_seconds",
            "progress_event_retention_seconds",
            "portal_session_hours",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}: must be at least 1")
        self._check_webhooks()
        if self.portal_secure_cookies not in ("auto", "always", "never"):
            raise ConfigurationError("LAURELS_PORTAL_SECURE_COOKIES: must be auto, always or never")
        for name in (
            "rta_ping_seconds",
            "event_poll_seconds",
            "header_timeout_seconds",
            "body_timeout_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}: must be more than 0")
        if not 0 <= self.token_leeway_seconds <= MAX_TOKEN_LEEWAY_SECONDS:
            raise ConfigurationError(
                f"LAURELS_TOKEN_LEEWAY_SECONDS: must be 0..{MAX_TOKEN_LEEWAY_SECONDS}"
            )
        if self.trusted_keys_file is not None and not self.trusted_keys_file.is_file():
            raise ConfigurationError(
                f"LAURELS_TRUSTED_KEYS_FILE: {self.trusted_keys_file} is not a file"
            )

    def _check_webhooks(self) -> None:
        for name in (
            "webhook_retry_base_seconds",
            "webhook_retry_max_seconds",
            "webhook_give_up_seconds",
            "webhook_timeout_seconds",
            "webhook_poll_seconds",
        ):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"{ENV_PREFIX}{name.upper()}: must be more than 0")
        if self.webhook_retry_max_seconds < self.webhook_retry_base_seconds:
            raise ConfigurationError(
                "LAURELS_WEBHOOK_RETRY_MAX_SECONDS: must be at least "
                "LAURELS_WEBHOOK_RETRY_BASE_SECONDS"
            )


def _flag(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in ("1", "0", "true", "false", "yes", "no"):
        raise ValueError(f"{raw!r} is not a boolean (1/0, true/false, yes/no)")
    return lowered in ("1", "true", "yes")


_ENV_FIELDS: dict[str, Callable[[str], object]] = {
    "database_url": str,
    "redis_url": str,
    "public_url": str,
    "trusted_keys_file": Path,
    "trusted_issuer": str,
    "trusted_audience": str,
    "token_leeway_seconds": int,
    "rate_burst_requests": int,
    "rate_burst_seconds": int,
    "rate_sustained_requests": int,
    "rate_sustained_seconds": int,
    "rate_server_burst_requests": int,
    "rate_server_sustained_requests": int,
    "rate_memory_max_keys": int,
    "time_achieved_window_seconds": int,
    "time_achieved_skew_seconds": int,
    "catalog_refresh_seconds": float,
    "max_batch": int,
    "writer_committers": int,
    "max_achievements_per_update": int,
    "max_body_bytes": int,
    "pool_size": int,
    "delivery_credential_days": int,
    "portal_session_hours": int,
    "portal_secure_cookies": str,
    "webhook_retry_base_seconds": float,
    "webhook_retry_max_seconds": float,
    "webhook_give_up_seconds": float,
    "webhook_timeout_seconds": float,
    "webhook_poll_seconds": float,
    "rta_max_subscriptions": int,
    "rta_buffer_events": int,
    "rta_ping_seconds": float,
    "rta_max_sockets_per_player": int,
    "header_timeout_seconds": float,
    "max_header_bytes": int,
    "body_timeout_seconds": float,
    "max_requests_in_flight": int,
    "event_poll_seconds": float,
    "event_retention_seconds": int,
    "progress_event_retention_seconds": int,
    "fault_exit_after_unlock_commit": _flag,
}
