"""The configuration file (spec/config.md): validation with field paths, the YAML and
JSON forms, and icons. Pure: no database."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from laurels.errors import InvalidConfig
from laurels.titles.schemas import ConfigFile
from laurels.titles.service import (
    MAX_ICON_BYTES,
    parse_config,
    read_config_file,
    resolve_images,
)
from tests.helpers import SCID, png_bytes, title_config

Change = Callable[[dict[str, Any]], None]


def problems_of(config: Any) -> list[str]:
    with pytest.raises(InvalidConfig) as caught:
        parse_config(config)
    assert caught.value.problems, "InvalidConfig without problems"
    return caught.value.problems


def setting(index: int, key: str, value: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        config["achievements"][index][key] = value

    return change


def title_setting(key: str, value: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        config["title"][key] = value

    return change


def without_title_id(config: dict[str, Any]) -> None:
    del config["title"]["id"]


def duplicate_id(config: dict[str, Any]) -> None:
    config["achievements"][2]["id"] = "1"


def no_achievements(config: dict[str, Any]) -> None:
    config["achievements"] = []


def unknown_top_level(config: dict[str, Any]) -> None:
    config["leaderboards"] = []


def numeric_top_level_key(config: dict[Any, Any]) -> None:
    config[7] = "seven"


def reward(kind: str = "InApp", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "name": "Golden Skin", "description": "Redeem it.", **extra}


BROKEN: list[Any] = [
    pytest.param(
        setting(0, "name", "n" * 45),
        "achievements[0].name: must be at most 44 characters",
        id="name-45",
    ),
    pytest.param(
        setting(1, "lockedDescription", "d" * 101),
        "achievements[1].lockedDescription: must be at most 100 characters",
        id="locked-description-101",
    ),
    pytest.param(
        setting(2, "description", "d" * 101),
        "achievements[2].description: must be at most 100 characters",
        id="description-101",
    ),
    pytest.param(
        setting(3, "gamerscore", 201), "achievements[3].gamerscore: must be 0..200", id="gs-201"
    ),
    pytest.param(
        setting(3, "gamerscore", -1), "achievements[3].gamerscore: must be 0..200", id="gs-neg"
    ),
    pytest.param(
        setting(3, "gamerscore", "10"),
        "achievements[3].gamerscore: must be a whole number",
        id="gs-string",
    ),
    pytest.param(
        setting(3, "gamerscore", 10.5),
        "achievements[3].gamerscore: must be a whole number",
        id="gs-float",
    ),
    pytest.param(
        setting(0, "secret", "yes"), "achievements[0].secret: must be true or false", id="secret"
    ),
    pytest.param(
        setting(0, "id", 1), "achievements[0].id: must be a string", id="numeric-achievement-id"
    ),
    pytest.param(
        setting(1, "rewards", [reward(name="r" * 58)]),
        "achievements[1].rewards[0].name: must be at most 57 characters",
        id="reward-name-58",
    ),
    pytest.param(
        setting(1, "rewards", [reward(description="r" * 91)]),
        "achievements[1].rewards[0].description: must be at most 90 characters",
        id="reward-description-91",
    ),
    pytest.param(
        setting(0, "rewards", [reward("InApp"), reward("InApp")]),
        "achievements[0].rewards[1].type: at most one InApp reward: rewards[0] is one",
        id="two-inapp",
    ),
    pytest.param(
        setting(3, "rewards", [reward("Art"), reward("Art")]),
        "achievements[3].rewards[1].type: at most one Art reward: rewards[0] is one",
        id="two-art",
    ),
    pytest.param(
        setting(0, "rewards", [reward("Art"), reward("InApp"), reward("Art")]),
        "achievements[0].rewards: must have at most 2 items",
        id="three-rewards",
    ),
    pytest.param(
        setting(0, "rewards", [reward("Gamerscore")]),
        "achievements[0].rewards[0].type: must be one of 'InApp' or 'Art'",
        id="reward-type",
    ),
    pytest.param(
        duplicate_id,
        "achievements[2].id: '1' is already the id of achievements[0]",
        id="duplicate-id",
    ),
    pytest.param(
        setting(0, "id", "first one"),
        "achievements[0].id: must not contain spaces",
        id="achievement-id-space",
    ),
    pytest.param(
        setting(4, "id", "i" * 65),
        "achievements[4].id: must be at most 64 characters",
        id="achievement-id-65",
    ),
    pytest.param(
        setting(1, "platforms", ["Scarlett", ""]),
        "achievements[1].platforms[1]: must not be empty",
        id="empty-platform",
    ),
    pytest.param(
        setting(2, "timeWindow", {"startDate": 1, "endDate": "2024-05-08T00:00:00Z"}),
        "achievements[2].timeWindow.startDate: must be a string",
        id="time-window-date",
    ),
    pytest.param(without_title_id, "title.id: is required", id="missing-title-id"),
    pytest.param(title_setting("id", 0), "title.id: must be 1..4294967295", id="title-id-0"),
    pytest.param(
        title_setting("id", 2**32), "title.id: must be 1..4294967295", id="title-id-2**32"
    ),
    pytest.param(
        title_setting("id", "1234"), "title.id: must be a whole number", id="title-id-string"
    ),
    pytest.param(
        title_setting("scid", "6a2e0100-not-a-guid"),
        "title.scid: must be a GUID such as 6a2e0100-0000-0000-0000-00005f1d2c3b",
        id="bad-scid",
    ),
    pytest.param(
        title_setting("kind", "leaderboard"),
        "title.kind: must be one of 'title-managed' or 'event-based'",
        id="bad-kind",
    ),
    pytest.param(
        title_setting("defaultLocale", "english"),
        "title.defaultLocale: 'english' is not a locale such as en-US",
        id="bad-default-locale",
    ),
    pytest.param(
        setting(0, "localized", {"fr-FR": {"name": "Premiers pas"}, "fr_FR": {"name": "x"}}),
        "achievements[0].localized.fr_FR: is not a locale such as fr-FR",
        id="bad-locale-key",
    ),
    pytest.param(
        setting(1, "localized", {7: {"name": "Premiers pas"}}),
        "achievements[1].localized.7: the name must be a string",
        id="numeric-locale-key",
    ),
    pytest.param(
        setting(1, "localized", {"fr-FR": "Premiers pas"}),
        "achievements[1].localized.fr-FR: must be a mapping of fields",
        id="locale-not-a-mapping",
    ),
    pytest.param(
        setting(0, "localized", {"fr-FR": {"name": "n" * 45}}),
        "achievements[0].localized.fr-FR.name: must be at most 44 characters",
        id="localized-name-45",
    ),
    pytest.param(
        setting(0, "localized", {"fr-FR": {"title": "Premiers pas"}}),
        "achievements[0].localized.fr-FR.title: is not a known field",
        id="localized-unknown-field",
    ),
    pytest.param(
        setting(4, "colour", "gold"),
        "achievements[4].colour: is not a known field",
        id="unknown-field",
    ),
    pytest.param(unknown_top_level, "leaderboards: is not a known field", id="unknown-section"),
    pytest.param(
        numeric_top_level_key,
        "7: is not a known field (names are strings)",
        id="numeric-top-level-key",
    ),
    pytest.param(
        setting(0, "estimatedTime", "1:00"),
        "achievements[0].estimatedTime: must be HH:MM:SS",
        id="estimated-time",
    ),
    pytest.param(no_achievements, "achievements: must have at least 1 item(s)", id="empty-list"),
]


@pytest.mark.parametrize(("change", "expected"), BROKEN)
def test_a_broken_file_names_the_field(change: Change, expected: str) -> None:
    config = title_config(5)
    change(config)
    assert problems_of(config) == [expected]


# --- event-based titles (spec/events.md) --------------------------------------------
# The base: title_config(5, kind="event-based"): events [Progress (measurement count)],
# stats [Count: sum of Progress.count], achievement n requires Count >= n.


def event_setting(index: int, **values: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        config["events"][index].update(values)

    return change


def stat_setting(index: int, **values: Any) -> Change:
    def change(config: dict[str, Any]) -> None:
        config["stats"][index].update(values)

    return change


def added(section: str, item: dict[str, Any]) -> Change:
    def change(config: dict[str, Any]) -> None:
        config[section].append(item)

    return change


def without(section: str, index: int, key: str) -> Change:
    def change(config: dict[str, Any]) -> None:
        del config[section][index][key]

    return change


def requires(*stats: str, target: Any = 1) -> list[dict[str, Any]]:
    return [{"stat": stat, "target": target} for stat in stats]


NAME_RULE = "must be a letter then letters, digits or _ (at most 64 characters)"
SERVER_ONLY = "not on an event-based title: declare its events sentBy: server"

BROKEN_EVENT_BASED: list[Any] = [
    pytest.param(event_setting(0, name="1st"), f"events[0].name: {NAME_RULE}", id="event-digit"),
    pytest.param(
        event_setting(0, name="E" * 65), f"events[0].name: {NAME_RULE}", id="event-name-65"
    ),
    pytest.param(
        event_setting(0, name="Enemy-Defeated"), f"events[0].name: {NAME_RULE}", id="event-dash"
    ),
    pytest.param(without("events", 0, "name"), "events[0].name: is required", id="event-no-name"),
    pytest.param(
        added("events", {"name": "Progress"}),
        "events[1].name: 'Progress' is already the name of events[0]",
        id="duplicate-event",
    ),
    pytest.param(
        event_setting(0, dimensions=[f"d{i}" for i in range(21)]),
        "events[0].dimensions: must have at most 20 items",
        id="dimensions-21",
    ),
    pytest.param(
        event_setting(0, measurements=[f"m{i}" for i in range(21)]),
        "events[0].measurements: must have at most 20 items",
        id="measurements-21",
    ),
    pytest.param(
        event_setting(0, dimensions=["weapon", "game mode"]),
        f"events[0].dimensions[1]: {NAME_RULE}",
        id="dimension-name",
    ),
    pytest.param(
        event_setting(0, measurements=["count", 7]),
        "events[0].measurements[1]: must be a string",
        id="measurement-number",
    ),
    pytest.param(
        event_setting(0, dimensions=["weapon", "mode", "weapon"]),
        "events[0].dimensions[2]: 'weapon' is already dimensions[0]",
        id="duplicate-dimension",
    ),
    pytest.param(
        event_setting(0, measurements=["count", "count"]),
        "events[0].measurements[1]: 'count' is already measurements[0]",
        id="duplicate-measurement",
    ),
    pytest.param(
        event_setting(0, dimensions=["count"]),
        "events[0].measurements[0]: 'count' is already dimensions[0]",
        id="measurement-named-as-dimension",
    ),
    pytest.param(
        event_setting(0, sentBy="player"),
        "events[0].sentBy: must be one of 'client' or 'server'",
        id="sent-by",
    ),
    pytest.param(
        event_setting(0, fields=[]), "events[0].fields: is not a known field", id="event-field"
    ),
    pytest.param(stat_setting(0, name="_x"), f"stats[0].name: {NAME_RULE}", id="stat-name"),
    pytest.param(
        added("stats", {"name": "Count", "event": "Progress", "aggregate": "max"}),
        "stats[1].name: 'Count' is already the name of stats[0]",
        id="duplicate-stat",
    ),
    pytest.param(stat_setting(0, event="Foo"), "stats[0].event: no event 'Foo'", id="no-event"),
    pytest.param(without("stats", 0, "event"), "stats[0].event: is required", id="stat-no-event"),
    pytest.param(
        stat_setting(0, measurement="damage"),
        "stats[0].measurement: event 'Progress' has no measurement 'damage'",
        id="no-measurement",
    ),
    pytest.param(
        stat_setting(0, aggregate="avg"),
        "stats[0].aggregate: must be one of 'sum', 'min' or 'max'",
        id="aggregate",
    ),
    pytest.param(
        without("stats", 0, "aggregate"), "stats[0].aggregate: is required", id="no-aggregate"
    ),
    pytest.param(
        stat_setting(0, where={"difficulty": "Hard"}),
        "stats[0].where.difficulty: event 'Progress' has no dimension 'difficulty'",
        id="where-unknown-dimension",
    ),
    pytest.param(
        stat_setting(0, where={"count": 1}),
        "stats[0].where.count: must be a string",
        id="where-not-a-string",
    ),
    pytest.param(
        stat_setting(0, where={"game mode": "Hard"}),
        f"stats[0].where.game mode: the name {NAME_RULE}",
        id="where-bad-name",
    ),
    pytest.param(
        stat_setting(0, maxChange=0),
        "stats[0].maxChange: must be 1..9223372036854775807",
        id="max-change-0",
    ),
    pytest.param(
        stat_setting(0, maxChange=2**63),
        "stats[0].maxChange: must be 1..9223372036854775807",
        id="max-change-2**63",
    ),
    pytest.param(
        stat_setting(0, maxChange=1.5),
        "stats[0].maxChange: must be a whole number",
        id="max-change-float",
    ),
    pytest.param(
        stat_setting(0, aggregate="max", maxChange=10),
        "stats[0].maxChange: only a sum stat has a maxChange (this one is max)",
        id="max-change-on-max",
    ),
    pytest.param(
        stat_setting(0, aggregate="min", maxChange=10),
        "stats[0].maxChange: only a sum stat has a maxChange (this one is min)",
        id="max-change-on-min",
    ),
    pytest.param(
        stat_setting(0, unit="kills"), "stats[0].unit: is not a known field", id="stat-field"
    ),
    pytest.param(
        setting(0, "requirements", []),
        "achievements[0].requirements: is required on an event-based title (1..5 stats to reach)",
        id="no-requirements",
    ),
    pytest.param(
        without("achievements", 3, "requirements"),
        "achievements[3].requirements: is required on an event-based title (1..5 stats to reach)",
        id="missing-requirements",
    ),
    pytest.param(
        setting(0, "requirements", requires(*"ABCDEF")),
        "achievements[0].requirements: must have at most 5 items",
        id="six-requirements",
    ),
    pytest.param(
        setting(1, "requirements", requires("X")),
        "achievements[1].requirements[0].stat: no stat 'X'",
        id="no-stat",
    ),
    pytest.param(
        setting(1, "requirements", requires("Count", "Count")),
        "achievements[1].requirements[1].stat: 'Count' is already required by requirements[0]",
        id="duplicate-requirement",
    ),
    pytest.param(
        setting(2, "requirements", requires("Count", target=2**63)),
        "achievements[2].requirements[0].target: must be a 64-bit integer",
        id="target-2**63",
    ),
    pytest.param(
        setting(2, "requirements", requires("Count", target=-(2**63) - 1)),
        "achievements[2].requirements[0].target: must be a 64-bit integer",
        id="target-below-int64",
    ),
    pytest.param(
        setting(2, "requirements", requires("Count", target="100")),
        "achievements[2].requirements[0].target: must be a whole number",
        id="target-string",
    ),
    pytest.param(
        setting(2, "requirements", [{"stat": "Count"}]),
        "achievements[2].requirements[0].target: is required",
        id="target-missing",
    ),
    pytest.param(
        setting(2, "requirements", [{"stat": "Count", "target": 1, "operator": "max"}]),
        "achievements[2].requirements[0].operator: is not a known field",
        id="requirement-field",
    ),
    pytest.param(
        setting(4, "serverOnly", True),
        f"achievements[4].serverOnly: {SERVER_ONLY}",
        id="server-only",
    ),
]


@pytest.mark.parametrize(("change", "expected"), BROKEN_EVENT_BASED)
def test_a_broken_event_based_file_names_the_field(change: Change, expected: str) -> None:
    config = title_config(5, kind="event-based")
    change(config)
    assert problems_of(config) == [expected]


def test_a_title_managed_title_has_no_events_stats_or_requirements() -> None:
    config = title_config(2, kind="event-based")
    config["title"]["kind"] = "title-managed"
    assert problems_of(config) == [
        "events: only an event-based title has events",
        "stats: only an event-based title has stats",
        "achievements[0].requirements: only an event-based title's achievements have requirements",
        "achievements[1].requirements: only an event-based title's achievements have requirements",
    ]


def test_every_reference_error_of_an_event_based_file_is_reported() -> None:
    config = title_config(3, kind="event-based")
    config["stats"] += [
        {"name": "Ghost", "event": "Nothing", "aggregate": "sum"},
        {"name": "Kills", "event": "Progress", "measurement": "kills", "aggregate": "max"},
    ]
    config["achievements"][0]["requirements"] = requires("Count", "Deaths")
    config["achievements"][1]["serverOnly"] = True
    del config["achievements"][2]["requirements"]
    assert problems_of(config) == [
        f"achievements[1].serverOnly: {SERVER_ONLY}",
        "achievements[2].requirements: is required on an event-based title (1..5 stats to reach)",
        "stats[1].event: no event 'Nothing'",
        "stats[2].measurement: event 'Progress' has no measurement 'kills'",
        "achievements[0].requirements[1].stat: no stat 'Deaths'",
    ]


def test_a_written_event_based_file_with_the_spec_layout_reads(tmp_path: Path) -> None:
    (tmp_path / "game.yaml").write_text(EVENT_BASED_YAML, encoding="utf-8")
    config = read_config_file(tmp_path / "game.yaml")
    assert config.title.kind == "event-based"
    event, boss = config.events
    assert (boss.dimensions, boss.measurements, boss.sentBy) == ([], [], "server")
    assert (event.name, event.dimensions, event.measurements, event.sentBy) == (
        "EnemyDefeated",
        ["weapon", "difficulty"],
        ["count", "damage"],
        "client",
    )
    hard, sword = config.stats
    assert (hard.measurement, hard.aggregate, hard.where, hard.maxChange) == (
        "count",
        "sum",
        {"difficulty": "Hard"},
        100,
    )
    assert (sword.measurement, sword.aggregate, sword.where, sword.maxChange) == (
        None,
        "max",
        {"weapon": "Sword"},
        None,
    )
    century, minimal = config.achievements
    assert [(r.stat, r.target) for r in century.requirements] == [("EnemiesDefeated", 100)]
    assert [(r.stat, r.target) for r in minimal.requirements] == [
        ("EnemiesDefeated", -(2**63)),
        ("SwordBest", 2**63 - 1),
    ]


EVENT_BASED_YAML = f"""
title:
  id: 1234
  name: My Game
  scid: {SCID}
  defaultLocale: en-US
  kind: event-based
