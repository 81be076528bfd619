"""The clients a game links against. Both are bound to one title in one sandbox,
like an Xbox Live context, and share one engine: calls run on the client's worker
thread (see `_worker`), so a game's own loop or frame never waits on the network.

    async with AchievementsClient(url, title_id=..., scid=..., sandbox=..., token=...) as c:
        result = await c.update_achievement(xuid, "1", 40)
        result = await c.write_event(xuid, "EnemyDefeated", measurements={"count": 1})
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import httpx

from laurels.sdk._delivery import Deliverer, Identity, events_body, events_url, headers, update_url
from laurels.sdk._eventlog import DEFAULT_MAX_QUEUED_EVENTS, QueuedEvent
from laurels.sdk._exceptions import LaurelsError, QueueError, ServiceError
from laurels.sdk._models import (
    Achievement,
    AchievementsPage,
    EventResult,
    SyncAchievementsPage,
    UpdateResult,
)
from laurels.sdk._policy import (
    E_QUEUE_FULL,
    NOT_MODIFIED,
    QUEUE_FULL,
    Outcome,
    check_event,
    check_update,
    classify,
    classify_events,
    coalesce,
    describe,
    hresult,
    iso_time,
    retry_after,
)
from laurels.sdk._queue import QueueStatus, open_queue
from laurels.sdk._token import Blocked, Speaks, read_claims, speaks_for, storable
from laurels.sdk._worker import Worker

log = logging.getLogger("laurels.sdk")
T = TypeVar("T")
TokenProvider = Callable[[], str | Awaitable[str]]
ORDERS = ("Unordered", "Title", "UnlockTime", "EndingSoon")


class NetworkError(LaurelsError):
    """A read could not reach the service."""


class _Engine:
    """What both clients do, run on the worker's loop."""

    def __init__(
        self,
        base_url: str,
        *,
        title_id: int,
        scid: str,
        sandbox: str,
        token: str | None,
        token_provider: TokenProvider | None,
        queue_path: Any,
        transport: httpx.AsyncBaseTransport | None,
        timeout: float,
        exit_timeout: float,
        clock: Callable[[], float],
        max_queued_events: int = DEFAULT_MAX_QUEUED_EVENTS,
    ) -> None:
        if token is not None and token_provider is not None:
            raise ValueError("give token or token_provider, not both")
        if not isinstance(max_queued_events, int) or max_queued_events < 1:
            raise ValueError("max_queued_events must be a positive int")
        self.max_queued_events = max_queued_events
        self._event_order: dict[str, asyncio.Lock] = {}  # per player: one event at a time
        if not isinstance(title_id, int) or not 0 < title_id < 2**32:
            raise ValueError("title_id must be a uint32")
        self.service = base_url.rstrip("/")
        self.title_id, self.scid, self.sandbox = title_id, scid.lower(), sandbox
        self._token, self._provider = token, token_provider
        self.queue = open_queue(queue_path, clock=clock)
        self.clock = clock
        self._credentialed: set[str] = set()
        self._credentialing: dict[str, asyncio.Task[None]] = {}  # one request per player
        self._last_token = token  # the provider's latest, for writes off the worker's loop
        self._kept: set[tuple[str, str]] = set()  # (xuid, token) stored in the queue file
        identity = Identity(self.service, sandbox, title_id, self.token)

        def build() -> Deliverer:
            http = httpx.AsyncClient(
                transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0))
            )
            return Deliverer(self.queue, http, identity=identity)

        self.worker = Worker(build, service=self.service, exit_timeout=exit_timeout)

    def deliver_at_start(self) -> None:
        """If the queue file holds updates for this service (of an earlier session,
        perhaps never online), start the worker and try them all now, backoffs
        waived: each goes with this session's token if it is that player's, else
        with what the file holds for that player. Returns at once."""
        try:
            waiting = self.queue.pending_count(self.service)
        except Exception as exc:  # the worker's own passes will meet it again
            log.warning("cannot read the offline queue at start: %s", exc)
            return
        if waiting:
            self.worker.submit(lambda d: d.run_once(force=True))

    async def token(self) -> str | None:
        if self._provider is None:
            return self._token
        value = self._provider()
        token = await value if inspect.isawaitable(value) else value
        self._last_token = token
        return token

    async def _token_to_send(self) -> str | None:
        """The session's token, or None (what is sent is queued instead) when there
        is none or the provider fails."""
        try:
            return await self.token()
        except Exception as exc:
            log.warning("token provider failed, queueing: %s", exc)
            return None

    def keep_token(self, xuid: str) -> None:
        """(Any thread.) Keep this session's token in the queue file for the player,
        if it says it is that player's and the file has no delivery credential for
        them, so that `laurels sync` can exchange it for one once the network
        returns, after the game has gone. Erased there once exchanged or expired."""
        token = self._last_token
        if token is None or (xuid, token) in self._kept:
            return
        claims = read_claims(token)
        title_id, sandbox = self.title_id, self.sandbox
        if claims is None or claims.expires_at is None:
            return
        if not storable(claims, xuid=xuid, title_id=title_id, sandbox=sandbox, now=self.clock()):
            return
        try:
            if self.queue.save_session_token(
                service=self.service,
                sandbox=sandbox,
                title_id=title_id,
                xuid=xuid,
                token=token,
                expires_at=claims.expires_at,
            ):
                self._kept.add((xuid, token))
        except Exception as exc:  # the update is on disk; only `laurels sync` is worse off
            log.warning("cannot keep the session token of %s in the queue: %s", xuid, exc)

    def status(self) -> QueueStatus:
        """The queue file's status; updates this session's token can deliver are not
        counted as blocked."""
        state = self.queue.status()
        return replace(state, blocked=tuple(b for b in state.blocked if not self._can(b)))

    def _can(self, blocked: Blocked) -> bool:
        token = self._last_token
        if token is None or (blocked.service, blocked.sandbox, blocked.title_id) != (
            self.service,
            self.sandbox,
            self.title_id,
        ):
            return False
        verdict = speaks_for(
            read_claims(token),
            xuid=blocked.xuid,
            title_id=self.title_id,
            sandbox=self.sandbox,
            now=self.clock(),
        )
        return verdict is Speaks.YES

    # -- updates -----------------------------------------------------------------

    def known_offline(self) -> bool:
        """Whether the last attempt to reach the service failed a moment ago (read
        from another thread: a float, safe under the GIL)."""
        deliverer = self.worker.deliverer
        return deliverer is not None and deliverer.offline

    def enqueue_offline(
        self, xuid: str, achievement_id: str, percent: int, achieved_at: float
    ) -> UpdateResult:
        """(Any thread.) Straight to disk, for a service known to be unreachable."""
        self.write(xuid, achievement_id, percent, achieved_at)
        return UpdateResult("queued", 0, None, "offline")

    def write(
        self,
        xuid: str,
        achievement_id: str,
        percent: int,
        achieved_at: float,
        not_before: float = 0.0,
    ) -> None:
        """(Any thread.) Queue this client's update on disk, with this session's token
        if nothing else could deliver it after the game (`keep_token`); returns once
        both are there."""
        self.queue.enqueue(
            service=self.service,
            sandbox=self.sandbox,
            title_id=self.title_id,
            scid=self.scid,
            xuid=xuid,
            achievement_id=achievement_id,
            percent=percent,
            achieved_at=achieved_at,
            not_before=not_before,
        )
        self.keep_token(xuid)

    async def update(
        self, d: Deliverer, xuid: str, achievement_id: str, percent: int, achieved_at: float
    ) -> UpdateResult:
        if d.offline:  # known unreachable: straight to disk, no connection attempt
            return await self._enqueue(xuid, achievement_id, percent, achieved_at, "offline")
        token = await self._token_to_send()
        if token is None:
            return await self._enqueue(xuid, achievement_id, percent, achieved_at, None)
        when = await asyncio.to_thread(
            self._time_reached, xuid, achievement_id, percent, achieved_at
        )
        body = {
            "action": "progressUpdate",
            "serviceConfigId": self.scid,
            "titleId": self.title_id,
            "userId": xuid,
            "achievements": [
                {"id": achievement_id, "percentComplete": percent, "timeAchieved": iso_time(when)}
            ],
        }
        try:
            response = await d.http.post(
                update_url(self.service, xuid, self.scid), json=body, headers=headers(token)
            )
        except httpx.HTTPError as exc:
            d.went_offline()
            return await self._enqueue(xuid, achievement_id, percent, when, str(exc))
        except asyncio.CancelledError:
            # The client is closing mid-request: the answer will never be read, so
            # keep the update (a replay is harmless: the service keeps a maximum).
            self.write(xuid, achievement_id, percent, when)
            raise
        d.offline_until = 0.0
        return await self._answer(d, response, xuid, achievement_id, percent, when)

    def _time_reached(self, xuid: str, achievement_id: str, percent: int, now: float) -> float:
        """When the player first reached `percent`: earlier than now if an offline
        update of that value is still queued; now if the queue cannot be read (an
        online update never waits on a broken queue)."""
        try:
            queued = self.queue.queued(*self._key(xuid, achievement_id))
        except QueueError as exc:
            log.warning("offline queue unreadable, sending the update as of now: %s", exc)
            return now
        merged = coalesce(queued, percent, now)
        return merged.time_achieved if merged.percent == percent else now

    def _key(self, xuid: str, achievement_id: str) -> tuple[str, str, str, str, str]:
        return self.service, self.sandbox, self.scid, xuid, achievement_id

    async def _answer(
        self,
        d: Deliverer,
        response: httpx.Response,
        xuid: str,
        achievement_id: str,
        percent: int,
        when: float,
    ) -> UpdateResult:
        status = response.status_code
        outcome = classify(status, response.content)
        if outcome is Outcome.RETRY:  # also any answer that is not the service's
            wait = retry_after(response.headers.get("retry-after"), self.clock())
            error = f"HTTP {status}: {_description(response)}"
            return await self._enqueue(xuid, achievement_id, percent, when, error, hold=wait)
        if outcome is not Outcome.REJECTED:
            d.good_answer()
        self.worker.wake()  # the service is reachable: deliver anything queued
        if outcome is Outcome.REJECTED:
            return UpdateResult("rejected", hresult(status), status, _description(response))
        self._credential_for(d, xuid)
        if outcome is Outcome.NOT_MODIFIED:
            return UpdateResult("not_modified", NOT_MODIFIED, status)
        return UpdateResult("updated", 0, status)

    async def _enqueue(
        self,
        xuid: str,
        achievement_id: str,
        percent: int,
        when: float,
        error: str | None,
        hold: float | None = None,
    ) -> UpdateResult:
        not_before = self.clock() + hold if hold else 0.0  # a Retry-After, in the same write
        await asyncio.to_thread(self.write, xuid, achievement_id, percent, when, not_before)
        log.info("achievement %s of %s queued (%s)", achievement_id, xuid, error or "no token")
        return UpdateResult("queued", 0, None, error)

    # -- events --------------------------------------------------------------------

    def new_event(
        self, xuid: str, name: str, dimensions: dict[str, str], measurements: dict[str, int]
    ) -> QueuedEvent:
        """The event as written now: its id and time are fixed here, once."""
        return QueuedEvent(
            0,
            str(uuid.uuid4()),
            self.service,
            self.sandbox,
            self.title_id,
            self.scid,
            xuid,
            name,
            self.clock(),
            dimensions,
            measurements,
        )

    async def event(self, d: Deliverer, event: QueuedEvent) -> EventResult:
        """Send the event at once when the service is reachable and nothing of the
        player is queued; else queue it behind the player's others. One event of a
        player at a time, so that one sent directly never overtakes one that is
        about to be queued."""
        async with self._event_order.setdefault(event.xuid, asyncio.Lock()):
            if d.offline:
                return await self._queue_event(event, "offline")
            if await asyncio.to_thread(self._behind_others, event):
                self.worker.wake()
                return await self._queue_event(event, None)
            return await self._send_event(d, event)

    def _behind_others(self, event: QueuedEvent) -> bool:
        """Whether the player has events queued (an unreadable queue: no, send)."""
        try:
            return self.queue.events_queued(self.service, self.sandbox, self.title_id, event.xuid)
        except QueueError as exc:
            log.warning("offline queue unreadable, sending the event directly: %s", exc)
            return False

    async def _send_event(self, d: Deliverer, event: QueuedEvent) -> EventResult:
        token = await self._token_to_send()
        if token is None:
            return await self._queue_event(event, "no token")
        try:
            response = await d.http.post(
                events_url(self.service, event.xuid),
                json=events_body([event]),
                headers=headers(token),
            )
        except httpx.HTTPError as exc:
            d.went_offline()
            return await self._queue_event(event, str(exc))
        except asyncio.CancelledError:
            # The client is closing mid-request: keep the event (its id makes a
            # redelivery harmless if the service took it).
            self._write_event(event)
            raise
        d.offline_until = 0.0
        return await self._event_answer(d, response, event)

    async def _event_answer(
        self, d: Deliverer, response: httpx.Response, event: QueuedEvent
    ) -> EventResult:
        status = response.status_code
        outcome = classify_events(status, response.content)
        if outcome is Outcome.RETRY:
            wait = retry_after(response.headers.get("retry-after"), self.clock())
            error = f"HTTP {status}: {_description(response)}"
            return await self._queue_event(event, error, hold=wait)
        if outcome is Outcome.REJECTED:
            self.worker.wake()
            return EventResult(
                "rejected", hresult(status), event.event_id, status, _description(response)
            )
        d.good_answer()
        self.worker.wake()
        self._credential_for(d, event.xuid)
        return EventResult("sent", 0, event.event_id, status)

    async def _queue_event(
        self, event: QueuedEvent, error: str | None, hold: float | None = None
    ) -> EventResult:
        not_before = self.clock() + hold if hold else 0.0
        if not await asyncio.to_thread(self._write_event, event, not_before):
            log.warning("event %s of %s refused: the offline queue is full", event.name, event.xuid)
            return EventResult("rejected", E_QUEUE_FULL, event.event_id, None, QUEUE_FULL)
        log.info("event %s of %s queued (%s)", event.name, event.xuid, error or "behind others")
        return EventResult("queued", 0, event.event_id, None, error)

    def _write_event(self, event: QueuedEvent, not_before: float = 0.0) -> bool:
        """(Any thread.) Queue the event on disk, as `write` does an update; False
        when the queue is full."""
        done = self.queue.enqueue_event(event, not_before=not_before, limit=self.max_queued_events)
        if done:
            self.keep_token(event.xuid)
        return done

    def _credential_for(self, d: Deliverer, xuid: str) -> None:
        """(On the loop.) Get the player's delivery credential in the background,
        once a session."""
        if xuid not in self._credentialed and xuid not in self._credentialing:
            task = asyncio.get_running_loop().create_task(self.ensure_credential(d, xuid))
            self._credentialing[xuid] = task
            task.add_done_callback(lambda _: self._credentialing.pop(xuid, None))

    async def ensure_credential(self, d: Deliverer, xuid: str) -> None:
        """Ask the service for this player's delivery credential, once a session, so
        updates queued later can be delivered after the session token expired
        (`Deliverer.exchange`). Never raises: after a network error or an answer
        that is not the service's (a captive portal's page, a body without the
        credential) it is asked again after the next update; a queue error is
        logged, and the session token stays wherever it was stored."""
        try:
            await self._ensure_credential(d, xuid)
        except Exception as exc:  # (a task nobody awaits: say it here)
            log.warning("cannot get a delivery credential for %s: %s", xuid, exc)

    async def _ensure_credential(self, d: Deliverer, xuid: str) -> None:
        player: dict[str, Any] = {
            "service": self.service,
            "sandbox": self.sandbox,
            "title_id": self.title_id,
            "xuid": xuid,
        }
        stored = await asyncio.to_thread(self.queue.credential, **player)
        token = await self.token()
        if stored is not None or token is None or (await d.exchange(player, token)).answered:
            self._credentialed.add(xuid)

    # -- reads -------------------------------------------------------------------

    async def _get(self, d: Deliverer, path: str, params: dict[str, Any]) -> dict[str, Any]:
        token = await self.token()
        if token is None:
            raise ServiceError(401, hresult(401), "no token to read with")
        try:
            response = await d.http.get(self.service + path, params=params, headers=headers(token))
        except httpx.HTTPError as exc:
            raise NetworkError(f"cannot reach {self.service}: {exc}") from exc
        if response.status_code != 200:
            raise ServiceError(
                response.status_code, hresult(response.status_code), _description(response)
            )
        try:
            data = response.json()
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):  # a captive portal's page, a proxy's answer
            raise NetworkError(f"{self.service} answered with something that is not Laurels")
        return data

    async def page(
        self, d: Deliverer, xuid: str, params: dict[str, Any]
    ) -> tuple[list[Achievement], int, str | None]:
        """(items, total, continuation token) of one page."""
        data = await self._get(d, f"/users/xuid({xuid})/achievements", params)
        paging = data.get("pagingInfo") or {}
        return (
            [Achievement.from_wire(i) for i in data["achievements"]],
            int(paging.get("totalRecords", 0)),
            paging.get("continuationToken"),
        )

    async def one(self, d: Deliverer, xuid: str, achievement_id: str) -> Achievement:
        data = await self._get(
            d, f"/users/xuid({xuid})/achievements/{self.scid}/{achievement_id}", {}
        )
        return Achievement.from_wire(data["achievements"][0])

    def list_params(
        self,
        *,
        unlocked_only: bool,
        possible_only: bool,
        order_by: str,
        max_items: int,
        types: str | None,
    ) -> dict[str, Any]:
        if order_by not in ORDERS:
            raise ValueError(f"order_by must be one of {ORDERS}")
        if not 1 <= max_items <= 1000:
            raise ValueError("max_items must be 1..1000")
        params: dict[str, Any] = {
            "titleId": self.title_id,
            "orderBy": order_by,
            "maxItems": max_items,
            "unlockedOnly": str(unlocked_only).lower(),
            "possibleOnly": str(possible_only).lower(),
        }
        if types:
            params["types"] = types
        return params


