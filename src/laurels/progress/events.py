"""The events path (spec/events.md): validate a `POST .../events` body against the
token and the title's published events, then hand it to the group-commit writer.

Every check happens before anything is written, so a refused request changes
nothing; an accepted one is applied whole, in one transaction (`event_plan.py`).
"""

from __future__ import annotations

from laurels.errors import BadRequest, Conflict, Forbidden, NotFound
from laurels.progress.event_plan import EventRequest
from laurels.progress.rules import Event, contribution, too_large
from laurels.progress.schemas import EventItem, EventsBody
from laurels.progress.updates import TimePolicy, parse_strict, recorded_time
from laurels.progress.writer import GroupCommitWriter
from laurels.titles import Catalog, PublishedTitle
from laurels.wire.principal import Principal


def check_event(
    principal: Principal,
    title: PublishedTitle,
    item: EventItem,
    position: int,
    now_us: int,
    policy: TimePolicy,
) -> Event:
    """One event judged against the title's declarations: BadRequest (or Forbidden
    for a server event from a player) naming its path."""
    where = f"events[{position}]"
    declared = title.events.get(item.name)
    if declared is None:
        raise BadRequest(f"{where}.name: title {title.title_id} declares no event {item.name!r}")
    if declared.sentBy == "server" and principal.kind != "server":
        raise Forbidden(
            f"{where}.name: {item.name!r} events can only be sent with a game-server credential"
        )
    for dimension in item.dimensions:
        if dimension not in declared.dimensions:
            raise BadRequest(
                f"{where}.dimensions.{dimension}: event {item.name!r} declares no such dimension"
            )
    for measurement in item.measurements:
        if measurement not in declared.measurements:
            raise BadRequest(
                f"{where}.measurements.{measurement}: event {item.name!r} declares no such "
                "measurement"
            )
    event = Event(
        item.id,
        item.name,
        recorded_time(item.time, f"{where}.time", now_us, policy),
        item.dimensions,
        item.measurements,
    )
    for stat in title.stats_by_event.get(item.name, ()):
        amount = contribution(stat, event)
        if amount is not None and too_large(stat, amount):
            field = f"measurements.{stat.measurement}" if stat.measurement else "name"
            raise BadRequest(
                f"{where}.{field}: {amount} is more than stat {stat.name!r} takes from one "
                f"event (maxChange {stat.maxChange})"
            )
    return event


class EventIntake:
    def __init__(self, catalog: Catalog, writer: GroupCommitWriter, *, time_policy: TimePolicy):
        self._catalog = catalog
        self._writer = writer
        self._time_policy = time_policy

    async def title(self, principal: Principal, title_id: int) -> PublishedTitle:
        """The title as published in the token's sandbox; NotFound otherwise."""
        title = await self._catalog.by_title(principal.sandbox, title_id)
        if title is None:
            raise NotFound(f"no title {title_id} in sandbox {principal.sandbox}")
        return title

    async def send(
        self, principal: Principal, *, xuid: str, raw: bytes, now_us: int
    ) -> tuple[int, int]:
        """(accepted, duplicates); raises a LaurelsError for every refusal, with
        nothing written."""
        body = parse_strict(EventsBody, raw)
        title = await self.title(principal, body.titleId)
        principal.require_player_access(
            xuid=xuid, title_id=title.title_id, sandbox=principal.sandbox
        )
        if not title.event_based:
            raise Conflict(
                f"title {title.title_id} is title-managed: its achievements are set with "
                "progress updates, not events"
            )
        events = tuple(
            check_event(principal, title, item, n, now_us, self._time_policy)
            for n, item in enumerate(body.events)
        )
        accepted = await self._writer.submit_events(
            EventRequest(principal.sandbox, xuid, title.scid, title, events)
        )
        return accepted, len(events) - accepted
