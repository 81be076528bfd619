"""The app around the player API: health, the OpenAPI document and its schemas, the
docs page, and the JSON error body for unknown routes and methods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from laurels.app import create_app
from laurels.settings import Settings
from tests.helpers import SCID, XUID, Api, assert_error

ROUTES = {
    "/users/xuid({xuid})/achievements/{scid}/update": "post",
    "/users/xuid({xuid})/achievements": "get",
    "/users/xuid({xuid})/achievements/{scid}/{achievementId}": "get",
    "/users/xuid({xuid})/achievements/{scid}": "delete",
    "/users/xuid({xuid})/events": "post",
    "/users/xuid({xuid})/stats": "get",
}
SCHEMAS = [
    "UpdateBody",
    "UpdateItem",
    "EventsBody",
    "EventItem",
    "EventsAnswer",
    "StatsAnswer",
    "Achievement",
    "AchievementsPage",
    "ErrorBody",
    "RateLimitBody",
]
ACHIEVEMENT_KEYS = [
    "id", "serviceConfigId", "name", "titleAssociations", "progressState", "progression",
    "mediaAssets", "platforms", "isSecret", "description", "lockedDescription", "productId",
    "achievementType", "participationType", "timeWindow", "rewards", "estimatedTime",
    "deeplink", "isRevoked", "rarity", "progressionKind",
]  # fmt: skip


@pytest.fixture
async def app_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app without its lifespan: enough for what needs no database."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://laurels.test") as client:
        yield client


async def test_healthz(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_openapi_lists_the_player_routes(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    for path, method in ROUTES.items():
        assert method in document["paths"].get(path, {}), path
    schemas: dict[str, Any] = document["components"]["schemas"]
    assert set(SCHEMAS) <= set(schemas)
    assert sorted(schemas["Achievement"]["required"]) == sorted(ACHIEVEMENT_KEYS)
    assert len(schemas["Achievement"]["required"]) == len(ACHIEVEMENT_KEYS)
    assert set(schemas["Achievement"]["properties"]) == set(ACHIEVEMENT_KEYS)
    assert set(schemas["ErrorBody"]["properties"]) == {"code", "source", "description"}
    assert set(schemas["RateLimitBody"]["properties"]) == {
        "version", "currentRequests", "maxRequests", "periodInSeconds", "limitType"
    }  # fmt: skip
    assert set(schemas["AchievementsPage"]["required"]) == {"achievements", "pagingInfo"}
    update = document["paths"]["/users/xuid({xuid})/achievements/{scid}/update"]["post"]
    body_schema = update["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/UpdateBody"}
    assert {"200", "304", "400", "401", "403", "404", "409", "429"} <= set(update["responses"])
    events = document["paths"]["/users/xuid({xuid})/events"]["post"]
    body_schema = events["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/EventsBody"}
    assert {"200", "400", "401", "403", "404", "409", "429"} <= set(events["responses"])


async def test_docs_page(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/route", 404),
        ("GET", f"/users/xuid({XUID})/achievements/{SCID}/1/extra", 404),
        ("PUT", f"/users/xuid({XUID})/achievements/{SCID}/update", 405),
        ("DELETE", f"/users/xuid({XUID})/achievements", 405),
        ("POST", "/healthz", 405),
    ],
)
async def test_unknown_routes_and_methods_answer_json(
    app_client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    assert_error(await app_client.request(method, path), status)
