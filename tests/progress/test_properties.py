"""Invariants of DESIGN.md under generated inputs (hypothesis):
- any sequence of updates leaves the stored value equal to min(100, max of the
  valid values sent), and each answer is 200 exactly when the value rose;
- a secret achievement's name and descriptions never appear before it is unlocked."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laurels.app import create_app
from laurels.db import Database
from laurels.progress.views import Progress, render
from laurels.settings import Settings
from laurels.titles.catalog import PublishedTitle
from laurels.wire.context import RenderContext
from tests.helpers import (
    SCID,
    eventually_sync,
    free_socket,
    publish_config,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.wire import check_achievements_page, check_error_body


async def _prepare(url: str) -> str:
    db = Database(url, pool_size=1)
    try:
        await publish_config(db, title_config(3))
        return await token_for(db, server=True)
    finally:
        await db.dispose()


@pytest.fixture
def threaded_service(database_url: str) -> Iterator[tuple[str, str]]:
    """A real service in a thread of its own, for synchronous hypothesis tests."""
    token = asyncio.run(_prepare(database_url))
    quiet = Settings(
        database_url=database_url, rate_burst_requests=1_000_000, rate_sustained_requests=1_000_000
    )
    sock = free_socket()
    # Bounded shutdown: a service left running past its test outlives its database.
    config = uvicorn.Config(create_app(quiet), log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    eventually_sync(lambda: server.started or not thread.is_alive(), 20, what="the service")
    assert thread.is_alive(), "service thread died"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", token
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()
        assert not thread.is_alive(), "the service did not stop within 20 s"


values = st.one_of(
    st.integers(min_value=-3, max_value=250),
    st.sampled_from([0, 1, 99, 100, 101, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)
players = itertools.count(7_000_000)


def _is_valid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sent=st.lists(values, min_size=1, max_size=12))
def test_stored_value_is_the_clamped_maximum(
    threaded_service: tuple[str, str], sent: list[Any]
) -> None:
    url, token = threaded_service
    xuid = str(next(players))
    headers = {"Authorization": f"Bearer {token}"}
    path = f"{url}/users/xuid({xuid})/achievements/{SCID}"
    highest = 0
    with httpx.Client(headers=headers, timeout=10) as client:
        for value in sent:
            body = update_body([{"id": "1", "percentComplete": value}], xuid=xuid)
            status = client.post(f"{path}/update", json=body).status_code
            if not _is_valid(value):
                assert status == 400
                continue
            expected = 200 if min(value, 100) > highest else 304
            assert status == expected, (value, highest)
            highest = max(highest, min(value, 100))
        item = client.get(f"{path}/1").json()["achievements"][0]
    current = item["progression"]["requirements"][0]["current"]
    assert (None if highest == 0 else str(highest)) == current
    assert (item["progressState"] == "Achieved") == (highest == 100)


marker = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=12, max_size=12)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), count=st.integers(min_value=1, max_value=8))
def test_secrets_never_leak_before_unlock(data: st.DataObject, count: int) -> None:
    secret = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
    words = data.draw(st.lists(marker, min_size=count * 4, max_size=count * 4, unique=True))
    achievements = [
        {
            "id": str(n),
            "name": f"N{words[4 * n]}",
            "lockedDescription": "Locked.",
            "description": f"D{words[4 * n + 1]}",
            "gamerscore": 5,
            "secret": secret[n],
            "deeplink": f"game://{words[4 * n + 2]}",
            "rewards": [
                {
                    "type": "InApp",
                    "name": f"R{words[4 * n + 3]}",
                    "description": "A reward.",
                    "value": "X",
                }
            ],
            "localized": {"fr-FR": {"name": f"F{words[4 * n]}", "description": f"G{words[4 * n]}"}},
        }
        for n in range(count)
    ]
    title = PublishedTitle.from_document(
        "DEV.1", 1, {"title": {"id": 1, "name": "T", "scid": SCID}, "achievements": achievements}
    )
    progress = {
        n: Progress(p, 1 if p == 100 else None)
        for n in range(count)
        if (p := data.draw(st.sampled_from([0, 40, 100]))) > 0
    }
    locale = data.draw(st.sampled_from(["en-US", "fr-FR"]))
    ctx = RenderContext(locale=locale, media_url=lambda reference: reference)
    text = json.dumps([render(title, n, progress.get(n), (1, 3), ctx) for n in range(count)])
    for n in range(count):
        if secret[n] and (n not in progress or progress[n].percent < 100):
            for word in words[4 * n : 4 * n + 4]:
                assert word not in text
        else:
            assert words[4 * n] in text  # shown once unlocked, or when not secret


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(["action", "serviceConfigId", "titleId", "userId", "achievements"])
item_fields = st.sampled_from(["id", "percentComplete", "timeAchieved", "extra"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_no_input_gets_a_500_or_changes_data(
    threaded_service: tuple[str, str], data: st.DataObject
) -> None:
    """Malformed bodies, odd unicode and wrong types: a 4xx with the JSON error body,
    and nothing stored."""
    url, token = threaded_service
    xuid = str(next(players))
    body: Any = update_body([("1", 40)], xuid=xuid)
    mutation = data.draw(st.sampled_from(["field", "item", "raw", "replace"]))
    if mutation == "field":
        body[data.draw(fields)] = data.draw(json_values)
    elif mutation == "item":
        body["achievements"][0][data.draw(item_fields)] = data.draw(json_values)
    elif mutation == "replace":
        body = data.draw(json_values)
    content = (
        json.dumps(body)
        if mutation != "raw"
        else data.draw(st.binary(max_size=64)).decode("latin-1")
    ).encode()
    path = f"{url}/users/xuid({xuid})/achievements/{SCID}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(headers=headers, timeout=10) as client:
        response = client.post(f"{path}/update", content=content)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            check_error_body(response.json(), response.text)
            item = check_achievements_page(client.get(f"{path}/1").json())["achievements"][0]
            assert item["progressState"] == "NotStarted"
