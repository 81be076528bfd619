"""The real-time subscriber: one WebSocket to the service's `GET /connect`
(docs/realtime.md) carrying a client's subscriptions, kept alive across losses.

    async with RealtimeSubscriber(client) as subscriber:
        await subscriber.subscribe_progress(xuid)
        await subscriber.subscribe_notifications(xuid)
        async for event in subscriber:
            ...  # ProgressEvent, UnlockNotification or ResyncEvent

A background task owns the connection. When it is lost, the task reconnects with
exponential backoff and full jitter, with a fresh token, and subscribes every
resource again with `since` set to the last event id it received there, so the
service replays what was missed; ids already seen are dropped, so no event is
yielded twice. The iterator's queue is bounded: a consumer that stops reading
stops the socket being read, and the service's own slow-reader rule (`[4]`) takes
over.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.http11 import Response
from websockets.typing import Subprotocol

from laurels.sdk._client import AchievementsClient, NetworkError, SyncAchievementsClient
from laurels.sdk._exceptions import ClientClosed, HandshakeRefused, LaurelsError, SubscriptionError
from laurels.sdk._models import RealtimeEvent, ResyncEvent
from laurels.sdk._policy import retry_after, service_error
from laurels.sdk._rta import (
    AUTH_STATUSES,
    OK,
    RECONNECT_BASE,
    RECONNECT_CAP,
    SUBPROTOCOL,
    TRANSIENT_CODES,
    EventFrame,
    EventIds,
    Frame,
    Resource,
    ResyncFrame,
    SubId,
    SubscribeAnswer,
    UnsubscribeAnswer,
    notification_resource,
    parse_event,
    parse_frame,
    player,
    progress_resource,
    reconnect_delay,
    refusal_delay,
    subscribe_frame,
    transient_refusal,
    unsubscribe_frame,
    websocket_url,
)

log = logging.getLogger("laurels.sdk")
Sleep = Callable[[float], Awaitable[None]]
Reason = Literal["reconnected", "resync"]
Item = RealtimeEvent | LaurelsError | None  # None wakes the iterator up


class _Reconnect(LaurelsError):
    """The service asked for a new connection (throttled or unavailable)."""


class _Subscription:
    def __init__(self, resource: Resource, ready: asyncio.Future[None]) -> None:
        self.resource = resource
        self.ready = ready  # done once the service first accepted it
        self.since: str | None = None  # the last event id received, for a resubscribe


class _Connection:
    """What one WebSocket has: subscribes sent, waiting for an answer, accepted."""

    def __init__(self, ws: ClientConnection, announce: ResyncEvent | None) -> None:
        self.ws = ws
        self.sent: set[str] = set()
        self.waiting: dict[int, str] = {}  # seq -> uri
        self.accepted: dict[SubId, str] = {}  # subId -> uri
        self.announce = announce  # yielded once every resubscribe is answered


class RealtimeSubscriber:
    """Real-time events of a client's title for its players (see the module
    docstring). Works in the event loop it is first used in.

    `subscribe_*` raise SubscriptionError when the service refuses the resource
    (unknown, another player's or title's, limit reached), and on the first
    connection HandshakeRefused (an HTTP status at the handshake, e.g. 403 for a
    bad token) or NetworkError (unreachable). A transient refusal at any
    handshake (408, 429 when the player holds too many sockets, a 5xx) is never
    raised: the subscriber tries again after its backoff or the Retry-After
    (bounded like an update's, at most 300 s), whichever is longer, for as long
    as it lasts, and `subscribe_*` waits meanwhile. Once connected, losses are
    retried forever; refusals of the token (401, 403) at a reconnect are retried
    `max_auth_failures` times (with a fresh token each) and then raised by the
    iterator, which also raises a SubscriptionError for a resource refused on a
    resubscribe."""

    def __init__(
        self,
        client: AchievementsClient | SyncAchievementsClient,
        *,
        language: str | None = None,
        max_auth_failures: int = 3,
        open_timeout: float = 10.0,
        backoff_base: float = RECONNECT_BASE,
        backoff_cap: float = RECONNECT_CAP,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        max_pending: int = 256,
        remembered_events: int = 4096,
    ) -> None:
        self._engine = client._engine
        self._url = websocket_url(self._engine.service)
        self._language = language
        self._max_auth_failures = max_auth_failures
        self._open_timeout = open_timeout
        self._backoff = (backoff_base, backoff_cap)
        self._sleep, self._rng = sleep, rng or random.Random()
        self._events: asyncio.Queue[Item] = asyncio.Queue(max_pending)
        self._seen = EventIds(remembered_events)
        self._subs: dict[str, _Subscription] = {}
        self._seq = itertools.count(1)
        self._conn: _Connection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._fatal: LaurelsError | None = None
        self._closed = False
        self._attempt = 0
        self._auth_failures = 0

    # -- the public surface ------------------------------------------------------------

    async def __aenter__(self) -> RealtimeSubscriber:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def __aiter__(self) -> RealtimeSubscriber:
        return self

    async def __anext__(self) -> RealtimeEvent:
        """The next event; waits for one. Raises the error that ended the
        connection for good, or a SubscriptionError of a refused resubscribe;
        stops after `aclose()`."""
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._events.empty() and self._fatal is not None:
                raise self._fatal
            item = await self._events.get()
            if isinstance(item, LaurelsError):
                raise item
            if item is not None:
                return item

    @property
    def connected(self) -> bool:
        """Whether a connection is open at this moment."""
        return self._conn is not None

    async def subscribe_progress(self, xuid: str | int) -> None:
        """Progress events of the player in the client's SCID; returns once the
        service accepted (see the class docstring for what it raises)."""
        await self._subscribe(progress_resource(player(xuid), self._engine.scid))

    async def subscribe_notifications(self, xuid: str | int) -> None:
        """Unlock notifications of the player in the client's title."""
        await self._subscribe(notification_resource(player(xuid), self._engine.title_id))

    async def unsubscribe(self, xuid: str | int) -> None:
        """Stop every subscription of the player; events already queued for it may
        still be yielded. Never raises for a lost connection."""
        who = player(xuid)
        for uri, sub in list(self._subs.items()):
            if sub.resource.xuid == who:
                del self._subs[uri]
                if not sub.ready.done():
                    sub.ready.set_exception(ClientClosed(f"unsubscribed from {uri}"))
                await self._send_unsubscribe(uri)

    async def aclose(self) -> None:
        """Close the connection and stop; pending subscribes raise ClientClosed and
        the iterator stops. Never raises."""
        if self._closed:
            return
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.wait([self._runner])
        self._fail_pending(ClientClosed("the subscriber was closed"))
        self._subs.clear()
        self._wake()

    # -- subscriptions ---------------------------------------------------------------

    async def _subscribe(self, resource: Resource) -> None:
        if self._closed:
            raise ClientClosed("the subscriber was closed")
        sub = self._subs.get(resource.uri)
        if sub is None:
            ready = asyncio.get_running_loop().create_future()
            ready.add_done_callback(_retrieve)
            sub = self._subs[resource.uri] = _Subscription(resource, ready)
            if self._conn is not None:
                await self._send_subscribe(self._conn, sub)
        self._ensure_runner()
        await asyncio.shield(sub.ready)

    def _ensure_runner(self) -> None:
        if self._runner is None or self._runner.done():
            self._fatal = None
            self._runner = asyncio.get_running_loop().create_task(self._run())

    async def _send_subscribe(self, conn: _Connection, sub: _Subscription) -> None:
        uri = sub.resource.uri
        if uri in conn.sent:
            return
        conn.sent.add(uri)
        seq = next(self._seq)
        conn.waiting[seq] = uri
        # a loss here is the runner's to handle: it subscribes everything again
        with contextlib.suppress(ConnectionClosed):
            await conn.ws.send(subscribe_frame(seq, uri, sub.since))

    async def _send_unsubscribe(self, uri: str) -> None:
        conn = self._conn
        if conn is None:
            return
        conn.sent.discard(uri)
        for sub_id, accepted in list(conn.accepted.items()):
            if accepted == uri:
                del conn.accepted[sub_id]
                with contextlib.suppress(ConnectionClosed):
                    await conn.ws.send(unsubscribe_frame(next(self._seq), sub_id))

    # -- the connection --------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._keep_connected()
        except Exception as exc:  # a bug: say so rather than hang every waiter
            log.exception("the real-time subscriber failed")
            self._fail(LaurelsError(f"the real-time subscriber failed: {exc!r}"))

    async def _keep_connected(self) -> None:
        reason: Reason | None = None  # None until the first connection opened
        while not self._closed:
            asked: float | None = None
            try:
                ws = await self._open()
            except LaurelsError as exc:
                if not self._may_retry(exc, first=reason is None):
                    self._fail(exc)
                    return
                log.info("real-time connection failed, trying again: %s", exc)
                asked = exc.retry_after if isinstance(exc, HandshakeRefused) else None
            else:
                self._auth_failures = 0
                reason = await self._serve(ws, reason)
            await self._sleep(refusal_delay(self._next_delay(), asked))

    def _next_delay(self) -> float:
        base, cap = self._backoff
        delay = reconnect_delay(self._attempt, self._rng, base=base, cap=cap)
        self._attempt += 1
        return delay

    def _may_retry(self, exc: LaurelsError, *, first: bool) -> bool:
        """A transient refusal (408, 429, 5xx) is retried for ever, even before
        the first connection. Otherwise the first connection's error is the
        caller's; later, network errors and other statuses are retried for ever
        and a refused token (401, 403) only so often, since retrying cannot fix a
        revoked player."""
        if isinstance(exc, HandshakeRefused) and transient_refusal(exc.status):
            return True
        if first:
            return False
        if isinstance(exc, NetworkError) or (
            isinstance(exc, HandshakeRefused) and exc.status not in AUTH_STATUSES
        ):
            return True
        self._auth_failures += 1
        return self._auth_failures < self._max_auth_failures

    async def _open(self) -> ClientConnection:
        try:
            token = await self._engine.token()
        except Exception as exc:
            raise HandshakeRefused(0, f"the token provider failed: {exc!r}") from exc
        if token is None:
            raise HandshakeRefused(0, "no token: give the client a token or a token_provider")
        headers = {"Authorization": f"Bearer {token}"}
        if self._language:
            headers["Accept-Language"] = self._language
        try:
            ws = await connect(
                self._url,
                subprotocols=[Subprotocol(SUBPROTOCOL)],
                additional_headers=headers,
                open_timeout=self._open_timeout,
                close_timeout=2.0,
            )
        except InvalidStatus as exc:
            response = exc.response
            asked = retry_after(response.headers.get("Retry-After"), time.time())
            raise HandshakeRefused(
                response.status_code, _refusal_text(response), retry_after=asked
            ) from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise NetworkError(f"cannot reach {self._url}: {exc!r}") from exc
        if ws.subprotocol != SUBPROTOCOL:
            log.warning("the service did not confirm the %s subprotocol", SUBPROTOCOL)
        return ws

    async def _serve(self, ws: ClientConnection, reason: Reason | None) -> Reason:
        """Subscribe everything on `ws` and relay its events until it ends;
        returns why the next connection is made."""
        conn = _Connection(ws, None if reason is None or not self._subs else ResyncEvent(reason))
        self._conn = conn
        try:
            for sub in list(self._subs.values()):
                await self._send_subscribe(conn, sub)
            async for message in ws:
                if await self._handle(conn, parse_frame(message)):
                    return "resync"
        except ConnectionClosed as exc:
            log.info("real-time connection lost: %s", exc)
        except ValueError as exc:
            log.warning("the service sent a frame outside the protocol (%s); reconnecting", exc)
        except _Reconnect as exc:
            log.info("real-time service asked to come back later: %s", exc)
        finally:
            self._conn = None
            with contextlib.suppress(Exception):
                await ws.close()
        return "reconnected"

    async def _handle(self, conn: _Connection, frame: Frame) -> bool:
        """Act on one frame; True for a resync, which needs a new connection."""
        if isinstance(frame, ResyncFrame):
            log.info("the service dropped events for this slow reader; resubscribing")
            return True
        if isinstance(frame, SubscribeAnswer):
            await self._on_answer(conn, frame)
        elif isinstance(frame, EventFrame):
            await self._on_event(conn, frame)
        elif isinstance(frame, UnsubscribeAnswer) and frame.code != OK:
            log.debug("unsubscribe %s answered code %s", frame.seq, frame.code)
        return False

    async def _on_answer(self, conn: _Connection, answer: SubscribeAnswer) -> None:
        uri = conn.waiting.pop(answer.seq, None)
        sub = self._subs.get(uri) if uri is not None else None
        if uri is None or sub is None:  # unsubscribed meanwhile
            if answer.code == OK and answer.sub_id is not None:
                await conn.ws.send(unsubscribe_frame(next(self._seq), answer.sub_id))
            return
        if answer.code in TRANSIENT_CODES:
            raise _Reconnect(f"subscribe to {uri}: code {answer.code}")
        if answer.code != OK or answer.sub_id is None:
            conn.sent.discard(uri)  # so that a later subscribe is sent again
            await self._refused(sub, SubscriptionError(answer.code, uri))
        else:
            conn.accepted[answer.sub_id] = uri
            # `since` stays what it was: a replay may still be on its way
            sub.since = sub.since or answer.last_event_id
            if not sub.ready.done():
                sub.ready.set_result(None)
        if not conn.waiting:
            self._attempt = 0  # a healthy connection: the next loss starts over
            if conn.announce is not None:
                event, conn.announce = conn.announce, None
                await self._events.put(event)

    async def _refused(self, sub: _Subscription, error: SubscriptionError) -> None:
        del self._subs[sub.resource.uri]
        if not sub.ready.done():
            sub.ready.set_exception(error)
        else:  # it was accepted before this connection: only the iterator can say
            await self._events.put(error)

    async def _on_event(self, conn: _Connection, frame: EventFrame) -> None:
        uri = conn.accepted.get(frame.sub_id)
        sub = self._subs.get(uri) if uri is not None else None
        if sub is None:
            return  # unsubscribed meanwhile
        try:
            event = parse_event(sub.resource, frame.data)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("dropped an event of %s outside the protocol: %r", uri, exc)
            return
        if event.event_id is not None:
            if not self._seen.first_time(sub.resource.uri, event.event_id):
                return
            sub.since = event.event_id
        await self._events.put(event)

    # -- failures --------------------------------------------------------------------

    def _fail(self, error: LaurelsError) -> None:
        """The runner stops: waiters and the iterator get `error`; subscriptions the
        service had accepted are kept, for a later subscribe to renew."""
        self._fatal = error
        self._fail_pending(error)
        self._wake()

    def _fail_pending(self, error: LaurelsError) -> None:
        for uri, sub in list(self._subs.items()):
            if not sub.ready.done():
                sub.ready.set_exception(error)
                del self._subs[uri]

    def _wake(self) -> None:
        if not self._events.full():
            self._events.put_nowait(None)


def _refusal_text(response: Response) -> str:
    """The service's description of a refused handshake (its JSON error body),
    else the body's text, else the reason phrase."""
    body = bytes(response.body or b"")
    error = service_error(body)
    if error is not None:
        return str(error["description"])
    return body.decode(errors="replace")[:500].strip() or response.reason_phrase


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a failed subscribe's error as seen: its caller may have gone."""
    if not future.cancelled():
        future.exception()
