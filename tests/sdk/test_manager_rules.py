"""The achievements manager's pure decisions (`laurels.sdk._cache`): the merge
of what the service says into the cache and the events it raises, the reference
manager's update rules, event-based detection, filtering and sorting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from laurels.sdk import (
    E_BOUNDS,
    E_INVALIDARG,
    E_NOT_SUPPORTED,
    E_UNEXPECTED,
    Achievement,
    ManagerEventType,
    ProgressChange,
    UnlockNotification,
)
from laurels.sdk._cache import (
    Observation,
    is_event_based,
    merge,
    observed_change,
    observed_fetch,
    observed_unlock,
    select,
    update_refusal,
)

NEVER = "0001-01-01T00:00:00Z"
T1 = "2024-05-01T18:22:07.1234567Z"
T2 = "2024-06-01T10:00:00.0000000Z"
PROGRESS = ManagerEventType.ACHIEVEMENT_PROGRESS_UPDATED
UNLOCKED = ManagerEventType.ACHIEVEMENT_UNLOCKED


def wire(
    achievement_id: str = "1",
    percent: int | None = None,
    when: str = NEVER,
    *,
    name: str | None = None,
    requirements: list[dict[str, Any]] | None = None,
    secret: bool = False,
) -> dict[str, Any]:
    state = "Achieved" if when != NEVER else "InProgress" if percent else "NotStarted"
    current = None if percent is None else str(percent)
    return {
        "id": achievement_id,
        "name": name or f"Achievement {achievement_id}",
        "progressState": state,
        "progression": {
            "requirements": requirements
            if requirements is not None
            else [{"id": "r", "current": current, "target": "100"}],
            "timeUnlocked": when,
        },
        "isSecret": secret,
        "description": f"You did {achievement_id}.",
        "lockedDescription": f"Do {achievement_id}.",
        "rewards": [{"type": "Gamerscore", "value": "10"}],
    }


def make(
    achievement_id: str = "1", percent: int | None = None, when: str = NEVER, **kw: Any
) -> Achievement:
    return Achievement.from_wire(wire(achievement_id, percent, when, **kw))


def seen(percent: int, when: str = NEVER) -> Observation:
    return Observation(percent, when != NEVER, when)


@pytest.mark.parametrize(
    ("cached", "observed", "percent", "state", "events"),
    [
        (make(percent=None), seen(40), 40, "InProgress", (PROGRESS,)),
        (make(percent=40), seen(60), 60, "InProgress", (PROGRESS,)),
        (make(percent=40), seen(40), 40, "InProgress", ()),  # a replay
        (make(percent=60), seen(40), 60, "InProgress", ()),  # an old event: a maximum
        (make(percent=40), seen(100, T1), 100, "Achieved", (PROGRESS, UNLOCKED)),
        (make(percent=None), seen(100, T1), 100, "Achieved", (PROGRESS, UNLOCKED)),
        (make(percent=100, when=T1), seen(100, T2), 100, "Achieved", ()),  # final
        (make(percent=100, when=T1), seen(20), 100, "Achieved", ()),
        (make(percent=None), seen(0), None, "NotStarted", ()),
    ],
)
def test_merge(
    cached: Achievement,
    observed: Observation,
    percent: int | None,
    state: str,
    events: tuple[ManagerEventType, ...],
) -> None:
    merged, raised = merge(cached, observed)
    assert (merged.percent, merged.progress_state, raised) == (percent, state, events)
    assert merged.raw["progressState"] == state  # the raw object says the same
    requirement = merged.raw["progression"]["requirements"][0]
    assert requirement["current"] == (None if percent is None else str(percent))
    if not events:
        assert merged == cached


def test_an_unlock_keeps_the_first_unlock_time() -> None:
    merged, _ = merge(make(percent=50), seen(100, T1))
    assert merged.time_unlocked == T1
    assert merged.raw["progression"]["timeUnlocked"] == T1
    again, raised = merge(merged, seen(100, T2))
    assert (again.time_unlocked, raised) == (T1, ())


def test_an_unlock_notification_reveals_a_secret() -> None:
    hidden = make(percent=None, name="Secret achievement", secret=True)
    notification = UnlockNotification(
        xuid="1",
        event_id="1.1",
        achievement_id="1",
        name="Hidden Grove",
        description="Behind the waterfall.",
        icon=None,
        gamerscore=10,
        rarity_percentage=0.1,
        rarity_category="Rare",
        unlock_time=T1,
        title_id=1234,
        raw={},
    )
    merged, raised = merge(hidden, observed_unlock(notification))
    assert raised == (PROGRESS, UNLOCKED)
    assert (merged.name, merged.description, merged.time_unlocked) == (
        "Hidden Grove",
        "Behind the waterfall.",
        T1,
    )
    assert merged.raw["name"] == "Hidden Grove"


def test_a_progress_change_is_observed_as_sent() -> None:
    change = ProgressChange.from_wire(
        {
            "id": "1",
            "progressState": "Achieved",
            "timeUnlocked": T1,
            "requirements": [{"id": "r", "current": "100", "target": "100"}],
        }
    )
    requirements = ({"id": "r", "current": "100", "target": "100"},)
    assert observed_change(change) == Observation(100, True, T1, requirements=requirements)


def test_a_fresh_read_replaces_the_other_fields_a_stale_one_does_not() -> None:
    cached = make(percent=40)
    fresh = Achievement.from_wire({**wire(percent=50), "name": "Renamed"})
    merged, raised = merge(cached, observed_fetch(fresh))
    assert (merged.name, merged.percent, raised) == ("Renamed", 50, (PROGRESS,))
    stale = Achievement.from_wire({**wire(percent=20), "name": "Old"})
    kept, raised = merge(merged, observed_fetch(stale))
    assert (kept.name, kept.percent, raised) == ("Renamed", 50, ())


@given(
    start=st.integers(0, 100),
    news=st.lists(st.tuples(st.integers(0, 100), st.booleans()), max_size=20),
)
def test_merging_twice_raises_nothing_the_second_time(
    start: int, news: list[tuple[int, bool]]
) -> None:
    """The invariant behind "no duplicate event after a replay or a resync": a
    merge is idempotent and monotone, in any order."""
    cached = make(percent=start or None) if start < 100 else make(percent=100, when=T1)
    unlocks = 0
    for percent, unlocked in news:
        observation = Observation(100 if unlocked else percent, unlocked, T1 if unlocked else NEVER)
        before = cached
        cached, raised = merge(cached, observation)
        unlocks += raised.count(UNLOCKED)
        assert (cached.percent or 0) >= (before.percent or 0)
        assert not (before.unlocked and not cached.unlocked)
        again, twice = merge(cached, observation)
        assert (again, twice) == (cached, ())
    assert unlocks <= 1


@pytest.mark.parametrize(
    ("cached", "percent", "event_based", "hresult"),
    [
        (None, 50, False, E_BOUNDS),
        (make(percent=100, when=T1), 100, False, E_UNEXPECTED),
        (make(percent=100, when=T1), 50, True, E_UNEXPECTED),  # unlocked is checked first
        (make(percent=10), 50, True, E_NOT_SUPPORTED),
        (make(percent=40), 40, False, E_INVALIDARG),
        (make(percent=40), 39, False, E_INVALIDARG),
        (make(percent=None), 0, False, E_INVALIDARG),
        (make(percent=None), -5, False, E_INVALIDARG),
        (make(percent=40), 41, False, None),
        (make(percent=None), 1, False, None),
        (make(percent=99), 100, False, None),
    ],
)
def test_update_rules(
    cached: Achievement | None, percent: int, event_based: bool, hresult: int | None
) -> None:
    refusal = update_refusal(cached, percent, event_based=event_based)
    assert (refusal[0] if refusal else None) == hresult
    if refusal:
        assert refusal[1]


@pytest.mark.parametrize(
    ("kind", "requirements", "event_based"),
    [
        ("TitleManaged", [{"id": "r", "current": None, "target": "100"}], False),
        ("EventBased", [{"id": "r", "current": None, "target": "100"}], True),
        ("EventBased", [{"id": "r", "current": "3", "target": "5", "operationType": "Sum"}], True),
        # The shape of the requirements says nothing: only the service's word does.
        ("TitleManaged", [{"id": "r", "current": "3", "target": "5"}], False),
        (None, [{"id": "a", "target": "100"}, {"id": "b", "target": "100"}], False),
        (None, [], False),
    ],
)
def test_event_based_is_what_the_service_says(
    kind: str | None, requirements: list[dict[str, Any]], event_based: bool
) -> None:
    item = wire(requirements=requirements)
    if kind is not None:
        item["progressionKind"] = kind
    assert is_event_based(Achievement.from_wire(item)) is event_based


ITEMS = [
    make("1", 100, "2024-03-01T00:00:00.0000000Z", name="beta"),
    make("2", 40, name="Alpha"),
    make("3", 100, "2024-01-01T00:00:00.0000000Z", name="gamma"),
    make("4", None, name="delta"),
]


@pytest.mark.parametrize(
    ("sort_by", "descending", "state", "ids"),
    [
        (None, False, None, ["1", "2", "3", "4"]),
        (None, True, None, ["1", "2", "3", "4"]),  # nothing to sort by
        ("Title", False, None, ["2", "1", "4", "3"]),
        ("Title", True, None, ["3", "4", "1", "2"]),
        ("UnlockTime", False, None, ["3", "1", "2", "4"]),
        ("UnlockTime", True, None, ["1", "3", "2", "4"]),
        (None, False, "Achieved", ["1", "3"]),
        (None, False, "InProgress", ["2"]),
        (None, False, "NotStarted", ["4"]),
        ("UnlockTime", True, "Achieved", ["1", "3"]),
    ],
)
def test_select(sort_by: Any, descending: bool, state: Any, ids: list[str]) -> None:
    chosen = select(ITEMS, sort_by=sort_by, descending=descending, state=state)
    assert [a.id for a in chosen] == ids


@pytest.mark.parametrize(("sort_by", "state"), [("Name", None), (None, "Unlocked")])
def test_select_refuses_unknown_sorts_and_states(sort_by: Any, state: Any) -> None:
    with pytest.raises(ValueError, match="must be one of"):
        select(ITEMS, sort_by=sort_by, descending=False, state=state)


# -- event-based achievements (spec/events.md) ---------------------------------------


def stat(current: str | None, target: str = "30") -> dict[str, Any]:
    return {"id": "s", "current": current, "target": target, "operationType": "Sum"}


def event_based(current: str | None = None, when: str = NEVER, **kw: Any) -> Achievement:
    item = wire(requirements=[stat(current)], when=when, **kw)
    item["progressionKind"] = "EventBased"
    if current is not None and when == NEVER:
        item["progressState"] = "InProgress"
    return Achievement.from_wire(item)


def test_an_event_based_achievement_has_no_percentage_but_its_requirements() -> None:
    cached = event_based("37")
    assert cached.event_based
    assert cached.percent is None  # "37" is a stat's value, not a percentage
    assert cached.requirements == [stat("37")]
    assert event_based("30", T1).percent == 100


@pytest.mark.parametrize(
    ("cached", "observed", "state", "current", "events"),
    [
        # a stat moved: progress, in either direction (a min stat goes down)
        (
            event_based(),
            Observation(0, False, requirements=(stat("10"),)),
            "InProgress",
            "10",
            (PROGRESS,),
        ),
        (
            event_based("20"),
            Observation(0, False, requirements=(stat("10"),)),
            "InProgress",
            "10",
            (PROGRESS,),
        ),
        # the same news twice: nothing
        (
            event_based("10"),
            Observation(0, False, requirements=(stat("10"),)),
            "InProgress",
            "10",
            (),
        ),
        # an unlock notification carries no requirements: they stay, the unlock is final
        (event_based("20"), Observation(100, True, T1), "Achieved", "20", (UNLOCKED,)),
        (
            event_based("20"),
            Observation(100, True, T1, requirements=(stat("30"),)),
            "Achieved",
            "30",
            (PROGRESS, UNLOCKED),
        ),
        # never a re-lock, nor a later requirement after the unlock
        (
            event_based("30", T1),
            Observation(0, False, requirements=(stat("5"),)),
            "Achieved",
            "30",
            (),
        ),
    ],
)
def test_event_based_merge(
    cached: Achievement,
    observed: Observation,
    state: str,
    current: str,
    events: tuple[ManagerEventType, ...],
) -> None:
    merged, raised = merge(cached, observed)
    assert (merged.progress_state, merged.requirements[0]["current"], raised) == (
        state,
        current,
        events,
    )
    assert merged.event_based
    assert merged.percent == (100 if state == "Achieved" else None)
    again, twice = merge(merged, observed)
    assert (again, twice) == (merged, ())


def test_an_event_based_achievement_is_refused_e_not_supported() -> None:
    cached = event_based("10")
    assert update_refusal(cached, 50, event_based=is_event_based(cached)) == (
        E_NOT_SUPPORTED,
        "achievement 1 is driven by events",
    )