events:
  - name: EnemyDefeated
    dimensions: [weapon, difficulty]
    measurements: [count, damage]
  - name: BossDefeated
    sentBy: server
stats:
  - name: EnemiesDefeated
    event: EnemyDefeated
    measurement: count
    aggregate: sum
    where: {{difficulty: Hard}}
    maxChange: 100
  - name: SwordBest
    event: EnemyDefeated
    aggregate: max
    where: {{weapon: Sword}}
achievements:
  - id: "10"
    name: Century
    lockedDescription: Defeat 100 enemies on Hard.
    description: You defeated 100 enemies on Hard.
    gamerscore: 50
    requirements:
      - stat: EnemiesDefeated
        target: 100
  - id: "11"
    name: Extremes
    lockedDescription: Reach both ends.
    description: You reached both ends.
    gamerscore: 5
    requirements:
      - {{stat: EnemiesDefeated, target: -9223372036854775808}}
      - {{stat: SwordBest, target: 9223372036854775807}}
"""


def test_a_challenge_without_time_window_names_the_missing_field() -> None:
    config = title_config(5)
    config["achievements"][0]["type"] = "Challenge"
    [problem] = problems_of(config)
    assert problem.startswith("achievements[0].timeWindow: ")
    assert "Challenge" in problem


def test_every_error_of_a_file_is_reported() -> None:
    config = title_config(5)
    del config["title"]["id"]
    config["achievements"][0]["name"] = "n" * 45
    config["achievements"][1]["estimatedTime"] = "1:00"
    config["achievements"][2]["colour"] = "gold"
    config["achievements"][3]["gamerscore"] = 201
    config["achievements"][4]["rewards"] = [reward(description="r" * 91)]
    assert sorted(problems_of(config)) == sorted(
        [
            "title.id: is required",
            "achievements[0].name: must be at most 44 characters",
            "achievements[1].estimatedTime: must be HH:MM:SS",
            "achievements[2].colour: is not a known field",
            "achievements[3].gamerscore: must be 0..200",
            "achievements[4].rewards[0].description: must be at most 90 characters",
        ]
    )


@pytest.mark.parametrize("document", [None, [], "title: x", 42])
def test_a_file_that_is_not_a_mapping_is_refused(document: Any) -> None:
    [problem] = problems_of(document)
    assert problem.startswith("(file): ")


# --- valid files -------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "title": {"id": 7, "name": "Tiny"},
    "achievements": [
        {
            "id": "1",
            "name": "n" * 44,
            "lockedDescription": "l" * 100,
            "description": "d" * 100,
            "gamerscore": 0,
        }
    ],
}

FULL: dict[str, Any] = {
    "title": {
        "id": 0xFFFFFFFF,
        "name": "Example Game",
        "scid": SCID.upper(),
        "defaultLocale": "en-US",
        "kind": "title-managed",
    },
    "achievements": [
        {
            "id": "1",
            "name": "First Steps",
            "lockedDescription": "Finish the tutorial.",
            "description": "You finished the tutorial.",
            "gamerscore": 200,
            "secret": True,
            "icon": "icons/first-steps.png",
            "estimatedTime": "00:10:00",
            "deeplink": "game://tutorial",
            "serverOnly": True,
            "rewards": [
                {
                    "type": "InApp",
                    "name": "g" * 57,
                    "description": "r" * 90,
                    "value": "SKIN_GOLD",
                },
                {
                    "type": "Art",
                    "name": "Banner",
                    "description": "A banner.",
                    "image": "https://cdn.example.com/banner.png",
                },
            ],
            "localized": {
                "fr-FR": {
                    "name": "Premiers pas",
                    "lockedDescription": "Terminez le tutoriel.",
                    "description": "Vous avez terminé le tutoriel.",
                },
                "de": {"name": "Erste Schritte"},
            },
        },
        {
            "id": "weekly",
            "name": "Weekly",
            "lockedDescription": "Win this week.",
            "description": "You won this week.",
            "gamerscore": 5,
            "type": "Challenge",
            "timeWindow": {"startDate": "2024-05-01T00:00:00Z", "endDate": "2024-05-08T00:00:00Z"},
            "productId": "9NBLGGH4R315",
            "platforms": ["Durango", "Scarlett"],
        },
    ],
}


def test_a_minimal_file_gets_the_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.title.id == 7
    assert config.title.scid is None
    assert config.title.defaultLocale == "en-US"
    assert config.title.kind == "title-managed"
    only = config.achievements[0]
    assert (only.secret, only.serverOnly, only.icon, only.type) == (
        False,
        False,
        None,
        "Persistent",
    )
    assert (only.estimatedTime, only.deeplink, only.rewards, only.localized) == (
        "00:00:00",
        "",
        [],
        {},
    )


def test_a_full_file_keeps_every_field() -> None:
    config = parse_config(FULL)
    assert config.title.scid == SCID  # compared, and stored, in lower case
    dumped = config.model_dump(mode="json", exclude_none=True)
    first, weekly = dumped["achievements"]
    expected_first = copy.deepcopy(FULL["achievements"][0])
    expected_first["rewards"][1]["value"] = ""
    defaults = {"type": "Persistent", "productId": "", "platforms": [], "requirements": []}
    assert {**first, **defaults} == {**expected_first, **defaults}
    assert weekly["timeWindow"] == FULL["achievements"][1]["timeWindow"]
    assert weekly["platforms"] == ["Durango", "Scarlett"]


def test_the_yaml_and_json_forms_read_the_same(tmp_path: Path) -> None:
    (tmp_path / "game.yaml").write_text(yaml.safe_dump(FULL), encoding="utf-8")
    (tmp_path / "game.json").write_text(json.dumps(FULL), encoding="utf-8")
    from_yaml = read_config_file(tmp_path / "game.yaml")
    from_json = read_config_file(tmp_path / "game.json")
    assert from_yaml == from_json == parse_config(FULL)


def test_a_written_yaml_file_with_the_spec_layout_reads(tmp_path: Path) -> None:
    text = f"""
