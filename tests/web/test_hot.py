"""The hot routes (web.hot): the update and the events are answered ahead of
FastAPI, and answer exactly as the same operations declared on FastAPI's router:
the same status, body and headers for every refusal, and the same results."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import compile_path

from laurels.app import create_app
from laurels.db import Database
from laurels.progress.routes import EVENTS_PATH, HOT_ROUTES, UPDATE_PATH
from laurels.settings import Settings
from tests.helpers import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    UNKNOWN_SCID,
    XUID,
    achievement,
    free_socket,
    publish_config,
    serve_app,
    title_config,
    token_for,
    update_body,
)

EVENT_TITLE, EVENT_SCID = 5678, "5a1e0100-0000-0000-0000-00005f1d2c3c"
HEADERS_COMPARED = ("content-type", "content-length", "retry-after", "allow", "location")


@pytest.mark.parametrize(
    "path",
    [
        f"/users/xuid({XUID})/achievements/{SCID}/update",
        f"/users/xuid(x)/achievements/{SCID}/update",
        "/users/xuid(1)/achievements/a b/update",
        f"/users/xuid({XUID})/achievements/{SCID}/update/",
        f"/users/xuid({XUID})/achievements/{SCID}/1",
        f"/users/xuid({XUID})/achievements//update",
        f"/users/xuid({XUID})/achievements/a/b/update",
        f"/users/xuid({XUID})/events",
        f"/users/xuid({XUID})/events/",
        "/users/xuid()/events",
        f"/users/xuid({XUID})/stats",
    ],
)
def test_a_hot_route_matches_the_paths_the_router_matches(path: str) -> None:
    for route in HOT_ROUTES:
        regex, _, _ = compile_path(route.path)
        found = regex.match(path)
        assert route.match(path) == (found.groupdict() if found else None)


@pytest.fixture
async def clients(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, list[str]]]:
    """A started service's app, called as the server calls it (hot routes first)
    and through FastAPI's router only; and the paths FastAPI was called for."""
    extra = [achievement("server", serverOnly=True)]
    await publish_config(db, title_config(5, extra=extra))
    await publish_config(
        db, title_config(3, title_id=EVENT_TITLE, scid=EVENT_SCID, kind="event-based")
    )
    routed_paths: list[str] = []
    original = FastAPI.__call__

    async def spied(self: FastAPI, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            routed_paths.append(scope["path"])
        await original(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", spied)
    app = create_app(settings.with_changes(max_body_bytes=4096))
    async with serve_app(app, free_socket()):  # its lifespan starts the runtime
        through_router = functools.partial(original, app)
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as hot,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(through_router), base_url="http://t"
            ) as routed,
        ):
            yield hot, routed, routed_paths


def _update(**changes: Any) -> dict[str, Any]:
    return {**update_body([("1", 10)]), **changes}


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k in HEADERS_COMPARED}
    return response.status_code, headers, response.content


