"""The achievements manager: a local, always current view of the local players'
achievements, for a game that polls once a frame (spec/sdk.md).

    manager = AchievementsManager(client)
    await manager.add_local_user(xuid)
    for event in manager.do_work():   # once a frame; never blocks
        ...

A background task in the event loop of `add_local_user` reads the real-time
channel and merges what the service says into the cache (`_cache.merge`:
progress is a maximum, an unlock final), queueing an event for each real change;
`do_work()` only hands those over. The cache changes only on the service's word
(an event or a read), never on an update the game sends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

from laurels.sdk import _rta as rta
from laurels.sdk._cache import (
    ManagerEvent,
    ManagerEventType,
    Observation,
    SortBy,
    State,
    is_event_based,
    merge,
    observed_change,
    observed_fetch,
    observed_unlock,
    select,
    update_refusal,
)
from laurels.sdk._client import AchievementsClient
from laurels.sdk._exceptions import LaurelsError, ManagerError, SubscriptionError
from laurels.sdk._models import (
    Achievement,
    ProgressEvent,
    RealtimeEvent,
    ResyncEvent,
    UnlockNotification,
    UpdateResult,
)
from laurels.sdk._policy import E_BOUNDS, E_NOT_SUPPORTED
from laurels.sdk._realtime import RealtimeSubscriber

log = logging.getLogger("laurels.sdk")
T = TypeVar("T")
PAGE_SIZE = 1000  # the service's largest page: one request for most titles


class _User:
    def __init__(self) -> None:
        self.achievements: dict[str, Achievement] | None = None  # None until synced
        self.early: list[RealtimeEvent] = []  # what arrived while the first read ran
        self.event_based: set[str] = set()  # ids the service answered 409 for


class AchievementsManager:
    """A cache of the local players' achievements kept current by the real-time
    channel. Rule violations raise ManagerError at once, carrying the reference
    manager's `hresult` (E_BOUNDS, E_UNEXPECTED, E_NOT_SUPPORTED, E_INVALIDARG);
    ValueError is for arguments of the wrong type or value. The reads, `do_work`
    and `update_achievement` may be called from any thread and never wait on the
    network; `add_local_user` and `aclose` are coroutines of one event loop.

    `subscriber`, when given, is used (and closed by `aclose`) instead of a
    RealtimeSubscriber made from the client."""

    def __init__(
        self, client: AchievementsClient, *, subscriber: RealtimeSubscriber | None = None
    ) -> None:
        self._client = client
        self._subscriber = subscriber
        self._lock = threading.Lock()  # guards the users and the event queue
        self._users: dict[str, _User] = {}
        self._events: deque[ManagerEvent] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._leaving: dict[str, concurrent.futures.Future[Any]] = {}  # unsubscribes under way
        # What last went wrong on the real-time channel. After an error that ends it
        # (HandshakeRefused: the token is refused for good), the cache stops
        # following the service: remove the players and add them again.
        self.last_error: LaurelsError | None = None

    async def __aenter__(self) -> AchievementsManager:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    # -- users -----------------------------------------------------------------------

    async def add_local_user(self, xuid: str | int) -> None:
        """Subscribe to the player's progress and unlocks, then read every one of
        their achievements, then queue LOCAL_USER_INITIAL_STATE_SYNCED; in that
        order, so nothing that happens during the read is missed. Adding a player
        twice does nothing. Raises what the subscriber or the read raise
        (SubscriptionError, HandshakeRefused, NetworkError, ServiceError), with the
        player not added."""
        player = rta.player(xuid)
        subscriber = self._start()
        leaving = self._leaving.pop(player, None)
        if leaving is not None:  # removed a moment ago: its unsubscribe goes first
            await asyncio.wrap_future(leaving)
        with self._lock:
            if player in self._users:
                return
            user = self._users[player] = _User()
        try:
            await subscriber.subscribe_progress(player)
            await subscriber.subscribe_notifications(player)
            self._listen_to(subscriber)
            fetched = await self._read_all(player)
        except BaseException:
            with self._lock:
                if self._users.get(player) is user:
                    del self._users[player]
            await subscriber.unsubscribe(player)
            raise
        if self._synced(player, user, fetched):
            self._spawn(self._refresh(player))

    def _synced(self, player: str, user: _User, fetched: list[Achievement]) -> bool:
        """Fill the cache, queue the synced event, then merge what arrived during
        the read. True when the connection was lost meanwhile: the read may
        predate what it carried, so it is read again."""
        with self._lock:
            if self._users.get(player) is not user:
                return False  # removed meanwhile
            user.achievements = {a.id: a for a in fetched}
            self._events.append(
                ManagerEvent(ManagerEventType.LOCAL_USER_INITIAL_STATE_SYNCED, player)
            )
            for event in user.early:
                self._apply(player, user, event)
            resynced = any(isinstance(e, ResyncEvent) for e in user.early)
            user.early.clear()
        return resynced

    def remove_local_user(self, xuid: str | int) -> None:
        """Forget the player and stop their subscriptions (in the background).
        Raises ManagerError(E_BOUNDS) for a player not added."""
        player = str(xuid)
        with self._lock:
            if self._users.pop(player, None) is None:
                raise ManagerError(E_BOUNDS, f"{player} is not a local user")
        if self._subscriber is not None and self._loop is not None:
            self._leaving[player] = self._submit(self._subscriber.unsubscribe(player))

    # -- the frame loop --------------------------------------------------------------

    def do_work(self) -> list[ManagerEvent]:
        """The events since the last call, oldest first. Never blocks on I/O."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def get_achievements(
        self,
        xuid: str | int,
        *,
        sort_by: SortBy | None = None,
        descending: bool = False,
        state: State | None = None,
    ) -> list[Achievement]:
        """The cached achievements of a synced player, filtered by `state`
        ("Achieved", "NotStarted", "InProgress") and sorted (None: the service's
        order; "Title"; "UnlockTime": unlocked ones by time, then the others).
        Raises ManagerError(E_BOUNDS) for a player not (yet) synced."""
        with self._lock:
            cache = self._cache(str(xuid))
            items = list(cache.values())
        return select(items, sort_by=sort_by, descending=descending, state=state)

    def get_achievement(self, xuid: str | int, achievement_id: str) -> Achievement:
        """The cached achievement; ManagerError(E_BOUNDS) for an unknown player or id."""
        with self._lock:
            found = self._cache(str(xuid)).get(achievement_id)
        if found is None:
            raise ManagerError(E_BOUNDS, f"no achievement {achievement_id!r}")
        return found

    def update_achievement(
        self, xuid: str | int, achievement_id: str, percent: int
    ) -> concurrent.futures.Future[UpdateResult]:
        """Send the player's progress (above 100 acts as 100) through the client,
        in the background; returns at once a Future of the client's result. The
        cache moves when the service confirms it, never here. Raises ManagerError:
        E_BOUNDS (unknown player or id), E_UNEXPECTED (already unlocked),
        E_NOT_SUPPORTED (event-based), E_INVALIDARG (not above the cached value);
        ValueError when `percent` is not an integer. A refusal by the service
        comes later, as an ACHIEVEMENT_UPDATE_FAILED event."""
        if not isinstance(percent, int) or isinstance(percent, bool):
            raise ValueError(f"percent must be an integer, not {percent!r}")
        player, value = str(xuid), min(percent, 100)
        with self._lock:
            user = self._users.get(player)
            cache = user.achievements if user is not None else None
            cached = cache.get(achievement_id) if cache is not None else None
            event_based = (
                cached is not None
                and user is not None
                and (achievement_id in user.event_based or is_event_based(cached))
            )
            refusal = update_refusal(cached, value, event_based=event_based)
        if refusal is not None:
            raise ManagerError(*refusal)
        return self._submit(self._send(player, achievement_id, value))

    async def aclose(self) -> None:
        """Stop the background work and close the subscriber. Never raises."""
        if self._subscriber is not None:
            await self._subscriber.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    # -- the background --------------------------------------------------------------

    def _start(self) -> RealtimeSubscriber:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an AchievementsManager works in one event loop")
        if self._subscriber is None:
            self._subscriber = RealtimeSubscriber(self._client)
        return self._subscriber

    def _listen_to(self, subscriber: RealtimeSubscriber) -> None:
        """Read the subscriber's events, unless already reading. Called once a
        subscribe succeeded: after the channel broke for good, a successful
        subscribe means a new one, to be read again."""
        if self._listener is None or self._listener.done():
            self._listener = self._spawn(self._listen(subscriber))

    def _spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _submit(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run `work` in the manager's loop, from any thread, without waiting."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self._tracked(work), self._loop)

    async def _tracked(self, work: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.current_task()
        if task is not None:  # so that aclose() can stop it
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await work

    async def _listen(self, subscriber: RealtimeSubscriber) -> None:
        while True:
            try:
                event = await anext(subscriber)
            except StopAsyncIteration:
                return
            except SubscriptionError as exc:  # one resource refused; the rest go on
                self._broken(exc)
                continue
            except LaurelsError as exc:  # the channel is gone for good
                self._broken(exc)
                return
            self._on_event(event)

    def _broken(self, error: LaurelsError) -> None:
        log.warning("achievements manager: real-time channel: %s", error)
        self.last_error = error

    def _on_event(self, event: RealtimeEvent) -> None:
        with self._lock:
            if isinstance(event, ResyncEvent):
                stale = [p for p, u in self._users.items() if u.achievements is not None]
                for syncing in self._users.values():
                    if syncing.achievements is None:
                        syncing.early.append(event)
            else:
                stale = []
                user = self._users.get(event.xuid)
                if user is not None and user.achievements is None:
                    user.early.append(event)
                elif user is not None:
                    self._apply(event.xuid, user, event)
        for player in stale:
            self._spawn(self._refresh(player))

    def _apply(self, player: str, user: _User, event: RealtimeEvent) -> None:
        """(Under the lock.) Merge one real-time event into a synced player's cache."""
        if isinstance(event, ProgressEvent) and event.scid == self._client._engine.scid:
            for change in event.changes:
                self._merge(player, user, change.id, observed_change(change))
        elif (
            isinstance(event, UnlockNotification)
            and event.title_id == self._client._engine.title_id
        ):
            self._merge(player, user, event.achievement_id, observed_unlock(event))

    def _merge(self, player: str, user: _User, achievement_id: str, seen: Observation) -> None:
        assert user.achievements is not None
        cached = user.achievements.get(achievement_id)
        if cached is None:
            if seen.fetched is not None:  # published after the first read
                user.achievements[achievement_id] = seen.fetched
            return
        merged, raised = merge(cached, seen)
        user.achievements[achievement_id] = merged
        for kind in raised:
            self._events.append(ManagerEvent(kind, player, achievement_id, merged))

    async def _read_all(self, player: str) -> list[Achievement]:
        page = await self._client.get_achievements(player, max_items=PAGE_SIZE)
        items = list(page.items)
        while page.has_next:
            page = await page.get_next()
            items.extend(page.items)
        return items

    async def _refresh(self, player: str, achievement_id: str | None = None) -> None:
        """Read the player's achievements (or one) again and merge them: raises
        events only for what really changed. A failed read is logged: the next
        reconnect or update tries again."""
        try:
            if achievement_id is None:
                fetched = await self._read_all(player)
            else:
                fetched = [await self._client.get_achievement(player, achievement_id)]
        except LaurelsError as exc:
            log.warning("achievements manager: refreshing %s failed: %s", player, exc)
            return
        with self._lock:
            user = self._users.get(player)
            if user is None or user.achievements is None:
                return
            for achievement in fetched:
                self._merge(player, user, achievement.id, observed_fetch(achievement))

    async def _send(self, player: str, achievement_id: str, percent: int) -> UpdateResult:
        result = await self._client.update_achievement(player, achievement_id, percent)
        if result.status == "not_modified":
            # the service already has as much: the cache is behind, catch it up
            await self._refresh(player, achievement_id)
        elif result.status == "rejected":
            self._refused(player, achievement_id, result)
        return result

    def _refused(self, player: str, achievement_id: str, result: UpdateResult) -> None:
        event_based = result.http_status == 409  # the service's answer for event-driven ones
        with self._lock:
            user = self._users.get(player)
            cache = user.achievements if user is not None else None
            if user is not None and event_based:
                user.event_based.add(achievement_id)
            self._events.append(
                ManagerEvent(
                    ManagerEventType.ACHIEVEMENT_UPDATE_FAILED,
                    player,
                    achievement_id,
                    cache.get(achievement_id) if cache is not None else None,
                    E_NOT_SUPPORTED if event_based else result.hresult,
                )
            )

    def _cache(self, player: str) -> dict[str, Achievement]:
        """(Under the lock.) A synced player's cache; ManagerError(E_BOUNDS) else."""
        user = self._users.get(player)
        if user is None or user.achievements is None:
            raise ManagerError(E_BOUNDS, f"{player} is not a synced local user")
        return user.achievements
