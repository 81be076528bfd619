"""Import, publish and export (spec/config.md) on both databases: versions are
immutable and per sandbox, a failed import changes nothing, icons are served."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from laurels.db import Database
from laurels.errors import InvalidConfig
from laurels.settings import Settings
from laurels.titles import service as titles
from laurels.titles.catalog import PublishedTitle
from laurels.titles.tables import config_versions, media, title_drafts
from laurels.titles.tables import titles as titles_table
from laurels.wire.times import now_micros
from tests.helpers import (
    SCID,
    TITLE_ID,
    XUID,
    achievement,
    answer,
    png_bytes,
    publish_config,
    running_service,
    title_config,
    token_for,
)

TABLES: list[Table] = [titles_table, title_drafts, config_versions, media]


async def import_config(
    db: Database, config: dict[str, Any], base_dir: Path = Path(".")
) -> tuple[int, str]:
    parsed = titles.parse_config(config)

    async def work(conn: AsyncConnection) -> tuple[int, str]:
        return await titles.import_config(
            conn, config=parsed, base_dir=base_dir, now_us=now_micros()
        )

    return await db.run_write(work)


async def publish(
    db: Database, sandbox: str = "DEV.1", title_id: int = TITLE_ID
) -> titles.PublishResult:
    async def work(conn: AsyncConnection) -> titles.PublishResult:
        return await titles.publish(conn, title_id=title_id, sandbox=sandbox, now_us=now_micros())

    return await db.run_write(work)


async def draft(db: Database, title_id: int = TITLE_ID) -> dict[str, Any]:
    async with db.read() as conn:
        return await titles.load_draft(conn, title_id=title_id)


async def stored_version(db: Database, sandbox: str, version: int) -> str:
    async with db.read() as conn:
        text = (
            await conn.execute(
                select(config_versions.c.document).where(
                    config_versions.c.sandbox == sandbox,
                    config_versions.c.title_id == TITLE_ID,
                    config_versions.c.version == version,
                )
            )
        ).scalar_one()
    return str(text)


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the configuration tables, in key order."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as conn:
        for table in TABLES:
            rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
            found[table.name] = [tuple(row) for row in rows]
    return found


def renamed(config: dict[str, Any], name: str) -> dict[str, Any]:
    changed = copy.deepcopy(config)
    changed["achievements"][0]["name"] = name
    return changed


async def test_import_then_publish_creates_version_1(db: Database) -> None:
    title_id, scid = await import_config(db, title_config(3))
    assert (title_id, scid) == (TITLE_ID, SCID)
    result = await publish(db)
    assert result == titles.PublishResult(TITLE_ID, "DEV.1", 1, unchanged=False)
    assert titles.parse_config(await draft(db)) == titles.parse_config(title_config(3))


async def test_versions_are_numbered_and_immutable(db: Database) -> None:
    await import_config(db, title_config(3))
    assert (await publish(db)).version == 1
    version_1 = await stored_version(db, "DEV.1", 1)

    again = await publish(db)
    assert (again.version, again.unchanged) == (1, True)
    await import_config(db, title_config(3))  # the same file again: still unchanged
    assert (await publish(db)).unchanged

    await import_config(db, renamed(title_config(3), "Renamed"))
    second = await publish(db)
    assert (second.version, second.unchanged) == (2, False)
    assert await stored_version(db, "DEV.1", 1) == version_1
    assert "Renamed" not in version_1
    assert "Renamed" in await stored_version(db, "DEV.1", 2)


async def test_sandboxes_have_their_own_versions(db: Database) -> None:
    await import_config(db, title_config(3))
    await publish(db, "DEV.1")
    await import_config(db, renamed(title_config(3), "Renamed"))
    assert (await publish(db, "DEV.1")).version == 2
    assert (await publish(db, "DEV.2")).version == 1
    assert (await publish(db, "RETAIL")).version == 1
    assert await stored_version(db, "DEV.2", 1) == await stored_version(db, "DEV.1", 2)
    async with db.read() as conn:
        assert await titles.latest_versions(conn) == {
            ("DEV.1", TITLE_ID): 2,
            ("DEV.2", TITLE_ID): 1,
            ("RETAIL", TITLE_ID): 1,
        }


async def test_publishing_to_a_bad_sandbox_is_refused(db: Database) -> None:
    await import_config(db, title_config(1))
    before = await snapshot(db)
    for sandbox in ["PROD", "dev.1", "DEV.", "", "DEV.1 ", "RETAIL.1", "DEV.a/b"]:
        with pytest.raises(InvalidConfig) as caught:
            await publish(db, sandbox)
        [problem] = caught.value.problems
        assert problem.startswith("sandbox: "), sandbox
    assert await snapshot(db) == before


async def test_a_failed_import_changes_nothing(db: Database, tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(1))
    (tmp_path / "b.png").write_bytes(png_bytes(2))
    (tmp_path / "c.png").write_bytes(png_bytes(3))
    config = title_config(3)
    config["achievements"][0]["icon"] = "a.png"
    await import_config(db, config, tmp_path)
    await publish(db)
    before = await snapshot(db)
    before_draft = await draft(db)

    # A new name, a new good icon, and one missing icon: nothing of it is written.
    broken = renamed(config, "Renamed")
    broken["title"]["name"] = "Another Name"
    broken["achievements"][1]["icon"] = "b.png"
    broken["achievements"][2]["icon"] = "missing.png"
    with pytest.raises(InvalidConfig) as caught:
        await import_config(db, broken, tmp_path)
    assert caught.value.problems == ["achievements[2].icon: no such file 'missing.png'"]
    assert await snapshot(db) == before

    # A SCID change for an existing title, with an otherwise good file.
    moved = renamed(config, "Renamed")
    moved["title"]["scid"] = "6a2e0100-0000-0000-0000-0000000000ff"
    moved["achievements"][1]["icon"] = "c.png"
    with pytest.raises(InvalidConfig) as caught:
        await import_config(db, moved, tmp_path)
    [problem] = caught.value.problems
    assert problem.startswith("title.scid: ")
    assert SCID in problem
    assert await snapshot(db) == before
    assert await draft(db) == before_draft


async def test_a_scid_of_another_title_is_refused(db: Database) -> None:
    await import_config(db, title_config(1))
    before = await snapshot(db)
    with pytest.raises(InvalidConfig) as caught:
        await import_config(db, title_config(1, title_id=99))
    [problem] = caught.value.problems
    assert problem.startswith("title.scid: ")
    assert str(TITLE_ID) in problem
    assert await snapshot(db) == before


async def test_a_title_without_scid_gets_one_and_keeps_it(db: Database) -> None:
    config = title_config(1)
    del config["title"]["scid"]
    _, scid = await import_config(db, config)
    assert str(uuid.UUID(scid)) == scid
    _, again = await import_config(db, renamed(config, "Renamed"))
    assert again == scid
    assert (await draft(db))["title"]["scid"] == scid


async def test_an_unknown_media_reference_is_refused(db: Database, tmp_path: Path) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()
    config = title_config(2)
    config["achievements"][0]["icon"] = f"media:{missing}"
    with pytest.raises(InvalidConfig) as caught:
        await import_config(db, config, tmp_path)
    assert caught.value.problems == [f"achievements[0].icon: no stored image media:{missing}"]
    assert await snapshot(db) == {table.name: [] for table in TABLES}


async def test_export_round_trips_to_the_draft(db: Database, tmp_path: Path) -> None:
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "one.png").write_bytes(png_bytes(1))
    (tmp_path / "banner.png").write_bytes(png_bytes(2))
    config = title_config(3)
    first = config["achievements"][0]
    first.update(
        icon="icons/one.png",
        secret=True,
        serverOnly=True,
        estimatedTime="00:10:00",
        deeplink="game://one",
        rewards=[
            {"type": "InApp", "name": "Skin", "description": "Redeem it.", "value": "SKIN"},
            {"type": "Art", "name": "Banner", "description": "A banner.", "image": "banner.png"},
        ],
        localized={"fr-FR": {"name": "Premier", "description": "Vous l'avez fait."}},
    )
    config["achievements"][1].update(
        type="Challenge",
        timeWindow={"startDate": "2024-05-01T00:00:00Z", "endDate": "2024-05-08T00:00:00Z"},
        platforms=["Scarlett"],
        productId="9NBLGGH4R315",
        icon="https://cdn.example.com/two.png",
    )
    config["achievements"][2]["id"] = "007"  # must stay a string through YAML
    await import_config(db, config, tmp_path)
    await publish(db)
    async with db.read() as conn:
        exported = await titles.export_config(conn, title_id=TITLE_ID)
    stored = await draft(db)

    reparsed = titles.parse_config(yaml.safe_load(exported))
    assert titles.draft_document(reparsed) == stored
    icon = reparsed.achievements[0].icon
    assert icon == f"media:{hashlib.sha256(png_bytes(1)).hexdigest()}"
    assert reparsed.achievements[0].rewards[1].image == (
        f"media:{hashlib.sha256(png_bytes(2)).hexdigest()}"
    )
    assert reparsed.achievements[2].id == "007"

    # Importing the export (from anywhere: its images are stored) changes nothing.
    (tmp_path / "exported.yaml").write_text(exported, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    parsed = titles.read_config_file(tmp_path / "exported.yaml")
    await db.run_write(
        lambda conn: titles.import_config(
            conn, config=parsed, base_dir=elsewhere, now_us=now_micros()
        )
    )
    assert await draft(db) == stored
    assert (await publish(db)).unchanged


async def list_page(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get(
        f"/users/xuid({XUID})/achievements",
        params={"titleId": TITLE_ID},
        headers={"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"},
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_the_service_serves_an_uploaded_icon(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    icon, banner = png_bytes(11), png_bytes(12)
    (tmp_path / "icon.png").write_bytes(icon)
    (tmp_path / "banner.png").write_bytes(banner)
    config = title_config(2)
    config["achievements"][0]["icon"] = "icon.png"
    config["achievements"][0]["rewards"] = [
        {"type": "Art", "name": "Banner", "description": "A banner.", "image": "banner.png"}
    ]
    config["achievements"][1]["icon"] = "https://cdn.example.com/two.png"
    await publish_config(db, config, base_dir=tmp_path)
    token = await token_for(db)
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        page = await list_page(client, token)
        by_id = {a["id"]: a for a in page["achievements"]}
        [asset] = by_id["1"]["mediaAssets"]
        assert asset["type"] == "Icon"
        assert asset["url"] == f"{url}/media/{hashlib.sha256(icon).hexdigest()}.png"
        assert by_id["2"]["mediaAssets"][0]["url"] == "https://cdn.example.com/two.png"
        [art] = [r for r in by_id["1"]["rewards"] if r["type"] == "Art"]

        for link, data in [(asset["url"], icon), (art["mediaAsset"]["url"], banner)]:
            served = await client.get(link)  # no token needed: public, immutable
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/png"
            assert served.content == data

        unknown = await client.get(f"/media/{hashlib.sha256(b'x').hexdigest()}.png")
        assert unknown.status_code == 404


async def test_the_catalog_picks_up_a_later_version(db: Database, settings: Settings) -> None:
    await publish_config(db, title_config(3))
    token = await token_for(db)
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        first = (await list_page(client, token))["achievements"][0]
        assert first["name"] == "Achievement 1"
        assert first["titleAssociations"][0]["version"] == "1"

        # Published by another connection, as `laurels config publish` would.
        await publish_config(db, renamed(title_config(3), "Renamed"))
        page = await answer(
            lambda: list_page(client, token),
            lambda page: page["achievements"][0]["name"] == "Renamed",
            15,
        )
        shown = page["achievements"][0]
        assert shown["titleAssociations"][0]["version"] == "2"


# --- event-based titles: what a later version may change (spec/events.md) ----------

MEANING = "a published stat's meaning never changes (add a new stat instead)"


def event_based() -> dict[str, Any]:
    """title_config's event-based title, its event with a dimension and a second
    measurement, and a second event, so a stat may be pointed elsewhere."""
    config = title_config(3, kind="event-based")
    config["events"][0].update(dimensions=["mode"], measurements=["count", "damage"])
    config["events"].append({"name": "Other", "dimensions": ["mode"], "measurements": ["count"]})
    config["stats"][0]["where"] = {"mode": "Story"}
    return config


def stat_changed(**values: Any) -> dict[str, Any]:
    config = event_based()
    config["stats"][0].update(values)
    return config


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        pytest.param(
            stat_changed(event="Other"),
            f"stats[0].event: stat 'Count' is published in DEV.1 with event 'Progress'; {MEANING}",
            id="event",
        ),
        pytest.param(
            stat_changed(measurement="damage"),
            "stats[0].measurement: stat 'Count' is published in DEV.1 with measurement "
            f"'count'; {MEANING}",
            id="measurement",
        ),
        pytest.param(
            stat_changed(measurement=None),
            "stats[0].measurement: stat 'Count' is published in DEV.1 with measurement "
            f"'count'; {MEANING}",
            id="measurement-omitted",
        ),
        pytest.param(
            stat_changed(aggregate="max"),
            "stats[0].aggregate: stat 'Count' is published in DEV.1 with aggregate "
            f"'sum'; {MEANING}",
            id="aggregate",
        ),
        pytest.param(
            stat_changed(where={"mode": "Hard"}),
            "stats[0].where: stat 'Count' is published in DEV.1 with where "
            f"{{'mode': 'Story'}}; {MEANING}",
            id="where-value",
        ),
        pytest.param(
            stat_changed(where={}),
            "stats[0].where: stat 'Count' is published in DEV.1 with where "
            f"{{'mode': 'Story'}}; {MEANING}",
            id="where-removed",
        ),
    ],
)
async def test_a_published_stat_keeps_its_meaning(
    db: Database, changed: dict[str, Any], expected: str
) -> None:
    await import_config(db, event_based())
    await publish(db)
    version_1 = await stored_version(db, "DEV.1", 1)
    await import_config(db, changed)  # a draft may say anything valid
    with pytest.raises(InvalidConfig) as caught:
        await publish(db)
    assert caught.value.problems == [expected]
    async with db.read() as conn:
        assert await titles.latest_versions(conn) == {("DEV.1", TITLE_ID): 1}
    assert await stored_version(db, "DEV.1", 1) == version_1
    assert (await publish(db, "DEV.2")).version == 1  # a sandbox with nothing published


async def test_a_published_stat_is_never_removed(db: Database) -> None:
    config = event_based()
    config["stats"].insert(0, {"name": "Best", "event": "Progress", "aggregate": "max"})
    await import_config(db, config)
    await publish(db)
    await import_config(db, event_based())  # the same file without Best
    with pytest.raises(InvalidConfig) as caught:
        await publish(db)
    assert caught.value.problems == [
        "stats: stat 'Best' is published in DEV.1; a published stat is never removed"
    ]


async def test_a_moved_stat_is_found_by_its_name(db: Database) -> None:
    config = event_based()
    await import_config(db, config)
    await publish(db)
    config["stats"].insert(0, {"name": "Best", "event": "Progress", "aggregate": "min"})
    config["stats"][1]["aggregate"] = "max"
    await import_config(db, config)
    with pytest.raises(InvalidConfig) as caught:
        await publish(db)
    assert caught.value.problems == [
        f"stats[1].aggregate: stat 'Count' is published in DEV.1 with aggregate 'sum'; {MEANING}"
    ]


async def test_a_later_version_may_add_and_reword(db: Database) -> None:
    await import_config(db, event_based())
    await publish(db)
    config = event_based()
    config["events"][0].update(dimensions=["mode", "weapon"], sentBy="server")
    config["events"].append({"name": "Found", "dimensions": ["item"]})
    config["stats"][0]["maxChange"] = 10  # a limit, not a meaning
    config["stats"].append(
        {"name": "Swords", "event": "Found", "aggregate": "sum", "where": {"item": "Sword"}}
    )
    config["achievements"][0].update(name="Renamed", description="Reworded.", gamerscore=20)
    config["achievements"][1]["requirements"] = [
        {"stat": "Count", "target": 500},
        {"stat": "Swords", "target": 2},
    ]
    config["achievements"].append(
        {**achievement(4), "requirements": [{"stat": "Swords", "target": 1}]}
    )
    await import_config(db, config)
    assert (await publish(db)).version == 2
    published = json.loads(await stored_version(db, "DEV.1", 2))
    assert [stat["name"] for stat in published["stats"]] == ["Count", "Swords"]
    assert published["achievements"][0]["name"] == "Renamed"


@pytest.mark.parametrize(
    ("first", "then"),
    [("title-managed", "event-based"), ("event-based", "title-managed")],
)
async def test_a_title_keeps_its_kind(db: Database, first: str, then: str) -> None:
    await import_config(db, title_config(2, kind=first))
    await publish(db)
    await import_config(db, title_config(2, kind=then))
    with pytest.raises(InvalidConfig) as caught:
        await publish(db)
    problems = caught.value.problems
    assert problems[0] == (
        f"title.kind: the title is published in DEV.1 as {first}; a title's kind never changes"
    )
    # Turning event-based into title-managed also drops the published stat.
    assert problems[1:] == (
        ["stats: stat 'Count' is published in DEV.1; a published stat is never removed"]
        if first == "event-based"
        else []
    )
    async with db.read() as conn:
        assert await titles.latest_versions(conn) == {("DEV.1", TITLE_ID): 1}


async def test_an_event_based_export_round_trips(db: Database) -> None:
    config = event_based()
    config["events"].append({"name": "Boss", "sentBy": "server"})
    config["stats"] += [
        {"name": "Capped", "event": "Progress", "aggregate": "sum", "maxChange": 100},
        {"name": "Least", "event": "Other", "measurement": "count", "aggregate": "min"},
    ]
    config["achievements"][2]["requirements"] = [
        {"stat": "Count", "target": 2**63 - 1},
        {"stat": "Capped", "target": 0},
        {"stat": "Least", "target": -(2**63)},
    ]
    await import_config(db, config)
    stored = await draft(db)

    async def export() -> str:
        async with db.read() as conn:
            return await titles.export_config(conn, title_id=TITLE_ID)

    exported = await export()
    document = yaml.safe_load(exported)
    assert list(document) == ["title", "events", "stats", "achievements"]
    assert document["events"][1] == {
        "name": "Other",
        "dimensions": ["mode"],
        "measurements": ["count"],
    }
    assert document["events"][2] == {"name": "Boss", "sentBy": "server"}
    assert document["stats"][1] == {
        "name": "Capped",
        "event": "Progress",
        "aggregate": "sum",
        "maxChange": 100,
    }
    assert document["achievements"][2]["requirements"][2] == {"stat": "Least", "target": -(2**63)}
    assert titles.parse_config(document) == titles.parse_config(config)

    await import_config(db, document)
    assert await draft(db) == stored
    assert await export() == exported


async def test_a_title_managed_draft_is_stored_without_event_fields(db: Database) -> None:
    await import_config(db, title_config(2))
    stored = await draft(db)
    assert "events" not in stored
    assert "stats" not in stored
    assert all("requirements" not in entry for entry in stored["achievements"])


def test_a_version_published_before_requirements_existed_is_still_read() -> None:
    """Stored documents are not held to rules added since they were published: the
    catalog would otherwise stop at the first such version."""
    old = title_config(2, kind="event-based")
    for key in ("events", "stats"):
        del old[key]
    for entry in old["achievements"]:
        del entry["requirements"]
    with pytest.raises(InvalidConfig):
        titles.parse_config(old)  # not importable any more
    published = PublishedTitle.from_document("DEV.1", 1, old)
    assert (published.event_based, [a.id for a in published.achievements]) == (True, ["1", "2"])


async def test_two_publishes_at_once_never_fail_with_a_database_error(db: Database) -> None:
    """Two publishes of one title to one sandbox at the same moment: one publishes;
    the other waits for it, then either finds the version already there (SQLite: one
    writer at a time) or is refused with a Conflict (PostgreSQL: both read "no
    version", the second's insert meets the first's), never a database error."""
    from laurels.errors import Conflict
    from tests.helpers.service import title_config

    config = titles.parse_config(title_config(2))
    await db.run_write(
        lambda conn: titles.import_config(
            conn, config=config, base_dir=Path("."), now_us=now_micros()
        )
    )
    first = db.write()
    conn = await first.__aenter__()
    try:
        published = await titles.publish(conn, title_id=1234, sandbox="DEV.1", now_us=now_micros())
        second = asyncio.create_task(
            db.run_write(
                lambda other: titles.publish(
                    other, title_id=1234, sandbox="DEV.1", now_us=now_micros()
                )
            )
        )
        await asyncio.sleep(0.3)
    finally:
        await first.__aexit__(None, None, None)
    if db.is_sqlite:
        again = await second
        assert (again.version, again.unchanged) == (published.version, True)
    else:
        with pytest.raises(Conflict, match="at the same time"):
            await second
