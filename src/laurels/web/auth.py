"""Who is calling: the `Authorized` dependency of every route that takes a token.

    async def route(caller: Authorized) -> Response: ...

answers 401 (no or a refused token, a revoked delivery credential), then 400 (an
unsupported `x-xbl-contract-version`, a path XUID that is not a uint64), then 429
(the caller's rate limit) before the route runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from laurels.errors import BadRequest, Unauthorized
from laurels.settings import Settings
from laurels.web.errors import error_responses
from laurels.web.params import XuidPath
from laurels.wire.identifiers import parse_xuid
from laurels.wire.principal import Principal

CONTRACT_VERSIONS = {"2"}
# The player page's session cookie: a player token (laurels.player mints it; the
# real-time handshake accepts it from a page of this site).
PLAYER_COOKIE = "laurels_play"
# What every authorized route may answer besides its own errors (`authorize`).
AUTHORIZED = (400, 401, 403, 429, 503)
# The headers `check_caller` reads.
CALLER_HEADERS = ("authorization", "x-xbl-contract-version")


def authorized_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of an authorized operation: the errors of `authorize`
    and the route's own `statuses`."""
    return error_responses(*AUTHORIZED, *statuses)


class TokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """Who the token speaks for; Unauthorized when it is refused."""
        ...


class RevocationCheck(Protocol):
    def check(self, principal: Principal) -> None:
        """Unauthorized when the delivery credential was revoked."""
        ...


class RateLimit(Protocol):
    async def check(self, principal: Principal) -> None:
        """RateLimited when the caller's bucket is empty."""
        ...


class Gate(Protocol):
    """What `authorize` needs of the process's runtime. `laurels.runtime.Runtime` is
    one; web stays below the features that the runtime assembles, so it names only
    these parts."""

    @property
    def settings(self) -> Settings: ...

    @property
    def verifier(self) -> TokenVerifier: ...

    @property
    def revocations(self) -> RevocationCheck: ...

    @property
    def rate_limiter(self) -> RateLimit: ...


def runtime(request: Request) -> Any:
    """The process's runtime (`laurels.runtime.Runtime`), started by the app's
    lifespan. Typed as Any here: each feature reads the parts it needs."""
    return request.app.state.runtime


def gate(request: Request) -> Gate:
    """The parts of the process's runtime that `authorize` uses."""
    found: Gate = runtime(request)
    return found


def parse_authorization(header: str | None) -> str:
    """The token of an `Authorization` header: `Bearer <t>` or `XBL3.0 x=<hash>;<t>`."""
    if not header:
        raise Unauthorized("missing Authorization header")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if scheme.upper() == "XBL3.0" and rest.startswith("x=") and ";" in rest:
        token = rest.split(";", 1)[1].strip()
        if token:
            return token
    raise Unauthorized("Authorization must be 'Bearer <token>' or 'XBL3.0 x=<hash>;<token>'")


@dataclass(frozen=True, slots=True)
class Caller:
    """An authorized request: the process's runtime (`laurels.runtime.Runtime`, which
    web does not import), who its token speaks for, and the player its path names
    (canonical decimal XUID)."""

    runtime: Any
    principal: Principal
    xuid: str


async def check_caller(
    gate: Gate, *, authorization: str | None, contract_version: str | None, xuid: str
) -> tuple[Principal, str]:
    """Who the request's token speaks for and the canonical XUID of its path, after
    the token, the contract version and the rate limit: 401 before 400 before 429
    (LaurelsError subclasses, answered by web.errors).

    The request is counted in the caller's own bucket (`ratelimit.bucket_for`: the
    token's player, or a server's title), never the path's player: a request that is
    then refused with 403 costs its caller, not the player it named."""
    principal = gate.verifier.verify(parse_authorization(authorization))
    if principal.kind == "delivery":  # player and server tokens pay nothing here
        gate.revocations.check(principal)
    version = "2" if contract_version is None else contract_version.strip()
    if version not in CONTRACT_VERSIONS:
        raise BadRequest(f"x-xbl-contract-version {version[:20]!r} is not supported; use 2")
    try:
        player = parse_xuid(xuid)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    await gate.rate_limiter.check(principal)
    return principal, player


async def authorize(request: Request, xuid: XuidPath) -> Caller:
    """The caller of a route (`check_caller` on the request's headers and path)."""
    headers = request.headers
    principal, player = await check_caller(
        gate(request),
        authorization=headers.get("authorization"),
        contract_version=headers.get("x-xbl-contract-version"),
        xuid=xuid,
    )
    return Caller(runtime(request), principal, player)


Authorized = Annotated[Caller, Depends(authorize)]
