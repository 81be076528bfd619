"""Where an endpoint's host points, checked before an endpoint is added and again
before every attempt (DNS may change in between)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

from laurels.webhooks.policy import Address, Target, UrlRefused, refuse_address

# (host, port) → the addresses it resolves to, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver; raises UrlRefused when the
    name does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UrlRefused(f"{host} does not resolve: {reason}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def public_addresses(target: Target, *, resolve: Resolver) -> list[Address]:
    """Every address of the target's host, each of them public. Raises UrlRefused
    naming the first loopback, private, link-local or otherwise non-public one, or
    when the host does not resolve."""
    literal = target.literal
    if literal is not None:
        refuse_address(target.host, literal)
        return [literal]
    found = [ipaddress.ip_address(text) for text in await resolve(target.host, target.port)]
    if not found:
        raise UrlRefused(f"{target.host} does not resolve to any address")
    for address in found:
        refuse_address(target.host, address)
    return found
