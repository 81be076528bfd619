"""The Laurels SDK: what a game links against (`pip install laurels`).

    from laurels.sdk import AchievementsClient

`update_achievement` drives a title-managed title; `write_event` an event-based one
(spec/events.md).

Needs only httpx, websockets and the standard library; importing it never imports
the service.
"""

from httpx import MockTransport

from laurels.sdk._cache import ManagerEvent, ManagerEventType
from laurels.sdk._client import AchievementsClient, NetworkError, SyncAchievementsClient
from laurels.sdk._exceptions import (
    ClientClosed,
    HandshakeRefused,
    LaurelsError,
    ManagerError,
    QueueError,
    ServiceError,
    SubscriptionError,
)
from laurels.sdk._manager import AchievementsManager
from laurels.sdk._models import (
    Achievement,
    AchievementsPage,
    EventResult,
    ProgressChange,
    ProgressEvent,
    QueueStatus,
    RealtimeEvent,
    ResyncEvent,
    SyncAchievementsPage,
    UnlockNotification,
    UpdateResult,
)
from laurels.sdk._policy import (
    E_BOUNDS,
    E_INVALIDARG,
    E_NOT_SUPPORTED,
    E_QUEUE_FULL,
    E_UNEXPECTED,
    NOT_MODIFIED,
    QUEUE_FULL,
)
from laurels.sdk._queue import OfflineQueue, default_queue_path
from laurels.sdk._realtime import RealtimeSubscriber

__all__ = [
    "E_BOUNDS",
    "E_INVALIDARG",
    "E_NOT_SUPPORTED",
    "E_QUEUE_FULL",
    "E_UNEXPECTED",
    "NOT_MODIFIED",
    "QUEUE_FULL",
    "Achievement",
    "AchievementsClient",
    "AchievementsManager",
    "AchievementsPage",
    "ClientClosed",
    "EventResult",
    "HandshakeRefused",
    "LaurelsError",
    "ManagerError",
    "ManagerEvent",
    "ManagerEventType",
    "MockTransport",
    "NetworkError",
    "OfflineQueue",
    "ProgressChange",
    "ProgressEvent",
    "QueueError",
    "QueueStatus",
    "RealtimeEvent",
    "RealtimeSubscriber",
    "ResyncEvent",
    "ServiceError",
    "SubscriptionError",
    "SyncAchievementsClient",
    "SyncAchievementsPage",
    "UnlockNotification",
    "UpdateResult",
    "default_queue_path",
]