def _description(response: httpx.Response) -> str:
    return describe(response.status_code, response.content, response.reason_phrase)


class _Base:
    def __init__(
        self,
        base_url: str,
        *,
        title_id: int,
        scid: str,
        sandbox: str,
        token: str | None = None,
        token_provider: TokenProvider | None = None,
        queue_path: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        exit_timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
        max_queued_events: int = DEFAULT_MAX_QUEUED_EVENTS,
    ) -> None:
        self._engine = _Engine(
            base_url,
            title_id=title_id,
            scid=scid,
            sandbox=sandbox,
            token=token,
            token_provider=token_provider,
            queue_path=queue_path,
            transport=transport,
            timeout=timeout,
            exit_timeout=exit_timeout,
            clock=clock,
            max_queued_events=max_queued_events,
        )
        self._engine.deliver_at_start()

    def status(self) -> QueueStatus:
        """Pending and dead-letter counts of the queue file, the last rejection
        reasons, the last delivery error, and the players whose updates nothing can
        deliver now (`blocked`: no delivery credential, no valid session token, and
        not this session's player), each saying what will; `not_durable` says when
        the queue location could not be used and the queue lives in this process's
        memory (`_queue.open_queue`). Reads the file; no network."""
        return self._engine.status()

    def _update(
        self, xuid: object, achievement_id: object, percent_complete: object
    ) -> concurrent.futures.Future[UpdateResult]:
        player, identifier, percent = check_update(xuid, achievement_id, percent_complete)
        achieved_at = self._engine.clock()
        engine = self._engine
        return engine.worker.submit(
            lambda d: engine.update(d, player, identifier, percent, achieved_at)
        )

    def _event(
        self, xuid: object, name: object, dimensions: object, measurements: object
    ) -> concurrent.futures.Future[EventResult]:
        player, checked, texts, numbers = check_event(xuid, name, dimensions, measurements)
        engine = self._engine
        event = engine.new_event(player, checked, texts, numbers)
        return engine.worker.submit(lambda d: engine.event(d, event))

    def _flush(self, timeout: float) -> concurrent.futures.Future[int]:
        worker = self._engine.worker
        return worker.submit(lambda d: worker.flush(d, timeout))


