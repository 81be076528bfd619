"""The golden comparison of issue 11 (spec/events.md: "a player can see no difference
between the two kinds"): two titles with the same achievements, one title-managed and
one event-based, driven side by side for one player on both databases. After
normalising only what legitimately differs (title id, name and SCID, version, times,
item and event ids, and an event-based achievement's stat requirements and
`progressionKind`), the list, the single GET, the activity feed, the title history,
the RTA "Achievement Unlocked" notifications and the webhook deliveries must be equal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers import NEVER, TIME_FORMAT, XUID, Api, achievement, publish_config, token_for
from tests.helpers.events import event
from tests.helpers.rta import RtaClient, notify_uri, rta
from tests.helpers.service import running_service, update_body
from tests.helpers.waiting import eventually
from tests.helpers.webhooks import Receiver, add
from tests.helpers.wire import (
    check_achievements_page,
    check_activity_page,
    check_history_page,
    check_time,
)

MANAGED_ID, MANAGED_SCID = 1234, "6a2e0100-0000-0000-0000-00005f1d2c3b"
EVENTS_ID, EVENTS_SCID = 5678, "9d5b0400-0000-0000-0000-00008c4a5f6e"
FRENCH = "fr-FR,fr;q=0.9,en"
HIDDEN = "Hidden Grove"

# In display order (the file's order), deliberately not sorted by id. The stat targets
# (event-based) give the unlock order: "3", then "secret", then "20"; "7" stays in
# progress.
ACHIEVEMENTS: list[tuple[dict[str, Any], int]] = [
    (
        achievement(
            "20",
            gamerscore=25,
            icon="https://cdn.example.com/twenty.png",
            estimatedTime="00:30:00",
            rewards=[
                {
                    "type": "Art",
                    "name": "Banner",
                    "description": "A banner for your profile.",
                    "image": "https://cdn.example.com/banner.png",
                }
            ],
        ),
        30,
    ),
    (
        achievement(
            "3",
            icon="https://cdn.example.com/three.png",
            platforms=["Xbox", "PC"],
            deeplink="game://three",
            productId="prod-3",
            rewards=[
                {
                    "type": "InApp",
                    "name": "Golden Skin",
                    "description": "Redeem in the Armory.",
                    "value": "SKIN_GOLD",
                }
            ],
            localized={
                "fr-FR": {
                    "name": "Premiers pas",
                    "lockedDescription": "Faites la chose 3.",
                    "description": "Vous avez fait la chose 3.",
                }
            },
        ),
        10,
    ),
    (
        achievement(
            "secret",
            secret=True,
            gamerscore=50,
            name=HIDDEN,
            description="You found the grove behind the waterfall.",
            icon="https://cdn.example.com/grove.png",
            deeplink="game://grove",
            rewards=[
                {
                    "type": "InApp",
                    "name": "Grove Cloak",
                    "description": "A cloak of leaves.",
                    "value": "CLOAK",
                }
            ],
            localized={
                "fr-FR": {"name": "Bosquet caché", "description": "Vous avez trouvé le bosquet."}
            },
        ),
        20,
    ),
    (achievement("7", gamerscore=15), 100),
]
UNLOCKS = ["3", "secret", "20"]  # one by one; the event-based stat reaches each target


def managed_config() -> dict[str, Any]:
    return {
        "title": {"id": MANAGED_ID, "name": "Managed Game", "scid": MANAGED_SCID},
        "achievements": [json.loads(json.dumps(a)) for a, _ in ACHIEVEMENTS],
    }


def events_config() -> dict[str, Any]:
    return {
        "title": {
            "id": EVENTS_ID,
            "name": "Event Game",
            "scid": EVENTS_SCID,
            "kind": "event-based",
        },
        "events": [{"name": "Scored", "measurements": ["points"]}],
        "stats": [
            {"name": "Score", "event": "Scored", "measurement": "points", "aggregate": "sum"}
        ],
        "achievements": [
            {**json.loads(json.dumps(a)), "requirements": [{"stat": "Score", "target": target}]}
            for a, target in ACHIEVEMENTS
        ],
    }


TARGETS = {a["id"]: target for a, target in ACHIEVEMENTS}


@dataclass
class Side:
    """One title of the comparison, as its player and its game see it."""

    kind: str
    title_id: int
    scid: str
    name: str
    api: Api
    devices: list[RtaClient] = field(default_factory=list)
    receiver: Receiver = field(default_factory=Receiver)
    notifications: list[list[dict[str, Any]]] = field(default_factory=list)  # per device

    def auth(self, language: str | None = None) -> dict[str, str]:
        headers = self.api.auth()
        return headers if language is None else {**headers, "Accept-Language": language}

    async def achievements(self, language: str | None = None) -> list[dict[str, Any]]:
        answer = await self.api.client.get(
            f"/users/xuid({XUID})/achievements",
            params={"titleId": self.title_id},
            headers=self.auth(language),
        )
        assert answer.status_code == 200, answer.text
        body = check_achievements_page(answer.json(), f"{self.kind} list")
        assert body["pagingInfo"] == {"continuationToken": None, "totalRecords": 4}
        items: list[dict[str, Any]] = body["achievements"]
        return items

    async def one(self, achievement_id: str, language: str | None = None) -> dict[str, Any]:
        answer = await self.api.client.get(
            f"/users/xuid({XUID})/achievements/{self.scid}/{achievement_id}",
            headers=self.auth(language),
        )
        assert answer.status_code == 200, answer.text
        items = check_achievements_page(answer.json(), f"{self.kind} single")["achievements"]
        assert len(items) == 1
        found: dict[str, Any] = items[0]
        return found

    async def feed(self, language: str | None = None) -> list[dict[str, Any]]:
        answer = await self.api.client.get(
            f"/users/xuid({XUID})/activity",
            params={"titleId": self.title_id},
            headers=self.auth(language),
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = check_activity_page(answer.json(), f"{self.kind} feed")[
            "activityItems"
        ]
        return items

    async def history(self) -> dict[str, Any] | None:
        answer = await self.api.client.get(
            f"/users/xuid({XUID})/history/titles", headers=self.auth()
        )
        assert answer.status_code == 200, answer.text
        titles = check_history_page(answer.json(), f"{self.kind} history")["titles"]
        mine = [entry for entry in titles if entry["titleId"] == self.title_id]
        assert len(mine) <= 1
        return mine[0] if mine else None

    async def progress(self, percent: int) -> None:
        """In progress on every achievement: a percent (title-managed) or one event
        whose points move every achievement's stat (event-based)."""
        if self.kind == "managed":
            for achievement_id in TARGETS:
                body = update_body(
                    [(achievement_id, percent)], scid=self.scid, title_id=self.title_id
                )
                answer = await self.api.update([], scid=self.scid, body=body)
                assert answer.status_code == 200, answer.text
        else:
            await self.send_points(percent * min(TARGETS.values()) // 100)

    async def unlock(self, achievement_id: str, score: int) -> None:
        """Unlocks `achievement_id`: percentComplete 100, or the event that brings
        the stat to `score`, its target."""
        if self.kind == "managed":
            body = update_body([(achievement_id, 100)], scid=self.scid, title_id=self.title_id)
            answer = await self.api.update([], scid=self.scid, body=body)
            assert answer.status_code == 200, answer.text
        else:
            current = await self.score()
            await self.send_points(score - current)

    async def send_points(self, points: int) -> None:
        answer = await self.api.client.post(
            f"/users/xuid({XUID})/events",
            json={
                "titleId": self.title_id,
                "events": [event("Scored", measurements={"points": points})],
            },
            headers=self.auth(),
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 1, "duplicates": 0}

    async def score(self) -> int:
        answer = await self.api.client.get(
            f"/users/xuid({XUID})/stats", params={"titleId": self.title_id}, headers=self.auth()
        )
        assert answer.status_code == 200, answer.text
        values = {stat["name"]: stat["value"] for stat in answer.json()["stats"]}
        return int(values.get("Score", 0))


# --- Normalising only what legitimately differs between the two titles ---


def _time(value: str | None, what: str) -> str | None:
    if value is None or value == NEVER:
        return value
    check_time(value, what)
    return "<time>"


def achievement_view(side: Side, item: dict[str, Any]) -> dict[str, Any]:
    """The Achievement object with the title's identity, version, unlock time,
    requirements and kind replaced by markers (checked to be there)."""
    item = json.loads(json.dumps(item))
    assert item["serviceConfigId"] == side.scid
    item["serviceConfigId"] = "<scid>"
    [association] = item["titleAssociations"]
    assert association["id"] == side.title_id
    assert association["name"] == side.name
    assert association["version"] == "1"
    item["titleAssociations"] = [{"name": "<name>", "id": "<title>", "version": "<version>"}]
    expected_kind = "TitleManaged" if side.kind == "managed" else "EventBased"
    assert item["progressionKind"] == expected_kind, item
    item["progressionKind"] = "<kind>"
    progression = item["progression"]
    progression["timeUnlocked"] = _time(progression["timeUnlocked"], f"{side.kind} {item['id']}")
    progression["requirements"] = "<requirements>"
    return item


def feed_view(side: Side, item: dict[str, Any]) -> dict[str, Any]:
    assert (item["titleId"], item["serviceConfigId"]) == (side.title_id, side.scid)
    assert item["id"]
    return {
        **item,
        "id": "<id>",
        "titleId": "<title>",
        "serviceConfigId": "<scid>",
        "date": _time(item["date"], f"{side.kind} feed"),
    }


def history_view(side: Side, entry: dict[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    assert (entry["titleId"], entry["serviceConfigId"], entry["name"]) == (
        side.title_id,
        side.scid,
        side.name,
    )
    return {
        **entry,
        "titleId": "<title>",
        "serviceConfigId": "<scid>",
        "name": "<name>",
        "lastUnlock": _time(entry["lastUnlock"], f"{side.kind} history"),
    }


def notification_view(side: Side, data: dict[str, Any]) -> dict[str, Any]:
    assert data["titleId"] == str(side.title_id)
    assert side.scid in data["extendedInfoUrl"]
    assert data["eventId"]
    return {
        **data,
        "eventId": "<id>",
        "titleId": "<title>",
        "extendedInfoUrl": data["extendedInfoUrl"].replace(side.scid, "<scid>"),
        "unlockTime": _time(data["unlockTime"], f"{side.kind} notification"),
    }


def webhook_view(side: Side, body: dict[str, Any]) -> dict[str, Any]:
    data = body["data"]
    assert (data["titleId"], data["serviceConfigId"]) == (side.title_id, side.scid)
    assert body["id"]
    return {
        **body,
        "id": "<id>",
        "createdAt": _time(body["createdAt"], f"{side.kind} webhook"),
        "data": {
            **data,
            "titleId": "<title>",
            "serviceConfigId": "<scid>",
            "unlockTime": _time(data["unlockTime"], f"{side.kind} webhook"),
        },
    }


# --- Side by side ---


async def same(
    what: str, sides: tuple[Side, Side], read: Callable[[Side], Any], view: Callable[..., Any]
) -> Any:
    """`read` on both sides, normalised with `view`; asserts they are equal and
    returns the raw answers (managed, events)."""
    managed, events = sides
    raw = (await read(managed), await read(events))
    if isinstance(raw[0], list):
        views = [
            [view(side, one) for one in answer] for side, answer in zip(sides, raw, strict=True)
        ]
    else:
        views = [view(side, answer) for side, answer in zip(sides, raw, strict=True)]
    assert views[0] == views[1], f"{what} differs:\nmanaged: {views[0]}\nevents:  {views[1]}"
    return raw


async def compare_reads(sides: tuple[Side, Side], stage: str) -> list[list[dict[str, Any]]]:
    """The list (default and French), each single GET, the feed (default and French)
    and the title history, equal on both sides; returns both lists."""
    lists = await same(f"{stage}: list", sides, lambda s: s.achievements(), achievement_view)
    await same(f"{stage}: list (fr-FR)", sides, lambda s: s.achievements(FRENCH), achievement_view)
    for achievement_id in TARGETS:
        await same(
            f"{stage}: GET {achievement_id}",
            sides,
            partial(Side.one, achievement_id=achievement_id),
            achievement_view,
        )
    await same(f"{stage}: feed", sides, lambda s: s.feed(), feed_view)
    await same(f"{stage}: feed (fr-FR)", sides, lambda s: s.feed(FRENCH), feed_view)
    await same(f"{stage}: history", sides, lambda s: s.history(), history_view)
    result: list[list[dict[str, Any]]] = list(lists)
    return result


def requirements(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {
        item["id"]: [
            {k: r[k] for k in ("current", "target", "operationType", "valueType")}
            for r in item["progression"]["requirements"]
        ]
        for item in items
    }


def managed_requirements(percent: int | None, unlocked: set[str]) -> dict[str, Any]:
    return {
        a: [
            {
                "current": None if percent is None else str(100 if a in unlocked else percent),
                "target": "100",
                "operationType": "Sum",
                "valueType": "Integer",
            }
        ]
        for a in TARGETS
    }


def event_requirements(score: int | None) -> dict[str, Any]:
    return {
        a: [
            {
                "current": None if score is None else str(score),
                "target": str(target),
                "operationType": "Sum",
                "valueType": "Integer",
            }
        ]
        for a, target in TARGETS.items()
    }


@asynccontextmanager
async def sides_running(db: Database, settings: Settings) -> AsyncIterator[tuple[Side, Side]]:
    """Both titles published to DEV.1, a running service, for each title a player
    token, two devices (one French) subscribed to its notifications and a webhook
    receiver."""
    await publish_config(db, managed_config())
    await publish_config(db, events_config())
    fast = settings.with_changes(
        rate_burst_requests=10_000,
        rate_sustained_requests=10_000,
        webhook_retry_base_seconds=0.05,
        webhook_retry_max_seconds=0.2,
        webhook_poll_seconds=0.05,
        webhook_timeout_seconds=2,
    )
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(running_service(fast))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
        sides = []
        for kind, title_id, scid, name in (
            ("managed", MANAGED_ID, MANAGED_SCID, "Managed Game"),
            ("events", EVENTS_ID, EVENTS_SCID, "Event Game"),
        ):
            token = await token_for(db, title_id=title_id)
            side = Side(kind, title_id, scid, name, Api(client, db, token, url))
            hook_url = await stack.enter_async_context(side.receiver.serving())
            await add(db, hook_url, title_id=title_id)
            for language in (None, FRENCH):
                headers = None if language is None else {"Accept-Language": language}
                device = await stack.enter_async_context(rta(url, token, headers=headers))
                answer = await device.subscribe(notify_uri(title_id=title_id))
                assert answer[2] == 0, answer
                side.devices.append(device)
                side.notifications.append([])
            sides.append(side)
        yield sides[0], sides[1]


async def test_title_managed_and_event_based_look_the_same(
    db: Database, settings: Settings
) -> None:
    async with sides_running(db, settings) as sides:
        managed, events = sides

        # Before anything: every achievement NotStarted, the secret one hidden.
        lists = await compare_reads(sides, "before")
        for items in lists:
            assert [i["id"] for i in items] == list(TARGETS)  # display order
            assert {i["progressState"] for i in items} == {"NotStarted"}
            secret = next(i for i in items if i["id"] == "secret")
            assert secret["name"] == "Secret achievement"
            assert secret["description"] == secret["lockedDescription"] == "Do thing secret."
            assert secret["mediaAssets"] == []
            assert secret["deeplink"] == ""
            assert [r["type"] for r in secret["rewards"]] == ["Gamerscore"]
            assert HIDDEN not in json.dumps(items)
        assert requirements(lists[0]) == managed_requirements(None, set())
        assert requirements(lists[1]) == event_requirements(None)

        # In progress: 50% of each (title-managed); half the first target (event-based).
        await managed.progress(50)
        await events.progress(50)
        lists = await compare_reads(sides, "in progress")
        for items in lists:
            assert {i["progressState"] for i in items} == {"InProgress"}
            assert HIDDEN not in json.dumps(items)
        assert requirements(lists[0]) == managed_requirements(50, set())
        assert requirements(lists[1]) == event_requirements(5)

        # One by one, the same achievements unlock on both sides.
        unlocked: set[str] = set()
        for count, achievement_id in enumerate(UNLOCKS, start=1):
            for side in sides:
                await side.unlock(achievement_id, TARGETS[achievement_id])
                for device, received in zip(side.devices, side.notifications, strict=True):
                    frame = await device.event()
                    assert frame[0] == 3, frame
                    received.append(frame[2])
            unlocked.add(achievement_id)
            stage = f"after unlocking {achievement_id}"
            for device_index in range(2):
                await same(
                    f"{stage}: notifications of device {device_index}",
                    sides,
                    partial(_received, device=device_index),
                    notification_view,
                )
            for side in sides:
                await eventually(
                    partial(_delivered, side, count),
                    15,
                    what=f"{side.kind} webhook {count}",
                )
            await same(f"{stage}: webhooks", sides, _hooks, webhook_view)
            lists = await compare_reads(sides, stage)
            for items in lists:
                states = {i["id"]: i["progressState"] for i in items}
                assert states == {a: "Achieved" if a in unlocked else "InProgress" for a in TARGETS}
            assert requirements(lists[0]) == managed_requirements(50, unlocked)
            assert requirements(lists[1]) == event_requirements(TARGETS[achievement_id])
            for side in sides:
                await consistent_times(side, achievement_id)

        # The secret one, unlocked, shows itself to its owner, localized.
        for side in sides:
            secret = await side.one("secret", FRENCH)
            assert (secret["name"], secret["description"]) == (
                "Bosquet caché",
                "Vous avez trouvé le bosquet.",
            )
            french = [n["achievementName"] for n in side.notifications[1]]
            assert french == ["Premiers pas", "Bosquet caché", "Achievement 20"]
            assert [n["achievementName"] for n in side.notifications[0]] == [
                "Achievement 3",
                HIDDEN,
                "Achievement 20",
            ]
            history = await side.history()
            assert history is not None
            assert (history["earnedAchievements"], history["currentGamerscore"]) == (3, 85)
            assert history["maxGamerscore"] == 100
            assert [i["achievementId"] for i in await side.feed()] == ["20", "secret", "3"]

        # Nothing more: one notification per device and one webhook per unlock.
        await asyncio.sleep(1.0)
        for side in sides:
            for device, received in zip(side.devices, side.notifications, strict=True):
                assert device.events.empty()
                assert len(received) == len(UNLOCKS)
            assert len(side.receiver.requests) == len(UNLOCKS)


async def _received(side: Side, device: int) -> list[dict[str, Any]]:
    return side.notifications[device]


def _delivered(side: Side, count: int) -> bool:
    return len(side.receiver.requests) >= count


async def _hooks(side: Side) -> list[dict[str, Any]]:
    bodies = []
    for request in side.receiver.requests:
        assert request.headers["content-type"] == "application/json"
        bodies.append(json.loads(request.body))
    return sorted(bodies, key=lambda b: UNLOCKS.index(b["data"]["achievementId"]))


async def consistent_times(side: Side, achievement_id: str) -> None:
    """Within one title, the unlock has one time: the Achievement object's
    `timeUnlocked`, the feed item's date, every notification's and the webhook's."""
    unlocked = (await side.one(achievement_id))["progression"]["timeUnlocked"]
    assert TIME_FORMAT.match(unlocked), unlocked
    [item] = [i for i in await side.feed() if i["achievementId"] == achievement_id]
    assert item["date"] == unlocked
    for received in side.notifications:
        [note] = [n for n in received if n["achievementId"] == achievement_id]
        assert note["unlockTime"] == unlocked
    hooks = [json.loads(r.body)["data"] for r in side.receiver.requests]
    [hook] = [h for h in hooks if h["achievementId"] == achievement_id]
    assert hook["unlockTime"] == unlocked
