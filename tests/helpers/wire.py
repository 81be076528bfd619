"""Every response body the suite reads, checked against the models the service
publishes (its OpenAPI schema is built from them) in this one place: the body must
validate strictly and be exactly what the model gives back (no extra key, no
integer where a float is published), and its times must have the wire's format."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel

from laurels.activity.schemas import ActivityPage, TitleHistoryPage
from laurels.progress.schemas import AchievementsPage
from laurels.web.errors import ErrorBody

M = TypeVar("M", bound=BaseModel)

TIME_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
NEVER = "0001-01-01T00:00:00Z"  # an achievement's timeUnlocked before it is unlocked


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def check_body(model: type[M], body: Any, what: str = "") -> M:
    """`body` as `model`; fails (AssertionError, naming `what`) when it does not
    validate strictly or has anything the model does not give back."""
    parsed = model.model_validate(body, strict=True)
    again = parsed.model_dump(mode="json")
    assert _canonical(again) == _canonical(body), f"{what}: not a {model.__name__}: {body}"
    return parsed


def check_time(text: str | None, what: str = "", *, nullable: bool = False) -> None:
    """Fails unless `text` is a wire time (7 fractional digits, UTC), or null if allowed."""
    if nullable and text is None:
        return
    assert text is not None, f"{what}: no time"
    assert TIME_FORMAT.match(text), f"{what}: time {text!r}"


def check_achievements_page(body: Any, what: str = "") -> dict[str, Any]:
    """A list or single-achievement answer (AchievementsPage); returns `body`."""
    page = check_body(AchievementsPage, body, what)
    for item in page.achievements:
        unlocked = item.progression.timeUnlocked
        if unlocked != NEVER:
            check_time(unlocked, f"{what}: {item.id}")
    return dict(body)


def check_activity_page(body: Any, what: str = "") -> dict[str, Any]:
    """An activity feed answer (ActivityPage); returns `body`."""
    page = check_body(ActivityPage, body, what)
    for item in page.activityItems:
        check_time(item.date, f"{what}: {item.id}")
    return dict(body)


def check_history_page(body: Any, what: str = "") -> dict[str, Any]:
    """A title history answer (TitleHistoryPage); returns `body`."""
    page = check_body(TitleHistoryPage, body, what)
    for entry in page.titles:
        check_time(entry.lastUnlock, f"{what}: {entry.titleId}", nullable=True)
    return dict(body)


def check_error_body(body: Any, what: str = "") -> dict[str, Any]:
    """A JSON error body (ErrorBody: code, source "achievements", description)."""
    error = check_body(ErrorBody, body, what)
    assert set(body) == set(ErrorBody.model_fields), f"{what}: {body}"
    assert error.source == "achievements", what
    return dict(body)
