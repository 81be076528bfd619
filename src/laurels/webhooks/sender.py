"""One attempt of one delivery: a signed POST, redirects not followed.

In RETAIL the host's addresses are checked again before each attempt, and the
request goes to the address that was checked (TLS still verifies the host name),
so a DNS answer that changes between the check and the connection cannot point the
request at a private address.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from laurels import __version__
from laurels.webhooks.addresses import Resolver, public_addresses
from laurels.webhooks.policy import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    UrlRefused,
    is_development,
    parse_url,
    signature_header,
)
from laurels.webhooks.queue import Due, Outcome

USER_AGENT = f"Laurels-Webhooks/{__version__}"


def make_client(*, timeout_seconds: float, max_connections: int) -> httpx.AsyncClient:
    """The client every attempt of a process shares. The environment's proxies are
    ignored: the addresses checked must be the ones connected to."""
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout_seconds),
        limits=httpx.Limits(max_connections=max_connections),
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


def signed_headers(due: Due, body: bytes, now_us: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature_header(due.secret, now_us // 1_000_000, body),
        IDEMPOTENCY_HEADER: due.idempotency_key,
    }


async def pinned(
    due: Due, *, resolve: Resolver
) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL to connect to, extra headers and request extensions: in RETAIL, the
    first checked address with the original Host and TLS server name. Raises
    UrlRefused when the host is not public or does not resolve."""
    url = httpx.URL(due.url)
    if is_development(due.sandbox):
        return url, {}, {}
    target = parse_url(due.url)
    address = (await public_addresses(target, resolve=resolve))[0]
    if target.literal is not None:
        return url, {}, {}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return url.copy_with(host=str(address)), {"Host": url.netloc.decode("ascii")}, extensions


async def send(
    client: httpx.AsyncClient,
    due: Due,
    *,
    now_us: int,
    timeout_seconds: float,
    resolve: Resolver,
) -> Outcome:
    """POST the delivery once. Never raises for what the endpoint does: a refused
    address, a timeout or a connection error is an Outcome with an error. The whole
    attempt, name resolution included, takes at most `timeout_seconds`."""
    started = time.monotonic()

    def outcome(status_code: int | None = None, error: str | None = None) -> Outcome:
        elapsed = round((time.monotonic() - started) * 1000)
        return Outcome(now_us, elapsed, status_code, error)

    try:
        async with asyncio.timeout(timeout_seconds):
            url, host, extensions = await pinned(due, resolve=resolve)
            body = due.payload.encode("utf-8")
            headers = {**signed_headers(due, body, now_us), **host}
            request = client.build_request(
                "POST", url, content=body, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            await response.aclose()  # the status is all that counts; skip the body
            return outcome(status_code=response.status_code)
    except (UrlRefused, httpx.InvalidURL) as exc:
        return outcome(error=f"refused: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return outcome(error=f"timed out after {timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return outcome(error=_reason(exc))


def _reason(exc: httpx.HTTPError) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {detail}"
    return f"{type(exc).__name__}: {detail}"