title:
  id: 1234
  name: Example Game
  scid: {SCID}
  defaultLocale: en-US
  kind: title-managed
achievements:
  - id: "1"
    name: First Steps
    lockedDescription: Finish the tutorial.
    description: You finished the tutorial.
    gamerscore: 10
    secret: false
    icon: https://cdn.example.com/first-steps.png
    estimatedTime: "00:10:00"
    deeplink: ""
    serverOnly: false
    rewards:
      - type: InApp
        name: Golden Skin
        description: Redeem in the Armory.
        value: SKIN_GOLD
    localized:
      fr-FR: {{name: Premiers pas, lockedDescription: Finissez., description: Fini.}}
"""
    (tmp_path / "game.yaml").write_text(text, encoding="utf-8")
    config = read_config_file(tmp_path / "game.yaml")
    assert config.achievements[0].localized["fr-FR"].name == "Premiers pas"
    assert config.achievements[0].rewards[0].value == "SKIN_GOLD"


def test_a_file_with_errors_read_from_disk_names_the_field(tmp_path: Path) -> None:
    config = title_config(5)
    config["achievements"][1]["gamerscore"] = 250
    (tmp_path / "game.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.raises(InvalidConfig) as caught:
        read_config_file(tmp_path / "game.yaml")
    assert caught.value.problems == ["achievements[1].gamerscore: must be 0..200"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.json", '{"title": {"id": 1,', "not valid YAML or JSON"),
        ("broken.yaml", "title: [unclosed", "not valid YAML or JSON"),
        ("missing.yaml", None, "cannot read"),
    ],
)
def test_an_unreadable_file_is_one_clear_problem(
    tmp_path: Path, name: str, content: str | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidConfig) as caught:
        read_config_file(path)
    [problem] = caught.value.problems
    assert name in problem
    assert expected in problem


# --- icons -------------------------------------------------------------------------


def with_icons(*icons: str | None) -> ConfigFile:
    config = title_config(len(icons))
    for entry, icon in zip(config["achievements"], icons, strict=True):
        if icon is not None:
            entry["icon"] = icon
    return parse_config(config)


def test_png_paths_are_resolved_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "icons").mkdir()
    first, second = png_bytes(1), png_bytes(2)
    (tmp_path / "icons" / "first.png").write_bytes(first)
    (tmp_path / "second.png").write_bytes(second)
    config = with_icons(
        "icons/first.png",
        "second.png",
        "https://cdn.example.com/third.png",
        "http://cdn.example.com/fourth.png",
        None,
    )
    document, pngs = resolve_images(config, tmp_path)
    sha1, sha2 = hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()
    assert [a["icon"] for a in document["achievements"]] == [
        f"media:{sha1}",
        f"media:{sha2}",
        "https://cdn.example.com/third.png",
        "http://cdn.example.com/fourth.png",
        None,
    ]
    assert pngs == {sha1: first, sha2: second}


def test_the_same_png_twice_is_stored_once(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes(5))
    (tmp_path / "b.png").write_bytes(png_bytes(5))
    document, pngs = resolve_images(with_icons("a.png", "b.png"), tmp_path)
    assert document["achievements"][0]["icon"] == document["achievements"][1]["icon"]
    assert len(pngs) == 1


def test_an_art_reward_image_is_resolved_too(tmp_path: Path) -> None:
    (tmp_path / "banner.png").write_bytes(png_bytes(9))
    config = title_config(1)
    config["achievements"][0]["rewards"] = [reward("Art", image="banner.png")]
    document, pngs = resolve_images(parse_config(config), tmp_path)
    sha = hashlib.sha256(png_bytes(9)).hexdigest()
    assert document["achievements"][0]["rewards"][0]["image"] == f"media:{sha}"
    assert set(pngs) == {sha}


def test_a_png_of_exactly_one_mib_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png_bytes(1, size=MAX_ICON_BYTES))
    _, pngs = resolve_images(with_icons("big.png"), tmp_path)
    assert [len(data) for data in pngs.values()] == [MAX_ICON_BYTES]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "achievements[1].icon: no such file 'icon.png'"),
        (b"GIF89a not a png at all", "achievements[1].icon: 'icon.png' is not a PNG file"),
        (b"", "achievements[1].icon: 'icon.png' is not a PNG file"),
        (
            png_bytes(1, size=MAX_ICON_BYTES + 1),
            "achievements[1].icon: 'icon.png' is larger than 1 MiB",
        ),
    ],
    ids=["missing", "not-png", "empty", "over-1-mib"],
)
def test_a_bad_icon_names_the_achievement(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    (tmp_path / "good.png").write_bytes(png_bytes(1))
    if content is not None:
        (tmp_path / "icon.png").write_bytes(content)
    with pytest.raises(InvalidConfig) as caught:
        resolve_images(with_icons("good.png", "icon.png"), tmp_path)
    assert caught.value.problems == [expected]


def test_every_bad_icon_is_reported(tmp_path: Path) -> None:
    (tmp_path / "good.png").write_bytes(png_bytes(1))
    (tmp_path / "text.png").write_text("hello", encoding="utf-8")
    config = title_config(3)
    config["achievements"][0]["icon"] = "gone.png"
    config["achievements"][1]["icon"] = "good.png"
    config["achievements"][2]["icon"] = "text.png"
    config["achievements"][2]["rewards"] = [reward("Art", image="gone-too.png")]
    with pytest.raises(InvalidConfig) as caught:
        resolve_images(parse_config(config), tmp_path)
    assert caught.value.problems == [
        "achievements[0].icon: no such file 'gone.png'",
        "achievements[2].icon: 'text.png' is not a PNG file",
        "achievements[2].rewards[0].image: no such file 'gone-too.png'",
    ]


def test_a_directory_is_not_an_icon(tmp_path: Path) -> None:
    (tmp_path / "icons").mkdir()
    with pytest.raises(InvalidConfig) as caught:
        resolve_images(with_icons("icons"), tmp_path)
    [problem] = caught.value.problems
    assert problem.startswith("achievements[0].icon: ")
