"""What one connected device asks for: subscribe (with a replay of what it missed
when it says `since`) and unsubscribe, answered per docs/realtime.md."""

from __future__ import annotations

import logging

from laurels.outbox import format_key
from laurels.realtime.hub import Connection
from laurels.realtime.protocol import (
    ACCESS_DENIED,
    LIMIT_REACHED,
    SUCCESS,
    UNAVAILABLE,
    UNKNOWN_RESOURCE,
    NotificationResource,
    Resource,
    Subscribe,
    Unsubscribe,
    parse_frame,
    parse_resource,
    subscribed,
    unsubscribed,
)
from laurels.realtime.relay import OutboxRelay
from laurels.titles import Catalog

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self, conn: Connection, *, relay: OutboxRelay, catalog: Catalog, max_subscriptions: int
    ) -> None:
        self._conn = conn
        self._relay = relay
        self._catalog = catalog
        self._max = max_subscriptions

    async def handle(self, text: str) -> None:
        """Answer one client frame; raises ProtocolError for a frame the protocol
        does not allow (the caller closes the connection)."""
        message = parse_frame(text)
        if isinstance(message, Unsubscribe):
            found = self._conn.subscriptions.pop(message.sub_id, None)
            self._conn.push(unsubscribed(message.seq, SUCCESS if found else UNKNOWN_RESOURCE))
            return
        await self._subscribe(message)

    async def _access(self, resource: Resource) -> int:
        conn = self._conn
        if resource.xuid != conn.xuid:
            return ACCESS_DENIED
        if isinstance(resource, NotificationResource):
            mine = conn.title_id is None or resource.title_id == conn.title_id
            return SUCCESS if mine else ACCESS_DENIED
        title = await self._catalog.by_scid(conn.sandbox, resource.scid)
        if title is None:
            return UNKNOWN_RESOURCE
        mine = conn.title_id is None or title.title_id == conn.title_id
        return SUCCESS if mine else ACCESS_DENIED

    def _initial(self, resource: Resource) -> dict[str, str]:
        data = {"lastEventId": format_key(self._relay.cursor)}
        if not isinstance(resource, NotificationResource):
            data["serviceConfigId"] = resource.scid
        return data

    async def _subscribe(self, message: Subscribe) -> None:
        conn = self._conn
        resource = parse_resource(message.uri)
        code = UNKNOWN_RESOURCE if resource is None else await self._access(resource)
        if resource is None or code != SUCCESS:
            conn.push(subscribed(message.seq, code))
            return
        existing = conn.subscription_for(resource)
        if existing is not None:  # one device, one event per change
            conn.push(subscribed(message.seq, SUCCESS, existing.sub_id, self._initial(resource)))
            return
        if len(conn.subscriptions) >= self._max:
            conn.push(subscribed(message.seq, LIMIT_REACHED))
            return
        initial = self._initial(resource)
        sub = conn.add(resource, self._relay.cursor, replaying=message.since is not None)
        if message.since is None:
            conn.push(subscribed(message.seq, SUCCESS, sub.sub_id, initial))
            return
        try:
            replayed = await self._relay.replay(conn, sub, message.since)
        except Exception:
            log.exception("could not replay missed events")
            del conn.subscriptions[sub.sub_id]
            conn.push(subscribed(message.seq, UNAVAILABLE))
            return
        sub.last_key = message.since
        conn.push(subscribed(message.seq, SUCCESS, sub.sub_id, initial))
        await conn.release(sub, replayed)
