"""The rules of event-based achievements as tables, on the pure evaluation
(progress.rules) and the pure validation of one event (progress.events.check_event)."""

from __future__ import annotations

from typing import Any

import pytest

from laurels.errors import BadRequest, Forbidden
from laurels.progress.events import check_event
from laurels.progress.rules import (
    Event,
    aggregate,
    apply,
    contribution,
    met,
    requirements_met,
    too_large,
)
from laurels.progress.schemas import EventItem
from laurels.progress.updates import TimePolicy
from laurels.titles import INT64_MAX, INT64_MIN, PublishedTitle
from laurels.wire.principal import Principal
from laurels.wire.times import format_time, from_micros
from tests.helpers.events import WEAPONS_TITLE

TITLE = PublishedTitle.from_document("DEV.1", 1, WEAPONS_TITLE)
STAT = TITLE.stats
POSITION = TITLE.index  # achievement id → position


def ev(name: str = "EnemyDefeated", t: int = 0, n: int = 0, **fields: Any) -> Event:
    return Event(f"e{n}-{t}", name, t, fields.get("dimensions", {}), fields.get("measurements", {}))


def kill(count: int, t: int = 0, **dimensions: str) -> Event:
    return ev(t=t, measurements={"count": count}, dimensions=dimensions)


@pytest.mark.parametrize(
    ("kind", "current", "amount", "after"),
    [
        ("sum", None, 10, 10),
        ("sum", 10, 10, 20),
        ("sum", 5, -7, -2),
        ("sum", INT64_MAX - 1, 5, INT64_MAX),  # saturates, never wraps
        ("sum", INT64_MIN + 1, -5, INT64_MIN),
        ("sum", INT64_MAX, INT64_MAX, INT64_MAX),
        ("min", None, 70, 70),
        ("min", 70, 55, 55),
        ("min", 55, 80, 55),
        ("max", None, 30, 30),
        ("max", 30, 60, 60),
        ("max", 60, 10, 60),
        ("max", -5, -9, -5),
    ],
)
def test_aggregates(kind: str, current: int | None, amount: int, after: int) -> None:
    assert aggregate(kind, current, amount) == after


@pytest.mark.parametrize(
    ("kind", "value", "target", "is_met"),
    [
        ("sum", None, 0, False),  # unset meets nothing, not even a target of 0
        ("sum", 29, 30, False),
        ("sum", 30, 30, True),
        ("sum", 31, 30, True),
        ("max", 50, 50, True),
        ("max", 49, 50, False),
        ("min", 60000, 60000, True),
        ("min", 59999, 60000, True),
        ("min", 60001, 60000, False),
        ("min", None, 60000, False),
    ],
)
def test_requirement_met(kind: str, value: int | None, target: int, is_met: bool) -> None:
    assert met(kind, value, target) is is_met


@pytest.mark.parametrize(
    ("achievement", "values", "is_met"),
    [
        ("1", {}, False),
        ("1", {"Kills": 29}, False),
        ("1", {"Kills": 30}, True),
        ("2", {"HardSwordKills": 2}, False),  # MaxDamage unset
        ("2", {"HardSwordKills": 1, "MaxDamage": 99}, False),
        ("2", {"HardSwordKills": 2, "MaxDamage": 50}, True),
        ("3", {"BestLap": 60001}, False),  # a min stat: at or below its target
        ("3", {"BestLap": 60000}, True),
        ("3", {"BestLap": 100}, True),
    ],
)
def test_all_requirements_met(achievement: str, values: dict[str, int], is_met: bool) -> None:
    assert requirements_met(TITLE, POSITION[achievement], values) is is_met


def test_a_requirement_on_an_undeclared_stat() -> None:
    """A stored version is read without the import's checks: a requirement naming a
    stat the version lacks does not make it unreadable, no event moves it, and it is
    checked as a sum."""
    document = {
        **WEAPONS_TITLE,
        "achievements": [
            {**WEAPONS_TITLE["achievements"][0], "requirements": [{"stat": "Gone", "target": 0}]}
        ],
    }
    title = PublishedTitle.from_document("DEV.1", 1, document)
    assert apply(title, {}, set(), [kill(5)]).unlocks == []
    assert not requirements_met(title, 0, {"Kills": 5})
    assert requirements_met(title, 0, {"Gone": 0})


@pytest.mark.parametrize(
    ("stat", "event", "amount"),
    [
        ("Kills", kill(3), 3),
        ("Kills", ev(measurements={"damage": 40}), None),  # its measurement missing
        ("Kills", ev("LapFinished", measurements={"ms": 3}), None),  # another event
        ("HardSwordKills", kill(3, weapon="Sword", difficulty="Hard"), 1),  # counts 1
        ("HardSwordKills", kill(3, weapon="Sword", difficulty="Easy"), None),
        ("HardSwordKills", kill(3, weapon="Sword"), None),  # missing dimension is ""
        ("HardSwordKills", kill(3, weapon="sword", difficulty="Hard"), None),  # exact
        ("MaxDamage", ev(measurements={"damage": 0}), 0),
        ("BestLap", ev("LapFinished", measurements={"ms": 61000}), 61000),
    ],
)
def test_contribution_and_filters(stat: str, event: Event, amount: int | None) -> None:
    assert contribution(STAT[stat], event) == amount


def test_three_events_of_ten_unlock_at_the_third() -> None:
    outcome = apply(TITLE, {}, set(), [kill(10, t=1), kill(10, t=2), kill(10, t=3)])
    assert outcome.changed == {"Kills": 30}
    assert outcome.unlocks == [(POSITION["1"], 3)]


