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
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

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
    try:  # bytes, not characters: the URL is part of a unique index entry
        size = len(url.encode("utf-8"))
    except UnicodeEncodeError:
        raise UrlRefused("the URL must be valid Unicode text") from None
    if not 0 < size <= MAX_URL_LENGTH:
        raise UrlRefused(f"the URL must be 1..{MAX_URL_LENGTH} bytes long (UTF-8)")
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


def canonical_url(url: str) -> str:
    """The URL as an endpoint stores it, so one URL has one spelling: scheme and
    host in lower case, no default port, "/" for an empty path, no fragment (it is
    never sent). Raises UrlRefused as `parse_url` does."""
    target = parse_url(url)
    parts = urlsplit(url)
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    netloc = host if target.port == default else f"{host}:{target.port}"
    return urlunsplit((target.scheme, netloc, parts.path or "/", parts.query, ""))


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
    "site-local", ...), or None for a public address. IPv4 addresses embedded in
    IPv6 (mapped, 6to4, NAT64's well-known prefix) are judged as the IPv4 address
    they reach; forms whose IPv4 address cannot be told or that reach only a local
    network (Teredo, local-use NAT64, IPv4-compatible) are refused whatever they
    embed. Raises ValueError for text that is not an IP address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return address_kind(embedded)
    for kind, test in _KINDS:
        if test(ip):
            return kind
    return None if ip.is_global else "non-public"


def _embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


def _within(*networks: str) -> Callable[[Address], bool]:
    blocks = [ipaddress.ip_network(n) for n in networks]
    return lambda ip: any(ip.version == b.version and ip in b for b in blocks)


# In order: the first that fits names the refusal. The named blocks are ones that
# `ipaddress` (Python 3.11) counts as global although nothing on the Internet is
# reached through them.
_KINDS: tuple[tuple[str, Callable[[Address], bool]], ...] = (
    ("unspecified", lambda ip: ip.is_unspecified),
    ("loopback", lambda ip: ip.is_loopback),
    ("site-local", _within("fec0::/10")),  # RFC 3879, deprecated
    ("local-use NAT64", _within("64:ff9b:1::/48")),  # RFC 8215: a network's own translator
    ("Teredo", _within("2001::/32")),  # RFC 4380: an obfuscated IPv4 behind a NAT
    ("IPv4-compatible", _within("::/96")),  # RFC 4291, deprecated
    ("IPv4-translated", _within("::ffff:0:0:0/96")),  # RFC 2765
    ("documentation", _within("3fff::/20")),  # RFC 9637
    ("SRv6 SID", _within("5f00::/16")),  # RFC 9602
    ("link-local", lambda ip: ip.is_link_local),
    ("private", lambda ip: ip.is_private),
    ("multicast", lambda ip: ip.is_multicast),
    ("reserved", lambda ip: ip.is_reserved),
)


def _same_address(host: str, address: str | Address) -> bool:
    """Whether `host` is `address` written as an IP literal (in any spelling)."""
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(address)
    except ValueError:
        return False


def refuse_address(host: str, address: str | Address) -> None:
    """Raise UrlRefused if `address` (of `host`) is not public."""
    kind = address_kind(address)
    if kind is None:
        return
    what = f"{host} is" if _same_address(host, address) else f"{host} resolves to {address},"
    article = "an" if kind[0] in "aeiouAEIOU" else "a"
    raise UrlRefused(
        f"{what} {article} {kind} address; only development sandboxes (DEV.*) "
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
