"""One transaction for a group commit's batch: its progress updates (`plan.py`) and
its event requests (`event_plan.py`), in that order, each answered in its place."""

from __future__ import annotations

from collections.abc import Sequence

from laurels.progress.event_plan import EventRequest, event_plan
from laurels.progress.plan import Applied, Plan, UpdateRequest, update_plan

Request = UpdateRequest | EventRequest


def batch_plan(requests: Sequence[Request], *, now_us: int) -> Plan:
    """The statements that apply `requests` in one transaction. Updates go first,
    then events: title-managed and event-based titles never share rows, and every
    transaction takes its locks in this same order."""
    n = len(requests)
    changed, accepted, unlocks = [False] * n, [0] * n, 0
    updates = [(i, r) for i, r in enumerate(requests) if isinstance(r, UpdateRequest)]
    events = [(i, r) for i, r in enumerate(requests) if isinstance(r, EventRequest)]
    if updates:
        done = yield from update_plan([r for _, r in updates], now_us=now_us)
        for (i, _), was_changed in zip(updates, done.changed, strict=True):
            changed[i] = was_changed
        unlocks += done.unlocks
    if events:
        done = yield from event_plan([r for _, r in events], now_us=now_us)
        for (i, _), was_changed, count in zip(
            events, done.changed, done.accepted or [], strict=True
        ):
            changed[i], accepted[i] = was_changed, count
        unlocks += done.unlocks
    return Applied(changed, unlocks, accepted)