@pytest.mark.parametrize(
    "events",
    [
        # every order of meeting achievement 2's two requirements
        [
            ev(t=1, measurements={"damage": 70}),
            *(kill(1, t, weapon="Sword", difficulty="Hard") for t in (2, 3)),
        ],
        [
            kill(1, 1, weapon="Sword", difficulty="Hard"),
            ev(t=2, measurements={"damage": 70}),
            kill(1, 3, weapon="Sword", difficulty="Hard"),
        ],
        [
            *(kill(1, t, weapon="Sword", difficulty="Hard") for t in (1, 2)),
            ev(t=3, measurements={"damage": 70}),
        ],
    ],
)
def test_several_requirements_in_any_order_unlock_once(events: list[Event]) -> None:
    outcome = apply(TITLE, {}, set(), events)
    assert [u for u in outcome.unlocks if u[0] == POSITION["2"]] == [(POSITION["2"], 3)]
    assert outcome.values["HardSwordKills"] == 2
    assert outcome.values["MaxDamage"] == 70


def test_one_requirement_met_is_not_enough() -> None:
    events = [kill(1, t, weapon="Sword", difficulty="Hard") for t in range(5)]
    outcome = apply(TITLE, {}, set(), [*events, ev(t=9, measurements={"damage": 49})])
    assert POSITION["2"] not in [p for p, _ in outcome.unlocks]
    assert POSITION["2"] in outcome.moved


def test_min_stat_unlocks_at_or_below_its_target() -> None:
    laps = [
        ev("LapFinished", t, t, measurements={"ms": ms})
        for t, ms in enumerate((70000, 65000, 60000, 80000))
    ]
    outcome = apply(TITLE, {}, set(), laps)
    assert outcome.values["BestLap"] == 60000
    assert outcome.unlocks == [(POSITION["3"], 2)]


def test_no_relock_and_no_second_unlock() -> None:
    # Unlocked before (say, under an older version), its stat now below target.
    outcome = apply(TITLE, {"Kills": 5}, {POSITION["1"]}, [kill(40, t=1), kill(-100, t=2)])
    assert outcome.unlocks == []
    assert outcome.values["Kills"] == -55
    assert POSITION["1"] in outcome.moved  # its current still changed


def test_saturation_never_wraps_into_a_lock() -> None:
    outcome = apply(TITLE, {"Kills": INT64_MAX - 1}, set(), [kill(100, t=1), kill(100, t=2)])
    assert outcome.values["Kills"] == INT64_MAX
    assert outcome.changed == {"Kills": INT64_MAX}
    assert [p for p, _ in outcome.unlocks] == [POSITION["1"], POSITION["secret"]]


def test_an_unchanged_stat_moves_nothing() -> None:
    outcome = apply(TITLE, {"MaxDamage": 90}, set(), [ev(t=1, measurements={"damage": 20})])
    assert outcome.changed == {}
    assert outcome.moved == []


@pytest.mark.parametrize(
    ("amount", "refused"), [(100, False), (101, True), (-101, True), (1, False)]
)
def test_max_change_bounds_one_contribution(amount: int, refused: bool) -> None:
    assert too_large(STAT["Kills"], amount) is refused


PLAYER = Principal("player", "2533274790395904", 1234, "DEV.1", 2e9)
SERVER = Principal("server", None, 1234, "DEV.1", 2e9)
POLICY = TimePolicy(skew_us=300_000_000, window_us=30 * 86400 * 1_000_000)
NOW = 1_800_000_000_000_000


def check(item: dict[str, Any], principal: Principal = PLAYER) -> Event:
    return check_event(
        principal, TITLE, EventItem.model_validate({"id": "x", **item}), 3, NOW, POLICY
    )


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ({"name": "Nope"}, "events[3].name"),
        ({"name": "EnemyDefeated", "dimensions": {"colour": "red"}}, "events[3].dimensions.colour"),
        ({"name": "EnemyDefeated", "measurements": {"ms": 1}}, "events[3].measurements.ms"),
        ({"name": "EnemyDefeated", "measurements": {"count": 101}}, "events[3].measurements.count"),
        ({"name": "EnemyDefeated", "time": "yesterday"}, "events[3].time"),
    ],
)
def test_bad_events_are_refused_naming_their_path(item: dict[str, Any], path: str) -> None:
    with pytest.raises(BadRequest) as refused:
        check(item)
    assert str(refused.value).startswith(f"{path}: "), refused.value


def test_server_events_need_a_server_credential() -> None:
    with pytest.raises(Forbidden, match=r"^events\[3\]\.name: "):
        check({"name": "BossDefeated"})
    assert check({"name": "BossDefeated"}, SERVER).name == "BossDefeated"


@pytest.mark.parametrize(
    ("time", "recorded"),
    [
        (None, NOW),
        ("2027-01-15T08:00:00Z", NOW),  # exactly now: kept
        ("2027-01-16T08:00:00Z", NOW),  # a day ahead, beyond the skew: recorded as now
        ("2026-11-01T08:00:00Z", NOW),  # older than the 30-day window: recorded as now
    ],
)
def test_event_time_is_honoured_as_time_achieved(time: str | None, recorded: int) -> None:
    item = {"name": "LapFinished"} if time is None else {"name": "LapFinished", "time": time}
    assert check(item).time_us == recorded


def test_a_believable_event_time_is_kept() -> None:
    earlier = NOW - 3_600_000_000
    assert (
        check({"name": "LapFinished", "time": format_time(from_micros(earlier))}).time_us == earlier
    )
