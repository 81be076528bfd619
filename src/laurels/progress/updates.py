"""The update path: validate a V2 update body against the token and the published
configuration, then hand it to the group-commit writer.

Every check happens before anything is written, so a rejected request changes
nothing; a request with several achievements is applied whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from laurels.errors import BadRequest, Conflict, Forbidden, NotFound
from laurels.progress.plan import ItemUpdate, UpdateRequest
from laurels.progress.policy import clamp_percent, effective_unlock_time
from laurels.progress.schemas import UpdateBody, UpdateItem
from laurels.progress.writer import GroupCommitWriter
from laurels.titles import Catalog, PublishedTitle
from laurels.titles.service import field_path
from laurels.wire.principal import Principal
from laurels.wire.times import parse_time, to_micros


@dataclass(frozen=True)
class TimePolicy:
    skew_us: int
    window_us: int


Body = TypeVar("Body", bound=BaseModel)


def parse_strict(model: type[Body], raw: bytes) -> Body:
    """`raw` validated strictly as `model`; BadRequest naming the first bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = field_path(tuple(error["loc"]))
        raise BadRequest(f"{where}: {error['msg']}" if error["loc"] else error["msg"]) from None


def parse_body(raw: bytes, *, max_items: int) -> UpdateBody:
    """The strictly validated body; BadRequest naming the first bad field."""
    body = parse_strict(UpdateBody, raw)
    if len(body.achievements) > max_items:
        raise BadRequest(f"achievements: at most {max_items} per request")
    return body


def recorded_time(text: str | None, where: str, now_us: int, policy: TimePolicy) -> int:
    """When an unlock is recorded for a client's time `text` (an update item's
    `timeAchieved`, an event's `time`): BadRequest naming `where` when malformed."""
    achieved = None
    if text is not None:
        try:
            achieved = to_micros(parse_time(text))
        except (ValueError, OverflowError):
            raise BadRequest(f"{where}: not an ISO-8601 UTC time") from None
    return effective_unlock_time(
        achieved, now_us=now_us, skew_us=policy.skew_us, window_us=policy.window_us
    )


def _item(
    principal: Principal,
    title: PublishedTitle,
    item: UpdateItem,
    position: int,
    now_us: int,
    policy: TimePolicy,
) -> ItemUpdate:
    where = f"achievements[{position}]"
    try:
        percent = clamp_percent(item.percentComplete)
    except ValueError:
        raise BadRequest(f"{where}.percentComplete: must be 1..100") from None
    definition = title.achievement(item.id)
    if definition is None:
        raise NotFound(f"no achievement {item.id!r} in title {title.title_id}")
    if definition.serverOnly and principal.kind != "server":
        raise Forbidden(f"achievement {item.id!r} can only be updated by a game server")
    unlock_time = recorded_time(item.timeAchieved, f"{where}.timeAchieved", now_us, policy)
    return ItemUpdate(item.id, percent, unlock_time)


class Updater:
    def __init__(
        self,
        catalog: Catalog,
        writer: GroupCommitWriter,
        *,
        max_items: int,
        time_policy: TimePolicy,
    ) -> None:
        self._catalog = catalog
        self._writer = writer
        self._max_items = max_items
        self._time_policy = time_policy

    async def _title(self, principal: Principal, scid: str) -> PublishedTitle:
        title = await self._catalog.by_scid(principal.sandbox, scid)
        if title is not None:
            return title
        if self._catalog.titles_with_scid(scid):
            raise Forbidden(f"SCID {scid} is not published in sandbox {principal.sandbox}")
        raise NotFound(f"no title with SCID {scid}")

    async def update(
        self, principal: Principal, *, xuid: str, scid: str, raw: bytes, now_us: int
    ) -> bool:
        """Whether anything changed (200) or not (304); raises a LaurelsError for
        every rejection, with nothing written."""
        body = parse_body(raw, max_items=self._max_items)
        if body.userId != xuid:
            raise BadRequest("userId must equal the xuid in the path")
        if body.serviceConfigId.lower() != scid:
            raise BadRequest("serviceConfigId must equal the SCID in the path")
        title = await self._title(principal, scid)
        principal.require_player_access(
            xuid=xuid, title_id=title.title_id, sandbox=principal.sandbox
        )
        if body.titleId != title.title_id:
            raise BadRequest(f"titleId {body.titleId} does not own SCID {scid}")
        if title.event_based:
            raise Conflict(
                "this title's achievements are driven by events; they cannot be "
                "set with a progress update"
            )
        items = tuple(
            _item(principal, title, item, n, now_us, self._time_policy)
            for n, item in enumerate(body.achievements)
        )
        return await self._writer.submit(
            UpdateRequest(principal.sandbox, xuid, scid, title.title_id, title.version, items)
        )
