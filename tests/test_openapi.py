"""The published OpenAPI document says what the service does: a bounded schemathesis
run over every operation, with a player token and a game-server token, finds no 5xx
and no response the document does not describe (all checks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from schemathesis.core.parameters import ParameterLocation

from laurels.activity.schemas import ActivityPage, TitleHistoryPage
from laurels.app import create_app
from laurels.db import Database
from laurels.errors import InvalidConfig
from laurels.progress.schemas import AchievementsPage
from laurels.schema import upgrade
from laurels.serve import seed_demo
from laurels.settings import Settings
from laurels.titles.service import parse_config
from laurels.web.errors import ErrorBody
from laurels.wire.identifiers import XUID_PATTERN, numeral_pattern, parse_xuid
from tests.helpers import (
    SCID,
    TITLE_ID,
    XUID,
    Api,
    achievement,
    assert_error,
    pg_database,
    postgres_available,
    publish_config,
    running_service,
    start_serve,
    title_config,
    token_for,
)
from tests.helpers.wire import check_achievements_page, check_body

# Enough to cover every operation's coverage phase and a fuzzing sample on both
# databases within about a minute on a small machine; raise it locally to dig deeper.
MAX_EXAMPLES = 30
REFUSED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]


DATABASES = os.environ.get("LAURELS_TEST_DATABASES", "sqlite,postgresql").split(",")


@dataclass(frozen=True)
class Served:
    url: str
    tokens: dict[str, str]


async def _seed(database_url: str) -> dict[str, str]:
    """The demo title published to DEV.1; a player token and a server token for it."""
    db = Database(database_url, pool_size=1)
    try:
        await upgrade(db)
        player = (await seed_demo(db)).quest
        return {"player": player, "server": await token_for(db, server=True)}
    finally:
        await db.dispose()


@contextlib.contextmanager
def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind not in DATABASES:
        pytest.skip(f"LAURELS_TEST_DATABASES leaves out {kind}")
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'laurels.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    with pg_database() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A real `laurels serve` on 127.0.0.1 with the demo title, once per database."""
    with _database(request.param, tmp_path_factory.mktemp("openapi")) as url:
        tokens = asyncio.run(_seed(url))
        process = start_serve(url)
        try:
            yield Served(process.url, tokens)
        finally:
            process.stop()


def _consistent(context: Any, case: schemathesis.Case[Any]) -> schemathesis.Case[Any]:
    """Valid requests that OpenAPI cannot describe as such, made so.

    The update body must name the path's player and SCID, and the title that owns
    the SCID; a continuation token must be one the service issued; JSON Schema's
    `integer` admits `7.0`, which the wire refuses (spec/wire.md: not an integer is a
    400). A schema states none of these, so positive cases get them right (and half
    of them aim at the demo player and title, to reach stored data); negative cases
    keep what was drawn.
    """
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    path = dict(case.path_parameters or {})  # copies: drawn values may be shared
    if "xuid" in path and int(path["xuid"]) % 2 == 0:
        path["xuid"] = XUID
        if "scid" in path:
            path["scid"] = SCID
    case.path_parameters = path
    if isinstance(case.body, dict) and "xuid" in path and "scid" in path:
        same_title = str(path["scid"]).lower() == SCID
        body: dict[str, Any] = case.body
        case.body = {
            **body,
            "userId": str(int(path["xuid"])),
            "serviceConfigId": path["scid"],
            "titleId": TITLE_ID if same_title else int(body.get("titleId", 1)),
            "achievements": [_integral(item) for item in body.get("achievements", [])],
        }
    if isinstance(case.body, dict) and "events" in case.body:
        case.body = _integral_events(case.body)
    if case.query and "continuationToken" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "continuationToken"}
    return case


def _integral(item: Any) -> Any:
    """An update item whose `percentComplete` is written as an integer literal."""
    if isinstance(item, dict) and isinstance(item.get("percentComplete"), float):
        return {**item, "percentComplete": int(item["percentComplete"])}
    return item


def _integral_events(body: dict[str, Any]) -> dict[str, Any]:
    """An events body whose `titleId` and measurements are integer literals. Its
    title stays as drawn: the demo's event-based title would refuse drawn event
    names with a 400 (an undeclared name), which no schema can say."""
    events = [
        {**e, "measurements": {k: int(v) for k, v in e["measurements"].items()}}
        if isinstance(e, dict) and isinstance(e.get("measurements"), dict)
        else e
        for e in body.get("events", [])
    ]
    title_id = body.get("titleId")
    if isinstance(title_id, float):
        title_id = int(title_id)
    return {**body, "titleId": title_id, "events": events}


def _published() -> schemathesis.BaseSchema:
    """The document the service publishes at /openapi.json, loaded for schemathesis."""
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    config = schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES},
            # A request head too large for the server is refused before routing (431).
            "checks": {"negative_data_rejection": {"expected-statuses": [*REFUSED, "431"]}},
        }
    )
    schema = schemathesis.openapi.from_dict(app.openapi(), config=config)
    schema.hook("map_case")(_consistent)
    return schema


published = _published()


