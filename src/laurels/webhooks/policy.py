"""Pure decisions of the webhooks: which URLs and addresses are allowed, the
idempotency key of an unlock, when to retry and when to give up, and the signature.

Standard library only, so a receiver with just the SDK installed can import
`verify_signature` (`from laurels.webhooks import verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
import uuid
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

SIGNATURE_HEADER = "Laurels-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_URL_LENGTH = 2048
KEY_NAMESPACE = uuid.UUID("8f0c4a3e-5b7d-4e21-9c6a-3d2f1b0e7a54")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A webhook URL that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """The parts of an accepted endpoint URL the sender needs."""

    scheme: str
    host: str  # without brackets for IPv6
    port: int

    @property
    def literal(self) -> Address | None:
        """The host as an IP address, or None when it is a name."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_url(url: str) -> Target:
    """The scheme, host and port of a webhook URL. Raises UrlRefused unless it is
    an absolute http(s) URL with a host, a valid port and no credentials."""
    if not url or len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL must be 1..{MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UrlRefused("the URL must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlRefused(f"{url!r} is not an http:// or https:// URL")
    if not parts.hostname:
        raise UrlRefused(f"{url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("the URL must not contain credentials; receivers check the signature")
    return Target(parts.scheme.lower(), parts.hostname, _port(parts))


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise UrlRefused(f"{parts.netloc!r} has an invalid port") from None
    if port == 0:
        raise UrlRefused(f"{parts.netloc!r} has an invalid port")
    return port or (443 if parts.scheme.lower() == "https" else 80)


def is_development(sandbox: str) -> bool:
    """Development sandboxes (DEV.*) may send to private addresses; RETAIL may not."""
    return sandbox.startswith("DEV.")


def address_kind(address: str | Address) -> str | None:
    """What makes an address unfit for a RETAIL endpoint ("loopback", "private",
    "link-local", ...), or None for a public address. IPv4 addresses embedded in
    IPv6 (mapped, 6to4, NAT64) are judged as the IPv4 address they reach."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_kind(embedded)
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
    ):
        if flag:
            return kind
    return None if ip.is_global else "non-public"


def refuse_address(host: str, address: str | Address) -> None:
    """Raise UrlRefused if `address` (of `host`) is not public."""
    kind = address_kind(address)
    if kind is None:
        return
    what = f"{address} is" if str(address) == host else f"{host} resolves to {address},"
    raise UrlRefused(
        f"{what} a {kind} address; only development sandboxes (DEV.*) "
        "may send webhooks to such addresses"
    )


def idempotency_key(
    *, sandbox: str, xuid: str, scid: str, achievement_id: str, unlock_time: str
) -> str:
    """The same for every claim of one unlock. The unlock time is part of it because
    a development sandbox can reset a player, and the unlock that follows is new."""
    name = f"{sandbox}/{xuid}/{scid.lower()}/{achievement_id}/{unlock_time}"
    return str(uuid.uuid5(KEY_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    give_up_seconds: float

    def backoff_seconds(self, attempts: int, random: float) -> float:
        """The wait after the `attempts`-th failed attempt: doubling from the base,
        capped, with equal jitter (`random` in [0, 1) picks within the upper half)."""
        exponent = min(max(attempts - 1, 0), 62)
        ceiling = min(self.max_seconds, self.base_seconds * 2.0**exponent)
        return ceiling / 2 + ceiling / 2 * random

    def next_attempt_us(
        self, *, attempts: int, created_us: int, now_us: int, random: float
    ) -> int | None:
        """When to try again after a failed attempt, or None to give up (the delivery
        is older than the give-up period). The last retry is at the deadline."""
        deadline = created_us + int(self.give_up_seconds * 1_000_000)
        if now_us >= deadline:
            return None
        wait = int(self.backoff_seconds(attempts, random) * 1_000_000)
        return min(now_us + max(wait, 1), deadline)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` under the endpoint's secret."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the Laurels-Signature header: `t=<unix seconds>,v1=<hex>`."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Whether a Laurels-Signature header is valid for the raw request body: a `v1`
    signature matches under `secret`, and its time `t` is within `tolerance` seconds
    of `now` (default: the current time), so a replayed request is rejected. Never
    raises: a malformed header is simply not valid."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, raw).encode("ascii")
    return any(hmac.compare_digest(expected, c.encode("utf-8")) for c in candidates)
