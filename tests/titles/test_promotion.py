"""The diff of two configuration documents (pure, table-tested) and promoting an exact
development version to RETAIL (both databases): what was tested is what ships,
changes players would notice need a confirmation, the publish rules always hold."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.db import Database
from laurels.errors import InvalidConfig, NotFound
from laurels.titles import promotion
from laurels.titles import service as titles
from laurels.titles.promotion import FieldChange, ItemChange, Risk
from laurels.titles.tables import config_versions
from laurels.wire.times import now_micros
from tests.helpers import TITLE_ID, achievement, publish_config, title_config


def document(config: dict[str, Any]) -> dict[str, Any]:
    return titles.draft_document(titles.parse_config(config))


BASE = document(title_config(3))


def variant(change: Any) -> dict[str, Any]:
    new = copy.deepcopy(BASE)
    change(new)
    return new


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: None, ()),
        (
            lambda d: d["achievements"].append(document(title_config(4))["achievements"][3]),
            (ItemChange("achievements", "4", "Achievement 4", "added"),),
        ),
        (
            lambda d: d["achievements"].pop(1),
            (
                ItemChange(
                    "achievements",
                    "3",
                    "Achievement 3",
                    "changed",
                    (FieldChange("display order", "3", "2"),),
                ),
                ItemChange("achievements", "2", "Achievement 2", "removed"),
            ),
        ),
        (
            lambda d: d["achievements"][0].update(gamerscore=20, secret=True),
            (
                ItemChange(
                    "achievements",
                    "1",
                    "Achievement 1",
                    "changed",
                    (FieldChange("gamerscore", "10", "20"), FieldChange("secret", "false", "true")),
                ),
            ),
        ),
        (
            lambda d: d["achievements"][2].update(
                localized={"fr-FR": {"name": "Trois", "lockedDescription": "x", "description": "y"}}
            ),
            (
                ItemChange(
                    "achievements",
                    "3",
                    "Achievement 3",
                    "changed",
                    (
                        FieldChange("localized.fr-FR.name", "—", "Trois"),
                        FieldChange("localized.fr-FR.lockedDescription", "—", "x"),
                        FieldChange("localized.fr-FR.description", "—", "y"),
                    ),
                ),
            ),
        ),
    ],
    ids=["same", "added", "removed-and-moved", "fields", "translation"],
)
def test_the_diff_names_each_achievement_and_field(
    change: Any, expected: tuple[ItemChange, ...]
) -> None:
    diff = promotion.diff_documents(BASE, variant(change))
    assert diff.items == expected
    assert diff.title == ()
    assert diff.empty == (not expected)


def test_the_diff_from_nothing_adds_everything() -> None:
    diff = promotion.diff_documents(None, BASE)
    assert [(i.key, i.status) for i in diff.items] == [(str(n), "added") for n in (1, 2, 3)]
    assert FieldChange("name", "—", "Test Game") in diff.title


def test_the_diff_shows_events_and_stats_of_an_event_based_title() -> None:
    old = document(title_config(2, kind="event-based"))
    new = copy.deepcopy(old)
    new["events"].append({"name": "Win", "dimensions": [], "measurements": [], "sentBy": "server"})
    new["events"][0]["measurements"].append("bonus")
    new["stats"][0]["maxChange"] = 5
    new["achievements"][1]["requirements"] = [{"stat": "Count", "target": 7}]
    diff = promotion.diff_documents(old, new)
    assert diff.section("events") == [
        ItemChange(
            "events", "Progress", "Progress", "changed",
            (FieldChange("measurements", '["count"]', '["count", "bonus"]'),),
        ),
        ItemChange("events", "Win", "Win", "added"),
    ]  # fmt: skip
    assert diff.section("stats") == [
        ItemChange("stats", "Count", "Count", "changed", (FieldChange("maxChange", "—", "5"),))
    ]
    [requirement] = diff.section("achievements")
    assert requirement.fields == (
        FieldChange(
            "requirements", '[{"stat": "Count", "target": 2}]', '[{"stat": "Count", "target": 7}]'
        ),
    )


@pytest.mark.parametrize(
    ("change", "unlocks", "expected"),
    [
        (lambda d: d["achievements"].pop(0), {"1": 3}, [Risk("1", "Achievement 1", 3, "removed")]),
        (lambda d: d["achievements"].pop(0), {"2": 3}, []),
        (
            lambda d: d["achievements"][1].update(gamerscore=5),
            {"2": 1},
            [Risk("2", "Achievement 2", 1, "gamerscore 10 → 5")],
        ),
        (lambda d: d["achievements"][1].update(name="Renamed"), {"2": 1}, []),
        (lambda d: d["achievements"][1].update(gamerscore=5), {}, []),
    ],
    ids=["removed-unlocked", "removed-never-unlocked", "gamerscore", "text", "gamerscore-unused"],
)
def test_risky_changes_are_those_unlocked_achievements_would_show(
    change: Any, unlocks: dict[str, int], expected: list[Risk]
) -> None:
    assert promotion.risky_changes(BASE, variant(change), unlocks) == expected
    assert promotion.risky_changes(None, variant(change), unlocks) == []


# --- promoting, on both databases -------------------------------------------------------


async def promote(
    db: Database,
    sandbox: str = "DEV.1",
    version: int = 1,
    *,
    unlocks: dict[str, int] | None = None,
    confirmed: bool = False,
) -> promotion.Promotion:
    async def work(conn: AsyncConnection) -> promotion.Promotion:
        return await promotion.promote(
            conn,
            title_id=TITLE_ID,
            sandbox=sandbox,
            version=version,
            unlocks=unlocks or {},
            confirmed=confirmed,
            now_us=now_micros(),
        )

    return await db.run_write(work)


async def stored(db: Database, sandbox: str, version: int) -> str | None:
    async with db.read() as conn:
        found = await conn.execute(
            select(config_versions.c.document).where(
                config_versions.c.sandbox == sandbox,
                config_versions.c.title_id == TITLE_ID,
                config_versions.c.version == version,
            )
        )
        return found.scalar_one_or_none()


async def retail_versions(db: Database) -> int:
    async with db.read() as conn:
        query = select(func.count()).where(config_versions.c.sandbox == "RETAIL")
        return int((await conn.execute(query.select_from(config_versions))).scalar_one())


async def test_promote_stores_the_tested_version_even_after_the_draft_changed(db: Database) -> None:
    await publish_config(db, title_config(3))
    await publish_config(db, title_config(4))  # DEV.1 v2
    await publish_config(db, title_config(5), sandbox="DEV.2")  # the draft moves on
    result = await promote(db, version=1)
    assert (result.version, result.unchanged, result.source_version) == (1, False, 1)
    assert await stored(db, "RETAIL", 1) == await stored(db, "DEV.1", 1)
    assert len(json.loads(await stored(db, "RETAIL", 1) or "")["achievements"]) == 3
    again = await promote(db, version=1)
    assert (again.version, again.unchanged) == (1, True)
    assert (await promote(db, version=2)).version == 2
    assert await stored(db, "RETAIL", 2) == await stored(db, "DEV.1", 2)


async def test_promote_refuses_what_is_not_a_tested_version(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    with pytest.raises(InvalidConfig, match="not a development sandbox"):
        await promote(db, "RETAIL")
    with pytest.raises(NotFound):
        await promote(db, "DEV.1")
    assert await retail_versions(db) == 1


async def test_removing_an_unlocked_achievement_needs_a_confirmation(db: Database) -> None:
    await publish_config(db, title_config(3))
    await promote(db)
    smaller = title_config(3)
    smaller["achievements"].pop(0)
    smaller["achievements"][0]["gamerscore"] = 50
    await publish_config(db, smaller)
    with pytest.raises(promotion.ConfirmationNeeded) as refused:
        await promote(db, version=2, unlocks={"1": 2, "2": 1})
    assert refused.value.risks == [
        Risk("1", "Achievement 1", 2, "removed"),
        Risk("2", "Achievement 2", 1, "gamerscore 10 → 50"),
    ]
    assert await retail_versions(db) == 1
    done = await promote(db, version=2, unlocks={"1": 2, "2": 1}, confirmed=True)
    assert done.version == 2
    assert [r.achievement_id for r in done.confirmed_risks] == ["1", "2"]
    assert await stored(db, "RETAIL", 2) == await stored(db, "DEV.1", 2)


async def test_a_kind_change_is_refused_even_when_confirmed(db: Database) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    await publish_config(db, title_config(3, kind="event-based"), sandbox="DEV.2")
    with pytest.raises(InvalidConfig, match="a title's kind never changes"):
        await promote(db, "DEV.2", unlocks={"1": 5}, confirmed=True)
    assert await retail_versions(db) == 1


async def test_versions_and_the_draft_revision_are_listed(db: Database) -> None:
    await publish_config(db, title_config(3))
    await publish_config(db, title_config(3, extra=[achievement("x")]))
    await publish_config(db, title_config(3, extra=[achievement("x")]), sandbox="DEV.2")
    async with db.read() as conn:
        versions = await promotion.list_versions(conn, title_id=TITLE_ID)
        revision = await promotion.draft_revision(conn, title_id=TITLE_ID)
        current = await promotion.current_version(conn, title_id=TITLE_ID, sandbox="DEV.1")
        with pytest.raises(NotFound):
            await promotion.draft_revision(conn, title_id=99)
    assert [(v.sandbox, v.version) for v in versions] == [("DEV.1", 2), ("DEV.1", 1), ("DEV.2", 1)]
    assert revision >= 2
    assert current is not None
    assert current[0] == 2
    assert current[1]["achievements"][-1]["id"] == "x"