class AchievementsClient(_Base):
    """The asyncio client. `update_achievement` never raises for delivery
    problems: offline, on a network error, 5xx, 408 or 429 it queues the update on
    disk and answers "queued"; it raises ValueError for impossible arguments."""

    async def __aenter__(self) -> AchievementsClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def update_achievement(
        self, xuid: str | int, achievement_id: str, percent_complete: int
    ) -> UpdateResult:
        engine = self._engine
        if engine.known_offline():  # one hop to a thread of this loop, not two
            player, identifier, percent = check_update(xuid, achievement_id, percent_complete)
            return await asyncio.to_thread(
                engine.enqueue_offline, player, identifier, percent, engine.clock()
            )
        return await asyncio.wrap_future(self._update(xuid, achievement_id, percent_complete))

    async def write_event(
        self,
        xuid: str | int,
        name: str,
        *,
        dimensions: dict[str, str] | None = None,
        measurements: dict[str, int] | None = None,
    ) -> EventResult:
        """Report that something happened to the player (an event-based title,
        spec/events.md). The SDK gives the event its id and time now. Never raises
        for delivery problems: offline, on a network error, 5xx, 408 or 429 (or
        when events of the player are queued already) the event is on disk before
        "queued" is returned, and is delivered in order by the worker or `laurels
        sync`; a permanent 4xx is "rejected" with its hresult, and so is an event a
        full queue (`max_queued_events`) cannot take (description "queue full").
        Raises ValueError for arguments that can never succeed (a name off
        `[A-Za-z][A-Za-z0-9_]{0,63}`, a dimension that is not a string, a
        measurement that is not an int or beyond int64), QueueError when the queue
        cannot be written."""
        return await asyncio.wrap_future(self._event(xuid, name, dimensions, measurements))

    async def get_achievements(
        self,
        xuid: str | int,
        *,
        unlocked_only: bool = False,
        possible_only: bool = False,
        order_by: str = "Unordered",
        max_items: int = 100,
        types: str | None = None,
    ) -> AchievementsPage:
        """One page of the player's achievements of this title; raises ServiceError
        for an HTTP error and NetworkError when the service is unreachable."""
        player = str(xuid)
        params = self._engine.list_params(
            unlocked_only=unlocked_only,
            possible_only=possible_only,
            order_by=order_by,
            max_items=max_items,
            types=types,
        )
        return await self._page(player, params)

    async def _page(self, xuid: str, params: dict[str, Any]) -> AchievementsPage:
        engine = self._engine
        items, total, token = await asyncio.wrap_future(
            engine.worker.submit(lambda d: engine.page(d, xuid, params))
        )

        async def fetch_next(continuation: str) -> AchievementsPage:
            return await self._page(xuid, {**params, "continuationToken": continuation})

        return AchievementsPage(items, total, token, fetch_next)

    async def get_achievement(self, xuid: str | int, achievement_id: str) -> Achievement:
        engine = self._engine
        return await asyncio.wrap_future(
            engine.worker.submit(lambda d: engine.one(d, str(xuid), achievement_id))
        )

    async def flush(self, timeout: float = 5.0) -> int:
        """Deliver what is queued for this service; returns how many updates are
        still queued, after at most `timeout` seconds. Returns sooner once all that
        can be delivered now is settled: updates nothing on this device can send
        (`status().blocked`) are not waited for, but counted in the result; updates
        held by a network error or a Retry-After are waited for until `timeout`."""
        return await asyncio.wrap_future(self._flush(timeout))

    async def close(self, timeout: float = 2.0) -> None:
        """Deliver what can be within `timeout`, then stop the worker. Undelivered
        updates stay on disk."""
        await asyncio.to_thread(self._engine.worker.close, timeout)


