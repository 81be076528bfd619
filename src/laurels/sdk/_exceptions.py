"""The SDK's one exception tree.

    LaurelsError
    ├── ClientClosed        the client was closed; make a new one
    ├── QueueError          the offline queue file cannot be opened or written
    ├── ServiceError        a read failed (status, hresult, description)
    ├── HandshakeRefused    the real-time service refused the WebSocket (status)
    ├── SubscriptionError   a real-time subscribe was refused (code, resource)
    └── ManagerError        an AchievementsManager rule refused a call (hresult)

`update_achievement` never raises for delivery problems: it returns a result.
Impossible arguments raise the built-in ValueError at once.
"""

from __future__ import annotations


class LaurelsError(Exception):
    """Base of every error the SDK raises."""


class ClientClosed(LaurelsError):
    pass


class QueueError(LaurelsError):
    pass


class ServiceError(LaurelsError):
    def __init__(self, status: int, hresult: int, description: str) -> None:
        super().__init__(f"HTTP {status} (0x{hresult:08X}): {description}")
        self.status = status
        self.hresult = hresult
        self.description = description


class HandshakeRefused(LaurelsError):
    """The service answered the WebSocket handshake with an HTTP status (403 for a
    missing, forged or expired token; 0 when there was no token at all);
    `retry_after` is the wait its Retry-After asked for (bounded), if any."""

    def __init__(self, status: int, description: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"real-time connection refused (HTTP {status}): {description}")
        self.status = status
        self.description = description
        self.retry_after = retry_after


class SubscriptionError(LaurelsError):
    """A subscribe the service refused for good: code 1 (unknown resource), 2
    (subscription limit reached) or 3 (access denied)."""

    REASONS = {1: "unknown resource", 2: "subscription limit reached", 3: "access denied"}

    def __init__(self, code: int, resource: str) -> None:
        reason = self.REASONS.get(code, "refused")
        super().__init__(f"subscribe to {resource} failed with code {code} ({reason})")
        self.code = code
        self.resource = resource


class ManagerError(LaurelsError):
    """An AchievementsManager call its rules refuse; `hresult` is the reference
    manager's code (E_BOUNDS, E_UNEXPECTED, E_NOT_SUPPORTED, E_INVALIDARG)."""

    def __init__(self, hresult: int, description: str) -> None:
        super().__init__(f"0x{hresult:08X}: {description}")
        self.hresult = hresult
        self.description = description
