"""POST /users/xuid({xuid})/events and GET .../stats on both databases
(spec/events.md): an event-based unlock is the same unlock as a title-managed one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import Table, func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.outbox.tables import PROGRESS_CHANGED, UNLOCKED, outbox
from laurels.progress.maintenance import AppliedEventPruner
from laurels.progress.tables import applied_events, player_stats, progress
from laurels.settings import Settings
from laurels.wire.times import now_micros
from tests.helpers import assert_error
from tests.helpers.events import WEAPONS_TITLE, event, kills, read_stats, send_events
from tests.helpers.rta import notify_uri, progress_uri, rta
from tests.helpers.service import (
    OTHER_TITLE_ID,
    OTHER_XUID,
    XUID,
    Api,
    publish_config,
    running_service,
    token_for,
)
from tests.helpers.waiting import eventually
from tests.helpers.webhooks import Receiver, add


async def count(db: Database, table: Table, **where: Any) -> int:
    async with db.read() as conn:
        query = select(func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return int((await conn.execute(query)).scalar_one())


async def snapshot(db: Database) -> dict[str, int]:
    return {
        "stats": await count(db, player_stats),
        "applied": await count(db, applied_events),
        "progress": await count(db, progress),
        "feed": await count(db, activity),
        "outbox": await count(db, outbox),
    }


async def test_three_events_unlock_once_with_feed_notifications_and_webhook(
    db: Database, settings: Settings
) -> None:
    await publish_config(db, WEAPONS_TITLE)
    token = await token_for(db)
    receiver = Receiver()
    async with receiver.serving() as hook_url:
        await add(db, hook_url)
        async with (
            running_service(settings) as url,
            httpx.AsyncClient(base_url=url) as client,
            rta(url, token) as console,
            rta(url, token) as phone,
            rta(url, token) as progress_watcher,
        ):
            api = Api(client, db, token, url)
            for device in (console, phone):
                assert (await device.subscribe(notify_uri()))[2] == 0
            assert (await progress_watcher.subscribe(progress_uri()))[2] == 0
            sent = [kills(10) for _ in range(3)]
            for one in sent:
                answer = await send_events(api, [one])
                assert answer.json() == {"accepted": 1, "duplicates": 0}
            for device in (console, phone):
                notification = (await device.event())[2]
                assert notification["achievementId"] == "1"
                assert notification["achievementName"] == "Achievement 1"
                assert notification["gamerscore"] == 10
            currents = []
            for _ in range(3):
                data = (await progress_watcher.event())[2]
                item = data["progression"][0]
                currents.append((item["requirements"][0]["current"], item["progressState"]))
            assert currents == [("10", "InProgress"), ("20", "InProgress"), ("30", "Achieved")]
            await eventually(lambda: len(receiver.requests) >= 1, 15, what="the webhook")
            # The same ids again: duplicates, nothing changes.
            before = await snapshot(db)
            again = await send_events(api, sent)
            assert again.json() == {"accepted": 0, "duplicates": 3}
            assert await snapshot(db) == before
            assert await read_stats(api) == {"Kills": 30}
            await asyncio.sleep(1.5)  # nothing more arrives anywhere
            for device in (console, phone):
                assert device.events.empty()
            assert progress_watcher.events.empty()
    assert len(receiver.requests) == 1
    hook = json.loads(receiver.requests[0].body)
    assert hook["data"]["achievementId"] == "1"
    assert await count(db, activity, xuid=XUID) == 1
    assert await count(db, outbox, xuid=XUID, event_type=UNLOCKED) == 1
    assert await count(db, outbox, xuid=XUID, event_type=PROGRESS_CHANGED) == 3


async def test_a_request_repeating_an_id_counts_it_once(events_api: Api) -> None:
    one = kills(10)
    answer = await send_events(events_api, [one, one, kills(5)])
    assert answer.json() == {"accepted": 2, "duplicates": 1}
    assert await read_stats(events_api) == {"Kills": 15}


async def test_filters_min_max_and_several_requirements(events_api: Api) -> None:
    sword = {"weapon": "Sword", "difficulty": "Hard"}
    answer = await send_events(
        events_api,
        [
            event(dimensions=sword, measurements={"damage": 70}),
            event(dimensions={"weapon": "Axe", "difficulty": "Hard"}),
            event("LapFinished", measurements={"ms": 65000}),
            event("LapFinished", measurements={"ms": 59000}),
            event(dimensions=sword),
        ],
    )
    assert answer.json() == {"accepted": 5, "duplicates": 0}
    assert await read_stats(events_api) == {"HardSwordKills": 2, "MaxDamage": 70, "BestLap": 59000}
    states = {
        a["id"]: a["progressState"]
        for a in (await events_api.achievements()).json()["achievements"]
    }
    assert states == {
        "1": "NotStarted",
        "2": "Achieved",
        "3": "Achieved",
        "4": "NotStarted",
        "secret": "NotStarted",
    }


BAD: list[tuple[Any, str]] = [
    ({"events": [{"id": "a", "name": "EnemyDefeated"}]}, "titleId"),
    ({"titleId": 1234, "events": []}, "events"),
    (
        {"titleId": 1234, "events": [{"id": str(n), "name": "LapFinished"} for n in range(101)]},
        "events",
    ),
    ({"titleId": 1234, "events": [{"id": "", "name": "LapFinished"}]}, "events[0].id"),
    ({"titleId": 1234, "events": [{"id": "x" * 65, "name": "LapFinished"}]}, "events[0].id"),
    ({"titleId": 1234, "events": [{"name": "LapFinished"}]}, "events[0].id"),
    ({"titleId": 1234, "events": [{"id": "a", "name": "Nope"}]}, "events[0].name"),
    ({"titleId": "1234", "events": [{"id": "a", "name": "LapFinished"}]}, "titleId"),
    (
        {"titleId": 1234, "events": [{"id": "a", "name": "LapFinished", "extra": 1}]},
        "events[0].extra",
    ),
    ({"titleId": 1234, "events": [{"id": "a", "name": "LapFinished"}], "more": 1}, "more"),
    ({"titleId": 1234, "events": [{"id": 7, "name": "LapFinished"}]}, "events[0].id"),
]
MEASURE: list[tuple[Any, str]] = [
    (1.5, "events[1].measurements.ms"),
    ("3", "events[1].measurements.ms"),
    (True, "events[1].measurements.ms"),
    (None, "events[1].measurements.ms"),
    (2**63, "events[1].measurements.ms"),
    (-(2**63) - 1, "events[1].measurements.ms"),
]


@pytest.mark.parametrize(
    ("body", "path"),
    BAD
    + [
        (
            {
                "titleId": 1234,
                "events": [
                    {"id": "ok", "name": "LapFinished", "measurements": {"ms": 1}},
                    {"id": "bad", "name": "LapFinished", "measurements": {"ms": value}},
                ],
            },
            path,
        )
        for value, path in MEASURE
    ]
    + [
        (
            {
                "titleId": 1234,
                "events": [
                    {"id": "a", "name": "LapFinished"},
                    {"id": "b", "name": "EnemyDefeated", "dimensions": {"weapon": 3}},
                ],
            },
            "events[1].dimensions.weapon",
        ),
        (
            {
                "titleId": 1234,
                "events": [
                    {"id": "a", "name": "LapFinished"},
                    {"id": "b", "name": "EnemyDefeated", "dimensions": {"colour": "red"}},
                ],
            },
            "events[1].dimensions.colour",
        ),
        (
            {
                "titleId": 1234,
                "events": [
                    {"id": "a", "name": "LapFinished"},
                    {"id": "b", "name": "EnemyDefeated", "measurements": {"count": 101}},
                ],
            },
            "events[1].measurements.count",
        ),
        (
            {"titleId": 1234, "events": [{"id": "a", "name": "LapFinished", "time": "soon"}]},
            "events[0].time",
        ),
        (
            {"titleId": 1234, "events": [{"id": "a", "name": "LapFinished", "dimensions": []}]},
            "events[0].dimensions",
        ),
    ],
)
async def test_bad_input_is_a_400_naming_the_path_and_applies_nothing(
    events_api: Api, body: Any, path: str
) -> None:
    before = await snapshot(events_api.db)
    answer = await send_events(events_api, [], body=body)
    assert_error(answer, 400)
    assert answer.json()["description"].startswith(f"{path}: "), answer.json()
    assert await snapshot(events_api.db) == before


async def test_not_json_and_wrong_media_type(events_api: Api) -> None:
    headers = events_api.auth()
    answer = await events_api.client.post(
        f"/users/xuid({XUID})/events",
        content=b"{",
        headers={**headers, "content-type": "application/json"},
    )
    assert_error(answer, 400)
    answer = await events_api.client.post(
        f"/users/xuid({XUID})/events",
        content=b"{}",
        headers={**headers, "content-type": "text/plain"},
    )
    assert_error(answer, 415)


async def test_conflict_forbidden_and_not_found(events_api: Api) -> None:
    db = events_api.db
    managed = await send_events(
        events_api,
        [event("LapFinished")],
        title_id=OTHER_TITLE_ID,
        token=await token_for(db, title_id=OTHER_TITLE_ID),
    )
    assert_error(managed, 409)
    server_event = await send_events(events_api, [event("BossDefeated")])
    assert_error(server_event, 403)
    assert server_event.json()["description"].startswith("events[0].name: ")
    server = await token_for(db, server=True)
    assert (await send_events(events_api, [event("BossDefeated")], token=server)).status_code == 200
    another_player = await send_events(events_api, [kills(1)], xuid=OTHER_XUID)
    assert_error(another_player, 403)
    other_title_token = await token_for(db, title_id=OTHER_TITLE_ID)
    assert_error(await send_events(events_api, [kills(1)], token=other_title_token), 403)
    unknown = await send_events(
        events_api, [kills(1)], title_id=999, token=await token_for(db, title_id=999)
    )
    assert_error(unknown, 404)
    other_sandbox = await token_for(db, sandbox="DEV.2")
    assert_error(await send_events(events_api, [kills(1)], token=other_sandbox), 404)
    assert await read_stats(events_api) == {"Bosses": 1}


async def test_stats_access(events_api: Api) -> None:
    db = events_api.db
    await send_events(events_api, [kills(7)])
    assert await read_stats(events_api) == {"Kills": 7}
    assert await read_stats(events_api, token=await token_for(db, server=True)) == {"Kills": 7}
    mine_elsewhere = await token_for(db, title_id=OTHER_TITLE_ID)  # own stats, any title
    assert await read_stats(events_api, token=mine_elsewhere) == {"Kills": 7}
    assert (
        await read_stats(events_api, xuid=OTHER_XUID, token=await token_for(db, server=True)) == {}
    )
    other = await events_api.client.get(
        f"/users/xuid({OTHER_XUID})/stats", params={"titleId": 1234}, headers=events_api.auth()
    )
    assert_error(other, 403)
    unknown = await events_api.client.get(
        f"/users/xuid({XUID})/stats", params={"titleId": 999}, headers=events_api.auth()
    )
    assert_error(unknown, 404)
    managed = await events_api.client.get(
        f"/users/xuid({XUID})/stats", params={"titleId": OTHER_TITLE_ID}, headers=events_api.auth()
    )
    assert managed.json() == {"stats": []}


async def test_secrets_stay_hidden_until_unlocked(events_api: Api) -> None:
    await send_events(events_api, [kills(100) for _ in range(9)])
    page = (await events_api.achievements()).json()["achievements"]
    secret = next(a for a in page if a["id"] == "secret")
    assert secret["name"] == "Secret achievement"
    assert "Hidden Grove" not in json.dumps(page)
    assert secret["progression"]["requirements"][0]["current"] == "900"
    await send_events(events_api, [kills(100)])
    page = (await events_api.achievements()).json()["achievements"]
    secret = next(a for a in page if a["id"] == "secret")
    assert secret["name"] == "Hidden Grove"
    assert secret["progressState"] == "Achieved"


async def test_an_update_to_an_event_based_title_is_a_409(events_api: Api) -> None:
    assert_error(await events_api.update([("1", 100)]), 409)


async def test_a_reset_forgets_stats_and_event_ids(events_api: Api) -> None:
    sent = [kills(30)]
    assert (await send_events(events_api, sent)).json()["accepted"] == 1
    server = await token_for(events_api.db, server=True)
    reset = await events_api.client.delete(
        f"/users/xuid({XUID})/achievements/{WEAPONS_TITLE['title']['scid']}",
        headers=events_api.auth(server),
    )
    assert reset.status_code == 204
    assert await read_stats(events_api) == {}
    states = [a["progressState"] for a in (await events_api.achievements()).json()["achievements"]]
    assert set(states) == {"NotStarted"}
    # The same event id applies again: the test player starts over.
    assert (await send_events(events_api, sent)).json() == {"accepted": 1, "duplicates": 0}
    assert await read_stats(events_api) == {"Kills": 30}


async def test_event_ids_are_forgotten_only_past_the_window(events_api: Api) -> None:
    db = events_api.db
    old, recent = kills(1), kills(1)
    await send_events(events_api, [old])
    async with db.write() as conn:  # as if sent 40 days ago
        await conn.execute(
            applied_events.update()
            .where(applied_events.c.event_id == old["id"])
            .values(created_at=now_micros() - 40 * 86400 * 1_000_000)
        )
    await send_events(events_api, [recent])
    window = 30 * 86400 * 1_000_000
    pruner = AppliedEventPruner(db, keep_us=window)
    assert await pruner.prune() == 1
    assert (await send_events(events_api, [recent])).json()["duplicates"] == 1
    assert (await send_events(events_api, [old])).json()["accepted"] == 1
