"""The pure decisions of the webhooks, as tables of cases."""

from __future__ import annotations

import pytest

from laurels.webhooks import verify_signature
from laurels.webhooks.policy import (
    RetryPolicy,
    Target,
    UrlRefused,
    address_kind,
    idempotency_key,
    is_development,
    parse_url,
    refuse_address,
    signature,
    signature_header,
)

SECRET = "whsec_test"
BODY = b'{"id":"k","type":"achievement.unlocked"}'
T = 1_700_000_000


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://example.com/hook", Target("http", "example.com", 80)),
        ("https://example.com/hook", Target("https", "example.com", 443)),
        ("HTTPS://Example.COM:8443/a?b=c", Target("https", "example.com", 8443)),
        ("http://127.0.0.1:9000/", Target("http", "127.0.0.1", 9000)),
        ("http://[::1]:9000/x", Target("http", "::1", 9000)),
        ("http://localhost/x", Target("http", "localhost", 80)),
    ],
)
def test_urls_accepted(url: str, target: Target) -> None:
    assert parse_url(url) == target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "1..2048 bytes"),
        ("https://example.com/" + "a" * 2048, "1..2048 bytes"),
        ("https://example.com/" + "é" * 1015, "1..2048 bytes"),  # 2050 bytes
        ("https://example.com/\ud800", "valid Unicode"),
        ("ftp://example.com/hook", "not an http:// or https:// URL"),
        ("example.com/hook", "not an http:// or https:// URL"),
        ("javascript:alert(1)", "not an http:// or https:// URL"),
        ("http://", "has no host"),
        ("http:///path", "has no host"),
        ("https://user:pw@example.com/", "must not contain credentials"),
        ("http://example.com:99999/", "invalid port"),
        ("http://example.com:0/", "invalid port"),
        ("http://example.com:port/", "invalid port"),
        ("http://exa mple.com/", "spaces or control characters"),
        (" http://example.com/", "spaces or control characters"),
        ("http://example.com/\nHost: evil", "spaces or control characters"),
    ],
)
def test_urls_refused(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        parse_url(url)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("224.0.0.1", "multicast"),
        ("192.0.2.1", "private"),  # documentation (Python counts it private)
        ("::ffff:0.0.0.0", "unspecified"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:100.64.0.1", "non-public"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::a00:1", "local-use NAT64"),  # RFC 8215: never the Internet
        ("64:ff9b:1::808:808", "local-use NAT64"),
        ("fec0::1", "site-local"),  # deprecated, but routed by old stacks
        ("feff:ffff::1", "site-local"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:0:a00:1::", "Teredo"),
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("::127.0.0.1", "IPv4-compatible"),  # deprecated ::a.b.c.d
        ("::10.0.0.1", "IPv4-compatible"),
        ("::ffff:0:a00:1", "IPv4-translated"),
        ("2001:db8::1", "private"),  # documentation
        ("3fff::1", "documentation"),
        ("5f00::1", "SRv6 SID"),
        ("fd12:3456::1", "private"),  # unique local
        ("fe80::1%eth0", "link-local"),  # with a zone, as getaddrinfo gives it
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("100::1", "private"),  # discard-only
        ("198.18.0.1", "private"),  # benchmarking
        ("240.0.0.1", "private"),  # reserved
        ("255.255.255.255", "private"),
        ("0.1.2.3", "private"),  # "this network"
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::808:808", None),  # DNS64 of a public IPv4 host
        ("2002:808:808::1", None),  # 6to4 of a public IPv4 address
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert address_kind(address) == kind


def test_refusal_names_host_and_address() -> None:
    with pytest.raises(UrlRefused, match=r"^hooks\.test resolves to 10\.0\.0\.1, a private"):
        refuse_address("hooks.test", "10.0.0.1")
    with pytest.raises(UrlRefused, match=r"^127\.0\.0\.1 is a loopback address; only dev"):
        refuse_address("127.0.0.1", "127.0.0.1")
    refuse_address("example.com", "93.184.216.34")


@pytest.mark.parametrize(
    ("sandbox", "development"),
    [("DEV.1", True), ("DEV.staging", True), ("RETAIL", False), ("retail", False), ("", False)],
)
def test_development_sandboxes(sandbox: str, development: bool) -> None:
    assert is_development(sandbox) is development


def test_idempotency_key_is_a_function_of_the_unlock() -> None:
    unlock = {
        "sandbox": "DEV.1",
        "xuid": "2533274790395904",
        "scid": "6a2e0100-0000-0000-0000-00005f1d2c3b",
        "achievement_id": "2",
        "unlock_time": "2026-01-01T00:00:00.0000000Z",
    }
    key = idempotency_key(**unlock)
    assert key == idempotency_key(**unlock)
    assert key == idempotency_key(**{**unlock, "scid": unlock["scid"].upper()})
    assert len(key) == 36
    for name, other in [
        ("sandbox", "RETAIL"),
        ("xuid", "2533274790395905"),
        ("scid", "6a2e0100-0000-0000-0000-00005f1d2c3c"),
        ("achievement_id", "3"),
        ("unlock_time", "2026-01-02T00:00:00.0000000Z"),  # unlocked again after a reset
    ]:
        assert idempotency_key(**{**unlock, name: other}) != key, name


POLICY = RetryPolicy(base_seconds=10, max_seconds=3600, give_up_seconds=86400)


@pytest.mark.parametrize(
    ("attempts", "random", "seconds"),
    [
        (1, 0.0, 5.0),  # equal jitter: half the ceiling ...
        (1, 0.999999, 9.99999),  # ... up to the ceiling
        (1, 0.5, 7.5),
        (2, 0.0, 10.0),
        (3, 0.0, 20.0),
        (4, 1.0, 80.0),
        (9, 0.0, 1280.0),
        (10, 0.0, 1800.0),  # capped at the max ...
        (10, 1.0, 3600.0),
        (500, 0.5, 2700.0),  # ... however many attempts
        (0, 0.0, 5.0),
    ],
)
def test_backoff(attempts: int, random: float, seconds: float) -> None:
    assert POLICY.backoff_seconds(attempts, random) == pytest.approx(seconds)


S = 1_000_000
CREATED = 1_000 * S


@pytest.mark.parametrize(
    ("attempts", "now_us", "expected"),
    [
        (1, CREATED, CREATED + 5 * S),
        (3, CREATED + 60 * S, CREATED + 80 * S),
        (20, CREATED + 3600 * S, CREATED + 5400 * S),
        # never beyond the deadline: the last attempt is at the give-up time
        (20, CREATED + 86000 * S, CREATED + 86400 * S),
        # once the delivery is as old as the give-up period: give up
        (20, CREATED + 86400 * S, None),
        (2, CREATED + 90000 * S, None),
    ],
)
def test_next_attempt_or_give_up(attempts: int, now_us: int, expected: int | None) -> None:
    when = POLICY.next_attempt_us(attempts=attempts, created_us=CREATED, now_us=now_us, random=0.0)
    assert when == expected


def test_signature_is_hmac_sha256_of_time_and_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, T, BODY) == expected
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"


VALID = signature_header(SECRET, T, BODY)


@pytest.mark.parametrize(
    ("secret", "header", "body", "now", "valid"),
    [
        (SECRET, VALID, BODY, T, True),
        (SECRET, VALID, BODY.decode(), T, True),  # the body as text
        (SECRET, VALID, BODY, T + 300, True),  # at the edge of the tolerance
        (SECRET, VALID, BODY, T - 300, True),
        (SECRET, VALID, BODY, T + 301, False),  # a replay, too late
        (SECRET, VALID, BODY, T - 301, False),  # from the future
        ("whsec_other", VALID, BODY, T, False),
        (SECRET, VALID, BODY + b" ", T, False),  # tampered body
        (SECRET, VALID.replace(f"t={T}", f"t={T + 1}"), BODY, T, False),  # tampered time
        (SECRET, f"t={T},v1=deadbeef,{VALID.split(',')[1]}", BODY, T, True),  # rotation
        (SECRET, f"{VALID.split(',')[1]},t={T}", BODY, T, True),  # any order
        (SECRET, f" t={T} , {VALID.split(',')[1]} ", BODY, T, True),
        (SECRET, f"t={T}", BODY, T, False),  # no signature
        (SECRET, VALID.split(",")[1], BODY, T, False),  # no time
        (SECRET, f"t=abc,{VALID.split(',')[1]}", BODY, T, False),
        (SECRET, f"t=²,{VALID.split(',')[1]}", BODY, T, False),
        (SECRET, f"t={T},v1=é", BODY, T, False),
        (SECRET, "", BODY, T, False),
        (SECRET, "garbage", BODY, T, False),
        (SECRET, f"t={T},v0={VALID.split('v1=')[1]}", BODY, T, False),  # unknown scheme
    ],
)
def test_verify_signature(
    secret: str, header: str, body: bytes | str, now: float, valid: bool
) -> None:
    assert verify_signature(secret, header, body, now=now, tolerance=300) is valid


def test_verify_signature_defaults_to_now() -> None:
    import time

    now = int(time.time())
    assert verify_signature(SECRET, signature_header(SECRET, now, BODY), BODY)
    assert not verify_signature(SECRET, signature_header(SECRET, now - 3600, BODY), BODY)
