"""The SDK's one exception tree.

    LaurelsError
    ├── ClientClosed        the client was closed; make a new one
    ├── QueueError          the offline queue file cannot be opened or written
    └── ServiceError        a read failed (status, hresult, description)

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
