"""The update plan, driven directly: which statements it asks for, given the rows
the database returns (no database here)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from laurels.progress.plan import (
    Applied,
    ItemUpdate,
    Plan,
    Step,
    UpdateRequest,
    progress_params,
    rounds,
    update_plan,
)

NOW = 1_800_000_000_000_000
AT = NOW - 5


def _request(xuid: str, *items: tuple[str, int], scid: str = "s") -> UpdateRequest:
    updates = tuple(ItemUpdate(a, percent, AT) for a, percent in items)
    return UpdateRequest("DEV.1", xuid, scid, 1234, 2, updates)


def _run(plan: Plan, database: dict[str, Any]) -> tuple[list[Step], Applied]:
    """Answer each step as a database would: the max-register returns the rows
    whose percentage rose (keeping `database` as the stored register); the player
    insert returns players not seen before."""
    steps: list[Step] = []
    rows: Any = None
    while True:
        try:
            step = plan.send(rows)
        except StopIteration as done:
            return steps, done.value
        steps.append(step)
        rows = _answer(step, database)


def _answer(step: Step, database: dict[str, Any]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for p in step.params:
        if step.statement == "progress_upsert":
            key = (p["sandbox"], p["xuid"], p["scid"], p["achievement_id"])
            if p["percent"] > database.get(key, (0, None))[0]:
                database[key] = (p["percent"], p["time_unlocked"])
                found.append((*key, *database[key]))
        elif step.statement == "player_insert":
            key = ("player", p["sandbox"], p["xuid"], p["scid"])
            if key not in database:
                database[key] = True
                found.append(key[1:])
    return found


@pytest.mark.parametrize(("percent", "time_unlocked"), [(1, None), (99, None), (100, AT)])
def test_progress_params_stamp_the_unlock_time_only_at_100(
    percent: int, time_unlocked: int | None
) -> None:
    params = progress_params(
        _request("1", ("a", percent)), ItemUpdate("a", percent, AT), now_us=NOW
    )
    assert (params["percent"], params["time_unlocked"], params["now"]) == (
        percent,
        time_unlocked,
        NOW,
    )


@pytest.mark.parametrize(
    ("achievements", "expected"),
    [
        ([], []),
        (["a", "b"], [["a", "b"]]),
        (["a", "a", "b"], [["a", "b"], ["a"]]),
        (["a", "b", "a", "a"], [["a", "b"], ["a"], ["a"]]),
    ],
)
def test_a_round_touches_each_key_once_in_arrival_order(
    achievements: list[str], expected: list[list[str]]
) -> None:
    request = _request("1", *((a, 10) for a in achievements))
    ops = [(request, item) for item in request.items]
    assert [[item.achievement_id for _, item in r] for r in rounds(ops)] == expected


@pytest.mark.parametrize(
    ("stored", "requests", "statements", "changed", "unlocks"),
    [
        # nothing stored: a first update, a new player, no unlock
        (
            {},
            [_request("1", ("a", 40))],
            ["progress_upsert", "player_insert", "outbox_insert", "title_stats"],
            [True],
            0,
        ),
        # not higher: nothing changes, nothing else is written
        (
            {("DEV.1", "1", "s", "a"): (50, None)},
            [_request("1", ("a", 40))],
            ["progress_upsert"],
            [False],
            0,
        ),
        # an unlock: one feed item and an outbox row each, counted (the counters last:
        # the rows every batch of the title updates stay locked only for the commit)
        (
            {},
            [_request("1", ("a", 100))],
            [
                "progress_upsert",
                "player_insert",
                "activity_insert",
                "outbox_insert",
                "title_stats",
                "achievement_stats",
            ],
            [True],
            1,
        ),
        # two requests for one key share a batch: two rounds, the second lower one no change
        (
            {},
            [_request("1", ("a", 60)), _request("1", ("a", 30))],
            ["progress_upsert", "progress_upsert", "player_insert", "outbox_insert", "title_stats"],
            [True, False],
            0,
        ),
    ],
)
def test_the_statements_of_a_plan(
    stored: dict[Any, Any],
    requests: list[UpdateRequest],
    statements: list[str],
    changed: list[bool],
    unlocks: int,
) -> None:
    database = dict(stored)
    steps, applied = _run(update_plan(requests, now_us=NOW), database)
    assert [step.statement for step in steps] == statements
    assert applied == Applied(changed, unlocks)
    assert [step.returns for step in steps] == [
        s in ("progress_upsert", "player_insert") for s in statements
    ]


def test_the_outbox_rows_of_a_batch() -> None:
    database = {("player", "DEV.1", "2", "s"): True}
    requests = [_request("1", ("b", 100), ("a", 20)), _request("2", ("a", 5))]
    steps, applied = _run(update_plan(requests, now_us=NOW), database)
    assert applied == Applied([True, True], 1)
    rows = next(step for step in steps if step.statement == "outbox_insert").params
    kinds = [(row["event_type"], row["xuid"], row["achievement_id"]) for row in rows]
    assert kinds == [
        ("achievement.progress", "1", "a"),
        ("achievement.progress", "2", "a"),
        ("achievement.unlocked", "1", "b"),
    ]
    first = json.loads(rows[0]["payload"])["progression"]
    assert first == [
        {"id": "a", "percent": 20, "timeUnlocked": None},
        {"id": "b", "percent": 100, "timeUnlocked": AT},
    ]
    counted = next(step for step in steps if step.statement == "title_stats")
    assert counted.params == [{"sandbox": "DEV.1", "scid": "s", "amount": 1}]  # "2" was known