class SyncAchievementsClient(_Base):
    """For games with a frame loop: every call returns a
    `concurrent.futures.Future` at once and never blocks on the network;
    `callback(future)` runs when it completes (on the worker thread)."""

    def __enter__(self) -> SyncAchievementsClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @staticmethod
    def _with(
        future: concurrent.futures.Future[T],
        callback: Callable[[concurrent.futures.Future[T]], object] | None,
    ) -> concurrent.futures.Future[T]:
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def update_achievement(
        self,
        xuid: str | int,
        achievement_id: str,
        percent_complete: int,
        *,
        callback: Callable[[concurrent.futures.Future[UpdateResult]], object] | None = None,
    ) -> concurrent.futures.Future[UpdateResult]:
        return self._with(self._update(xuid, achievement_id, percent_complete), callback)

    def write_event(
        self,
        xuid: str | int,
        name: str,
        *,
        dimensions: dict[str, str] | None = None,
        measurements: dict[str, int] | None = None,
        callback: Callable[[concurrent.futures.Future[EventResult]], object] | None = None,
    ) -> concurrent.futures.Future[EventResult]:
        """`AchievementsClient.write_event`, returning a Future at once (the
        ValueError for impossible arguments is raised here, at once)."""
        return self._with(self._event(xuid, name, dimensions, measurements), callback)

    def get_achievements(
        self,
        xuid: str | int,
        *,
        unlocked_only: bool = False,
        possible_only: bool = False,
        order_by: str = "Unordered",
        max_items: int = 100,
        types: str | None = None,
        callback: Callable[[concurrent.futures.Future[SyncAchievementsPage]], object] | None = None,
    ) -> concurrent.futures.Future[SyncAchievementsPage]:
        params = self._engine.list_params(
            unlocked_only=unlocked_only,
            possible_only=possible_only,
            order_by=order_by,
            max_items=max_items,
            types=types,
        )
        return self._with(self._page(str(xuid), params), callback)

    def _page(
        self, xuid: str, params: dict[str, Any]
    ) -> concurrent.futures.Future[SyncAchievementsPage]:
        engine = self._engine

        def fetch_next(continuation: str) -> concurrent.futures.Future[SyncAchievementsPage]:
            return self._page(xuid, {**params, "continuationToken": continuation})

        async def fetch(d: Deliverer) -> SyncAchievementsPage:
            items, total, token = await engine.page(d, xuid, params)
            return SyncAchievementsPage(items, total, token, fetch_next)

        return engine.worker.submit(fetch)

    def get_achievement(
        self,
        xuid: str | int,
        achievement_id: str,
        *,
        callback: Callable[[concurrent.futures.Future[Achievement]], object] | None = None,
    ) -> concurrent.futures.Future[Achievement]:
        engine = self._engine
        return self._with(
            engine.worker.submit(lambda d: engine.one(d, str(xuid), achievement_id)), callback
        )

    def flush(self, timeout: float = 5.0) -> int:
        """Block up to `timeout` seconds delivering the queue; returns how many
        updates are still queued. Returns sooner once all that can be delivered
        now is settled: updates nothing on this device can send
        (`status().blocked`) are not waited for, but counted in the result."""
        return self._flush(timeout).result(timeout + 5.0)

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what can be within `timeout`, then stop the worker."""
        self._engine.worker.close(timeout)