@pytest.mark.parametrize("kind", ["player", "server"])
@published.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_does_what_the_schema_says(
    case: schemathesis.Case[Any], served: Served, kind: str
) -> None:
    case.call_and_validate(base_url=served.url, headers=_credentials(case, served.tokens[kind]))


def _credentials(case: schemathesis.Case[Any], token: str) -> dict[str, str]:
    """The token, unless the case's headers were drawn invalid (such as without one)."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return {}
    return {"Authorization": f"Bearer {token}"}


# --- the document itself, and representative answers against its models -------------

DOCUMENT = create_app(Settings(database_url="sqlite:///unused.db")).openapi()
OPERATIONS = [
    (path, method, operation)
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
]


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS)
def test_no_operation_declares_a_422(path: str, method: str, operation: dict[str, Any]) -> None:
    assert "422" not in operation["responses"], (method, path)
    if "401" in operation["responses"]:
        assert operation["security"] == [{"bearer": []}]
        assert "400" in operation["responses"]


def test_the_updates_answers_have_no_body() -> None:
    update = DOCUMENT["paths"]["/users/xuid({xuid})/achievements/{scid}/update"]["post"]
    assert "content" not in update["responses"]["200"]
    assert "content" not in update["responses"]["304"]
    body = DOCUMENT["components"]["schemas"]["UpdateItem"]["properties"]
    assert body["percentComplete"]["minimum"] == 1
    assert "maximum" not in body["percentComplete"]  # above 100 acts as 100


def test_media_declares_its_404() -> None:
    media = DOCUMENT["paths"]["/media/{sha256}.png"]["get"]
    assert {"200", "404"} <= set(media["responses"])


@pytest.mark.parametrize(
    ("maximum", "numbers"),
    [(9, range(0, 30)), (4294967295, [1, 10**9, 4294967295, 4294967296, 10**10, 0])],
)
def test_numeral_pattern_matches_exactly_1_to_maximum(maximum: int, numbers: Any) -> None:
    pattern = re.compile(numeral_pattern(maximum))
    for n in numbers:
        assert bool(pattern.fullmatch(str(n))) == (1 <= n <= maximum), n


@given(st.integers(min_value=0, max_value=10**21))
def test_the_xuid_pattern_is_what_parse_xuid_accepts(n: int) -> None:
    text = str(n)
    try:
        parse_xuid(text)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.fullmatch(XUID_PATTERN.strip("^$"), text)) == accepted


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"/users/xuid({XUID})/achievements/{SCID}/update", "POST"),
        ("OPTIONS", f"/users/xuid({XUID})/achievements/{SCID}/update", "POST"),
        ("PUT", f"/users/xuid({XUID})/achievements/{SCID}/1", "GET"),
        ("DELETE", f"/users/xuid({XUID})/achievements", "GET"),
        ("POST", "/healthz", "GET"),
        ("TRACE", "/metrics", "GET"),
    ],
)
async def test_a_405_names_the_allowed_methods(method: str, path: str, allow: str) -> None:
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://laurels.test") as client:
        response = await client.request(method, path)
    assert_error(response, 405)
    assert response.headers["allow"] == allow


async def test_answers_conform_to_the_published_models(api: Api) -> None:
    assert (await api.update([("1", 100)])).status_code == 200
    one = await api.client.get(f"/users/xuid({XUID})/achievements/{SCID}/1", headers=api.auth())
    answers: list[tuple[httpx.Response, type[BaseModel]]] = [
        (await api.achievements(), AchievementsPage),
        (one, AchievementsPage),
        (await api.client.get(f"/users/xuid({XUID})/activity", headers=api.auth()), ActivityPage),
        (
            await api.client.get(f"/users/xuid({XUID})/history/titles", headers=api.auth()),
            TitleHistoryPage,
        ),
        (await api.achievements(titleId="0"), ErrorBody),
        (await api.client.get("/media/" + "0" * 64 + ".png"), ErrorBody),
    ]
    for response, model in answers:
        check_body(model, response.json(), str(response.url))
    assert (
        check_achievements_page(answers[1][0].json())["achievements"][0]["progressState"]
        == "Achieved"
    )


@pytest.mark.parametrize("bad_id", ["a/b", "/", ".", ".."])
def test_ids_the_single_get_route_cannot_name_are_refused_at_import(bad_id: str) -> None:
    config = title_config(2, extra=[achievement(bad_id)])
    with pytest.raises(InvalidConfig) as refused:
        parse_config(config)
    assert refused.value.problems == [
        "achievements[2].id: must not contain '/' nor be '.' or '..' (it is a URL path segment)"
    ]


async def test_an_id_with_url_characters_is_read_back(db: Database, settings: Settings) -> None:
    """Ids that can be named in a path segment are: percent-encoded, they round-trip."""
    await publish_config(db, title_config(1, extra=[achievement("a?b#c%d")]))
    headers = {"Authorization": f"Bearer {await token_for(db)}"}
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get(
            f"/users/xuid({XUID})/achievements/{SCID}/a%3Fb%23c%25d", headers=headers
        )
    assert response.status_code == 200, response.text
    assert check_achievements_page(response.json())["achievements"][0]["id"] == "a?b#c%d"
