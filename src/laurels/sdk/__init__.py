"""The Laurels SDK: what a game links against (`pip install laurels`).

    from laurels.sdk import AchievementsClient

Needs only httpx, websockets and the standard library; importing it never imports
the service.
"""

from httpx import MockTransport

from laurels.sdk._client import AchievementsClient, NetworkError, SyncAchievementsClient
from laurels.sdk._exceptions import ClientClosed, LaurelsError, QueueError, ServiceError
from laurels.sdk._models import (
    Achievement,
    AchievementsPage,
    QueueStatus,
    SyncAchievementsPage,
    UpdateResult,
)
from laurels.sdk._policy import (
    E_BOUNDS,
    E_INVALIDARG,
    E_NOT_SUPPORTED,
    E_UNEXPECTED,
    NOT_MODIFIED,
)
from laurels.sdk._queue import OfflineQueue, default_queue_path

__all__ = [
    "E_BOUNDS",
    "E_INVALIDARG",
    "E_NOT_SUPPORTED",
    "E_UNEXPECTED",
    "NOT_MODIFIED",
    "Achievement",
    "AchievementsClient",
    "AchievementsPage",
    "ClientClosed",
    "LaurelsError",
    "MockTransport",
    "NetworkError",
    "OfflineQueue",
    "QueueError",
    "QueueStatus",
    "ServiceError",
    "SyncAchievementsClient",
    "SyncAchievementsPage",
    "UpdateResult",
    "default_queue_path",
]