async def test_every_refusal_is_answered_as_through_the_router(
    db: Database,
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, list[str]],
) -> None:
    hot, routed, routed_paths = clients
    player, server = await token_for(db), await token_for(db, server=True)
    events_token = await token_for(db, title_id=EVENT_TITLE)
    auth = {"Authorization": f"Bearer {player}", "x-xbl-contract-version": "2"}
    update = UPDATE_PATH.format(xuid=XUID, scid=SCID)
    events = EVENTS_PATH.format(xuid=XUID)
    event = {"titleId": EVENT_TITLE, "events": [{"id": "e1", "name": "Progress"}]}
    cases: list[tuple[str, str, dict[str, str], Any, int]] = [
        ("POST", update, {}, _update(), 401),
        ("POST", update, {**auth, "Authorization": "Bearer nonsense"}, _update(), 401),
        ("POST", update, {**auth, "x-xbl-contract-version": "3"}, _update(), 400),
        ("POST", UPDATE_PATH.format(xuid="x", scid=SCID), auth, _update(), 400),
        ("POST", UPDATE_PATH.format(xuid=XUID, scid="nope"), auth, _update(), 400),
        ("POST", update, {**auth, "Content-Type": "text/plain"}, _update(), 415),
        ("POST", update, auth, {**_update(), "pad": "x" * 5000}, 413),
        ("POST", update, auth, b"{not json", 400),
        ("POST", update, auth, [], 400),
        ("POST", update, auth, _update(achievements=[]), 400),
        ("POST", update, auth, _update(achievements=[{"id": "1", "percentComplete": "50"}]), 400),
        ("POST", update, auth, _update(achievements=[{"id": "1", "percentComplete": 0}]), 400),
        ("POST", update, auth, _update(userId=OTHER_XUID), 400),
        ("POST", update, auth, _update(titleId=99), 400),
        ("POST", update, auth, _update(serviceConfigId=UNKNOWN_SCID), 400),
        (
            "POST",
            UPDATE_PATH.format(xuid=XUID, scid=UNKNOWN_SCID),
            auth,
            _update(serviceConfigId=UNKNOWN_SCID),
            404,
        ),
        ("POST", update, auth, _update(achievements=[{"id": "9", "percentComplete": 5}]), 404),
        ("POST", update, auth, _update(achievements=[{"id": "server", "percentComplete": 5}]), 403),
        (
            "POST",
            UPDATE_PATH.format(xuid=OTHER_XUID, scid=SCID),
            auth,
            update_body([("1", 10)], xuid=OTHER_XUID),
            403,
        ),
        (
            "POST",
            UPDATE_PATH.format(xuid=XUID, scid=EVENT_SCID),
            {**auth, "Authorization": f"Bearer {events_token}"},
            update_body([("1", 10)], scid=EVENT_SCID, title_id=EVENT_TITLE),
            409,
        ),
        ("POST", events, auth, {**event, "titleId": TITLE_ID}, 409),
        (
            "POST",
            events,
            {**auth, "Authorization": f"Bearer {events_token}"},
            {"titleId": EVENT_TITLE, "events": [{"id": "e1", "name": "Nope"}]},
            400,
        ),
        ("POST", events, {**auth, "Authorization": f"Bearer {server}"}, event, 403),
        # A GET reads the achievement whose id is `update`: another route.
        ("GET", update, auth, None, 404),
        ("POST", update + "/", auth, _update(), 307),  # the router redirects to the path
    ]
    for method, path, headers, body, status in cases:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json", **headers}
        answers = [
            _answer(await client.request(method, path, headers=sent, content=content))
            for client in (hot, routed)
        ]
        assert answers[0] == answers[1], (method, path, body)
        assert answers[0][0] == status, (method, path, body, answers[0])
    assert routed_paths.count(update) == 1, "only the GET of the update went to the router"


async def test_the_hot_and_routed_update_and_events_share_their_results(
    db: Database,
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, list[str]],
) -> None:
    hot, routed, routed_paths = clients
    auth = {"Authorization": f"Bearer {await token_for(db)}", "x-xbl-contract-version": "2"}
    path = UPDATE_PATH.format(xuid=XUID, scid=SCID)
    for first, then in ((hot, routed), (routed, hot)):
        body = update_body([("2", 40)] if first is hot else [("3", 100)])
        done = await first.post(path, headers=auth, json=body)
        again = await then.post(path, headers=auth, json=body)
        assert (done.status_code, done.content) == (200, b"")
        assert done.headers["content-length"] == "0"
        assert (again.status_code, again.content) == (304, b"")
        assert "content-length" not in again.headers
    events_auth = {**auth, "Authorization": f"Bearer {await token_for(db, title_id=EVENT_TITLE)}"}
    sent = {"titleId": EVENT_TITLE, "events": [{"id": "a", "name": "Progress"}]}
    answers = [
        await client.post(EVENTS_PATH.format(xuid=XUID), headers=events_auth, json=sent)
        for client in (hot, routed)
    ]
    assert [a.json() for a in answers] == [
        {"accepted": 1, "duplicates": 0},
        {"accepted": 0, "duplicates": 1},
    ]
    assert {a.headers["content-type"] for a in answers} == {"application/json"}
    assert routed_paths == [], "the hot routes never reached FastAPI"
