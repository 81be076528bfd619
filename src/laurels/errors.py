"""The one error tree of the service. Services raise these; one handler maps them
to the JSON error body of spec/wire.md. Nothing else raises HTTP errors.

    LaurelsError (status, code)
    ├── BadRequest            400, 4000
    ├── Unauthorized          401, 4500
    ├── Forbidden             403, 4500
    │   └── ResetRefused      403, 4500 (resets are for development sandboxes)
    ├── NotFound              404, 4000
    ├── Conflict              409, 4000
    ├── PayloadTooLarge       413, 4000
    ├── UnsupportedMediaType  415, 4000
    ├── RateLimited           429 (a body of its own)
    ├── Unavailable           503, 5300
    └── ConfigurationError    not HTTP: bad settings or a bad configuration file
        └── InvalidConfig     carries every field error of a file
"""

from __future__ import annotations

from dataclasses import dataclass


class LaurelsError(Exception):
    status: int = 500
    code: int = 5000

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class BadRequest(LaurelsError):
    status = 400
    code = 4000


class Unauthorized(LaurelsError):
    status = 401
    code = 4500


class Forbidden(LaurelsError):
    status = 403
    code = 4500


class ResetRefused(Forbidden):
    pass


class NotFound(LaurelsError):
    status = 404
    code = 4000


class Conflict(LaurelsError):
    status = 409
    code = 4000


class PayloadTooLarge(LaurelsError):
    status = 413
    code = 4000


class UnsupportedMediaType(LaurelsError):
    status = 415
    code = 4000


class Unavailable(LaurelsError):
    status = 503
    code = 5300


@dataclass(frozen=True)
class RateInfo:
    current_requests: int
    max_requests: int
    period_seconds: int
    retry_after: int


class RateLimited(LaurelsError):
    status = 429
    code = 4290

    def __init__(self, info: RateInfo) -> None:
        super().__init__(f"rate limit of {info.max_requests} in {info.period_seconds}s reached")
        self.info = info


class ConfigurationError(LaurelsError):
    """Bad settings or configuration; reported on the command line, not over HTTP."""

    status = 400
    code = 4000


class InvalidConfig(ConfigurationError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
