"""An event-based title with every kind of rule (spec/events.md), and event bodies."""

from __future__ import annotations

import uuid
from typing import Any

from tests.helpers.service import SCID, TITLE_ID, XUID, Api, achievement

WEAPONS_TITLE: dict[str, Any] = {
    "title": {"id": TITLE_ID, "name": "Events Game", "scid": SCID, "kind": "event-based"},
    "events": [
        {
            "name": "EnemyDefeated",
            "dimensions": ["weapon", "difficulty"],
            "measurements": ["count", "damage"],
        },
        {"name": "LapFinished", "measurements": ["ms"]},
        {"name": "BossDefeated", "sentBy": "server"},
    ],
    "stats": [
        {
            "name": "Kills",
            "event": "EnemyDefeated",
            "measurement": "count",
            "aggregate": "sum",
            "maxChange": 100,
        },
        {
            "name": "HardSwordKills",
            "event": "EnemyDefeated",
            "aggregate": "sum",
            "where": {"weapon": "Sword", "difficulty": "Hard"},
        },
        {
            "name": "MaxDamage",
            "event": "EnemyDefeated",
            "measurement": "damage",
            "aggregate": "max",
        },
        {"name": "BestLap", "event": "LapFinished", "measurement": "ms", "aggregate": "min"},
        {"name": "Bosses", "event": "BossDefeated", "aggregate": "sum"},
    ],
    "achievements": [
        achievement("1", requirements=[{"stat": "Kills", "target": 30}]),
        achievement(
            "2",
            requirements=[
                {"stat": "HardSwordKills", "target": 2},
                {"stat": "MaxDamage", "target": 50},
            ],
        ),
        achievement("3", requirements=[{"stat": "BestLap", "target": 60000}]),
        achievement("4", requirements=[{"stat": "Bosses", "target": 1}]),
        achievement(
            "secret",
            secret=True,
            name="Hidden Grove",
            description="You found the grove behind the waterfall.",
            requirements=[{"stat": "Kills", "target": 1000}],
        ),
    ],
}


def event(
    name: str = "EnemyDefeated", *, event_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """One event with a fresh id; `fields` are `dimensions`, `measurements`, `time`."""
    return {"id": event_id or str(uuid.uuid4()), "name": name, **fields}


def kills(count: int, **extra: Any) -> dict[str, Any]:
    return event(measurements={"count": count}, **extra)


async def send_events(
    api: Api,
    events: list[dict[str, Any]],
    *,
    xuid: str = XUID,
    title_id: int = TITLE_ID,
    token: str | None = None,
    body: Any = None,
) -> Any:
    payload = {"titleId": title_id, "events": events} if body is None else body
    return await api.client.post(
        f"/users/xuid({xuid})/events", json=payload, headers=api.auth(token)
    )


async def read_stats(api: Api, *, xuid: str = XUID, token: str | None = None) -> dict[str, int]:
    answer = await api.client.get(
        f"/users/xuid({xuid})/stats", params={"titleId": TITLE_ID}, headers=api.auth(token)
    )
    assert answer.status_code == 200, answer.text
    return {stat["name"]: stat["value"] for stat in answer.json()["stats"]}
