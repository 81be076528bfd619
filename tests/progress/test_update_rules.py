"""The rules of `POST /users/xuid({xuid})/achievements/{scid}/update` (spec/wire.md),
as tables of cases against a real server on both databases.

Each table runs against one `api` service: its rows are independent (a row that is
accepted works on its own player or achievement; a row that is refused must change
nothing, which the next rows would notice), so one service per table keeps the
suite fast while every row is checked and named when it fails.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from laurels.auth.service import ensure_signing_key, mint_token
from laurels.db import Database
from laurels.progress.tables import progress
from laurels.settings import Settings
from tests.helpers import (
    NEVER,
    OTHER_SCID,
    OTHER_TITLE_ID,
    OTHER_XUID,
    SCID,
    TIME_FORMAT,
    TITLE_ID,
    UNKNOWN_SCID,
    XUID,
    Api,
    answer,
    assert_error,
    publish_config,
    running_service,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.wire import check_achievements_page

MISSING = object()  # a body field to remove


# --- helpers -----------------------------------------------------------------------


def compact_json(body: Any) -> str:
    """The compact JSON the reference client sends."""
    return json.dumps(body, separators=(",", ":"))


def parse_xbox_time(text: str) -> datetime:
    assert TIME_FORMAT.match(text), text
    return datetime.strptime(text[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def xbox_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


async def time_unlocked(
    api: Api, achievement_id: str, xuid: str = XUID, token: str | None = None
) -> str:
    """The achievement's timeUnlocked, as its single GET shows it."""
    response = await api.client.get(
        f"/users/xuid({xuid})/achievements/{SCID}/{achievement_id}", headers=api.auth(token)
    )
    assert response.status_code == 200, response.text
    value: str = check_achievements_page(response.json())["achievements"][0]["progression"][
        "timeUnlocked"
    ]
    return value


# --- progress only increases ---------------------------------------------------------

Step = tuple[list[tuple[str, Any]], int]


@dataclass(frozen=True)
class Sequence:
    name: str
    steps: list[Step]
    stored: dict[str, int | None]


SEQUENCES = [
    Sequence("first progress is 200", [([("1", 40)], 200)], {"1": 40}),
    Sequence("same value again is 304", [([("1", 40)], 200), ([("1", 40)], 304)], {"1": 40}),
    Sequence("lower value is 304, max kept", [([("1", 75)], 200), ([("1", 25)], 304)], {"1": 75}),
    Sequence("higher value is 200", [([("1", 25)], 200), ([("1", 75)], 200)], {"1": 75}),
    Sequence("100 unlocks, then 304", [([("1", 100)], 200), ([("1", 100)], 304)], {"1": 100}),
    Sequence("after the unlock all is 304", [([("1", 100)], 200), ([("1", 50)], 304)], {"1": 100}),
    Sequence("1 is the lowest valid value", [([("1", 1)], 200)], {"1": 1}),
    Sequence("150 acts as 100", [([("1", 150)], 200), ([("1", 100)], 304)], {"1": 100}),
    Sequence("150 after 100 is 304", [([("1", 100)], 200), ([("1", 150)], 304)], {"1": 100}),
    Sequence("a huge integer acts as 100", [([("1", 2**70)], 200)], {"1": 100}),
    Sequence(
        "several: 200 when any changed",
        [([("1", 40), ("2", 10)], 200), ([("1", 40), ("2", 20)], 200)],
        {"1": 40, "2": 20},
    ),
    Sequence(
        "several: 304 when none changed",
        [([("1", 40), ("2", 100)], 200), ([("1", 30), ("2", 100)], 304)],
        {"1": 40, "2": 100},
    ),
    Sequence(
        "several: one unlock among them",
        [([("1", 100), ("2", 50), ("3", 5)], 200)],
        {"1": 100, "2": 50, "3": 5, "4": None},
    ),
    Sequence("duplicates keep the maximum", [([("1", 40), ("1", 60), ("1", 20)], 200)], {"1": 60}),
    Sequence(
        "duplicates of a stored value are 304",
        [([("1", 60)], 200), ([("1", 60), ("1", 30)], 304)],
        {"1": 60},
    ),
    Sequence("duplicates unlock once", [([("1", 100), ("1", 100)], 200)], {"1": 100}),
]


async def test_progress_only_increases(api: Api) -> None:
    failures: list[str] = []
    for n, case in enumerate(SEQUENCES):
        xuid = str(3_000_000 + n)  # a player of its own: rows do not interfere
        token = await token_for(api.db, xuid=xuid)
        for step, (items, status) in enumerate(case.steps):
            response = await api.update(items, xuid=xuid, token=token)
            if response.status_code != status or response.content != b"":
                failures.append(
                    f"{case.name}, step {step}: {response.status_code} {response.text!r}"
                )
        stored = {a: await api.stored(a, xuid) for a in case.stored}
        if stored != case.stored:
            failures.append(f"{case.name}: stored {stored}, expected {case.stored}")
    assert not failures, "\n".join(failures)


async def test_the_rules_hold_for_updates_sharing_a_commit(api: Api) -> None:
    """Concurrent requests share transactions (group commit); each still gets the
    answer of its own items."""
    server = await token_for(api.db, server=True)
    rising = await asyncio.gather(
        *(api.update([("1", n), ("2", 50)], token=server) for n in range(1, 21))
    )
    assert rising[-1].status_code == 200  # 20 is above whatever was stored before it
    assert {r.status_code for r in rising} <= {200, 304}
    assert (await api.stored("1"), await api.stored("2")) == (20, 50)

    same = await asyncio.gather(*(api.update([("3", 100)], token=server) for _ in range(20)))
    assert sorted(r.status_code for r in same) == [200] + [304] * 19

    players = await asyncio.gather(
        *(
            api.update([("4", 100), ("4", 100)], xuid=str(7_000_000 + n), token=server)
            for n in range(19)
        )
    )
    assert [r.status_code for r in players] == [200] * 19
    rarity = next(
        item["rarity"]
        for item in check_achievements_page((await api.achievements(token=server)).json())[
            "achievements"
        ]
        if item["id"] == "4"
    )
    assert rarity == {"currentCategory": "Common", "currentPercentage": 95.0}  # 19 of 20


# --- accepted forms of the request ------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    name: str
    achievement: str
    credential: str = "player"  # or "server", "xbl3"
    headers: dict[str, str] = field(default_factory=lambda: {"x-xbl-contract-version": "2"})
    path_scid: str = SCID
    body_scid: str = SCID
    content: str | None = None  # raw JSON text instead of the compact body


ACCEPTED = [
    Accepted("Bearer player token", "1"),
    Accepted("XBL3.0 x=<hash>;<token>", "2", credential="xbl3"),
    Accepted("no contract version header is version 2", "3", headers={}),
    Accepted(
        "upper-case SCID in path and body", "4", path_scid=SCID.upper(), body_scid=SCID.upper()
    ),
    Accepted("upper-case SCID in the path only", "5", path_scid=SCID.upper()),
    Accepted("upper-case SCID in the body only", "secret", body_scid=SCID.upper()),
    Accepted("server credential on a serverOnly achievement", "server", credential="server"),
    Accepted(
        "charset in the content type",
        "1",
        credential="server",
        headers={"x-xbl-contract-version": "2", "content-type": "application/json; charset=utf-8"},
    ),
    Accepted(
        "pretty-printed JSON",
        "2",
        credential="server",
        content=json.dumps(update_body([("2", 100)], xuid=OTHER_XUID), indent=2) + "\n",
    ),
]


async def test_accepted_request_forms(api: Api) -> None:
    server = await token_for(api.db, server=True)
    failures: list[str] = []
    for case in ACCEPTED:
        # Server rows write OTHER_XUID, so that each row changes something of its own.
        xuid = OTHER_XUID if case.credential == "server" else XUID
        headers = dict(case.headers)
        token = server if case.credential == "server" else api.token
        headers["Authorization"] = (
            f"XBL3.0 x=1234567890;{token}" if case.credential == "xbl3" else f"Bearer {token}"
        )
        body = update_body([(case.achievement, 100)], xuid=xuid, scid=case.body_scid)
        content = case.content if case.content is not None else compact_json(body)
        headers.setdefault("content-type", "application/json")
        response = await api.client.post(
            f"/users/xuid({xuid})/achievements/{case.path_scid}/update",
            content=content.encode(),
            headers=headers,
        )
        if response.status_code != 200 or response.content:
            failures.append(f"{case.name}: {response.status_code} {response.text}")
        elif await api.stored(case.achievement, xuid) != 100:
            failures.append(f"{case.name}: not stored")
    assert not failures, "\n".join(failures)


# --- refused requests change nothing --------------------------------------------------


@dataclass(frozen=True)
class Refused:
    name: str
    status: int
    items: list[Any] = field(default_factory=list)  # appended after the valid items
    changes: dict[str, Any] = field(default_factory=dict)  # top-level body fields
    raw: bytes | None = None  # the whole body, as sent
    credential: str = "player"
    authorization: str | None = None  # the whole header, instead of a credential
    headers: dict[str, str] = field(default_factory=dict)
    path_xuid: str = XUID
    path_scid: str = SCID
    description: str = ""  # a word the error description must contain
    chunked: bool = False  # stream the body without a Content-Length


def item(achievement_id: Any = "2", percent: Any = 50, **extra: Any) -> dict[str, Any]:
    fields = {"id": achievement_id, "percentComplete": percent, **extra}
    return {k: v for k, v in fields.items() if v is not MISSING}


VALID_ITEMS = [("1", 50), ("3", 90)]  # a refused body must apply neither

REFUSED: dict[str, list[Refused]] = {
    "items": [
        Refused("percentComplete 0", 400, [item(percent=0)], description="percentComplete"),
        Refused("percentComplete -1", 400, [item(percent=-1)]),
        Refused("percentComplete 1.5", 400, [item(percent=1.5)]),
        Refused("percentComplete 100.0", 400, [item(percent=100.0)]),
        Refused('percentComplete "50"', 400, [item(percent="50")]),
        Refused("percentComplete null", 400, [item(percent=None)]),
        Refused("percentComplete true", 400, [item(percent=True)]),
        Refused("percentComplete missing", 400, [item(percent=MISSING)]),
        Refused("percentComplete an object", 400, [item(percent={"value": 50})]),
        Refused("id missing", 400, [item(achievement_id=MISSING)]),
        Refused("id empty", 400, [item(achievement_id="")]),
        Refused("id a number", 400, [item(achievement_id=2)]),
        Refused("unknown item field", 400, [item(bonus=1)]),
        Refused("unknown achievement id", 404, [item(achievement_id="999")]),
        Refused("id differs in case", 404, [item(achievement_id="SECRET")]),
        Refused("id with a NUL", 404, [item(achievement_id="\u0000")]),
        Refused("id outside the BMP", 404, [item(achievement_id="\U0001d4ea")]),
        Refused(
            "id a lone surrogate escape",
            400,
            raw=b'{"action":"progressUpdate","serviceConfigId":"'
            + SCID.encode()
            + b'","titleId":1234,"userId":"'
            + XUID.encode()
            + b'","achievements":[{"id":"1","percentComplete":50},'
            b'{"id":"\\ud800","percentComplete":50}]}',
        ),
        Refused("item not an object", 400, ["1"]),
        Refused("timeAchieved not a time", 400, [item(timeAchieved="yesterday")]),
        Refused("timeAchieved without offset", 400, [item(timeAchieved="2024-05-01T18:22:07")]),
        Refused("timeAchieved a number", 400, [item(timeAchieved=1714587727)]),
        Refused("timeAchieved empty", 400, [item(timeAchieved="")]),
        Refused("timeAchieved month 13", 400, [item(timeAchieved="2024-13-01T00:00:00Z")]),
        Refused("serverOnly achievement with a player token", 403, [item("server", 100)]),
    ],
    "body": [
        Refused("empty achievements array", 400, changes={"achievements": []}),
        Refused("achievements missing", 400, changes={"achievements": MISSING}),
        Refused("achievements not an array", 400, changes={"achievements": {"id": "1"}}),
        Refused("33 achievements (cap is 32)", 400, [item("2", n) for n in range(1, 32)]),
        Refused("unknown top-level field", 400, changes={"extra": True}),
        Refused("action not progressUpdate", 400, changes={"action": "reset"}),
        Refused("titleId a string", 400, changes={"titleId": str(TITLE_ID)}),
        Refused("titleId missing", 400, changes={"titleId": MISSING}),
        Refused("userId a number", 400, changes={"userId": int(XUID)}),
        Refused("userId missing", 400, changes={"userId": MISSING}),
        Refused("serviceConfigId missing", 400, changes={"serviceConfigId": MISSING}),
        Refused("bad JSON", 400, raw=b'{"action":"progressUpdate",'),
        Refused("empty body", 400, raw=b""),
        Refused("JSON array", 400, raw=b"[]"),
        Refused("JSON string", 400, raw=b'"progressUpdate"'),
        Refused("JSON null", 400, raw=b"null"),
        Refused("not UTF-8", 400, raw=b'{"action":"\xff\xfe"}'),
        Refused("body over 64 KiB", 413, changes={"padding": "x" * (65 * 1024)}),
        Refused(
            "body over 64 KiB, chunked", 413, changes={"padding": "x" * (65 * 1024)}, chunked=True
        ),
    ],
    "request": [
        Refused("userId is not the path xuid", 400, changes={"userId": OTHER_XUID}),
        Refused(
            "serviceConfigId is not the path scid", 400, changes={"serviceConfigId": OTHER_SCID}
        ),
        Refused("titleId does not own the SCID", 400, changes={"titleId": OTHER_TITLE_ID}),
        Refused(
            "non-GUID scid", 400, path_scid="not-a-guid", changes={"serviceConfigId": "not-a-guid"}
        ),
        Refused("non-numeric xuid", 400, path_xuid="gamer", changes={"userId": "gamer"}),
        Refused("xuid over uint64", 400, path_xuid=str(2**64), changes={"userId": str(2**64)}),
        Refused(
            "unknown SCID", 404, path_scid=UNKNOWN_SCID, changes={"serviceConfigId": UNKNOWN_SCID}
        ),
        Refused("contract version 3", 400, headers={"x-xbl-contract-version": "3"}),
        Refused("contract version garbage", 400, headers={"x-xbl-contract-version": "two"}),
        Refused("no Authorization", 401, credential="none"),
        Refused("Bearer garbage", 401, authorization="Bearer not.a.token"),
        Refused("Bearer and nothing", 401, authorization="Bearer"),
        Refused("Basic scheme", 401, authorization="Basic dXNlcjpwYXNz"),
        Refused("XBL3.0 without a token", 401, authorization="XBL3.0 x=1234567890"),
        Refused("signed by another key, same kid", 401, credential="forged"),
        Refused("expired token", 401, credential="expired", description="expired"),
        Refused(
            "player token for another player",
            403,
            path_xuid=OTHER_XUID,
            changes={"userId": OTHER_XUID},
        ),
        Refused("token for another sandbox", 403, credential="dev2"),
        Refused("token for another title", 403, credential="other-title"),
        Refused("server credential of another title", 403, credential="other-server"),
    ],
}


async def credentials(db: Database) -> dict[str, str | None]:
    """Every credential a row may name, by name."""
    real = await token_for(db)
    claims = jwt.decode(real, options={"verify_signature": False})
    forged = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": jwt.get_unverified_header(real)["kid"]},
    )
    key = await ensure_signing_key(db)
    expired = mint_token(
        key, xuid=XUID, title_id=TITLE_ID, sandbox="DEV.1", now=time.time() - 7200, ttl_seconds=60
    )
    return {
        "player": real,
        "none": None,
        "forged": forged,
        "expired": expired,
        "dev2": await token_for(db, sandbox="DEV.2"),
        "other-title": await token_for(db, title_id=OTHER_TITLE_ID),
        "other-server": await token_for(db, title_id=OTHER_TITLE_ID, server=True),
    }


def refused_request(
    case: Refused, tokens: dict[str, str | None]
) -> tuple[str, bytes, dict[str, str]]:
    body: dict[str, Any] = update_body(VALID_ITEMS, xuid=case.path_xuid)
    body["achievements"] += case.items
    if case.path_scid != SCID:
        body["serviceConfigId"] = case.path_scid
    for key, value in case.changes.items():
        if value is MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    content = case.raw if case.raw is not None else compact_json(body).encode()
    headers = {"x-xbl-contract-version": "2", "content-type": "application/json", **case.headers}
    headers = {k: v for k, v in headers.items() if v}
    token = tokens[case.credential]
    if case.authorization is not None:
        headers["Authorization"] = case.authorization
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    path = f"/users/xuid({case.path_xuid})/achievements/{case.path_scid}/update"
    return path, content, headers


WRONG_CONTENT_TYPES = [
    Refused("content type text/plain", 415, headers={"content-type": "text/plain"}),
    Refused(
        "content type form", 415, headers={"content-type": "application/x-www-form-urlencoded"}
    ),
    Refused("content type missing", 415, headers={"content-type": ""}),
]


async def in_chunks(content: bytes) -> AsyncIterator[bytes]:
    """The body as a stream: httpx sends it chunked, without a Content-Length."""
    for start in range(0, len(content), 4096):
        yield content[start : start + 4096]


async def stored_rows(db: Database) -> set[tuple[Any, ...]]:
    """Every progress row of every sandbox and player."""
    async with db.read() as conn:
        return {tuple(row) for row in await conn.execute(select(progress))}


async def check_refused(api: Api, cases: list[Refused]) -> list[str]:
    """Send every row; return what went wrong (empty when every row was refused
    with the right status and error body, and nothing was stored)."""
    tokens = await credentials(api.db)
    assert (await api.update([("3", 20)])).status_code == 200  # a value no row may raise
    baseline = await stored_rows(api.db)
    failures: list[str] = []
    for case in cases:
        path, content, headers = refused_request(case, tokens)
        response = await api.client.post(
            path, content=in_chunks(content) if case.chunked else content, headers=headers
        )
        try:
            body = assert_error(response, case.status, case.name)
            assert case.description.lower() in body["description"].lower(), body
        except AssertionError as exc:
            failures.append(f"{case.name}: {exc}")
        if await stored_rows(api.db) != baseline:
            failures.append(f"{case.name}: something was stored")
            baseline = await stored_rows(api.db)
    stored = (await api.stored("1"), await api.stored("3"), await api.stored("1", OTHER_XUID))
    if stored != (None, 20, None):
        failures.append(f"stored (1, 3, other player's 1): {stored}")
    return failures


@pytest.mark.parametrize("table", list(REFUSED))
async def test_refused_requests_store_nothing(api: Api, table: str) -> None:
    failures = await check_refused(api, REFUSED[table])
    assert not failures, "\n".join(failures)


async def test_a_body_that_is_not_sent_as_json_is_refused(api: Api) -> None:
    failures = await check_refused(api, WRONG_CONTENT_TYPES)
    assert not failures, "\n".join(failures)


# --- titles whose achievements are driven by events ------------------------------------


async def test_an_event_based_title_is_409(api: Api) -> None:
    await publish_config(
        api.db, title_config(3, title_id=OTHER_TITLE_ID, scid=OTHER_SCID, kind="event-based")
    )
    token = await token_for(api.db, title_id=OTHER_TITLE_ID)
    body = update_body([("1", 100)], scid=OTHER_SCID, title_id=OTHER_TITLE_ID)

    async def attempt() -> httpx.Response:
        return await api.client.post(
            f"/users/xuid({XUID})/achievements/{OTHER_SCID}/update",
            json=body,
            headers=api.auth(token),
        )

    response = await answer(attempt, lambda r: r.status_code != 404)
    error = assert_error(response, 409)
    assert "event" in error["description"].lower()
    async with api.db.read() as conn:
        query = select(func.count()).select_from(progress).where(progress.c.scid == OTHER_SCID)
        assert (await conn.execute(query)).scalar_one() == 0


# --- timeAchieved -----------------------------------------------------------------------


@dataclass(frozen=True)
class Achieved:
    name: str
    offset: timedelta  # from now
    kept: bool  # recorded as sent (else: now)
    form: str = "xbox"  # how the time is written: xbox (7 digits, Z), or a UTC offset
    text: str | None = None  # the time sent, instead of now + offset


TIMES = [
    Achieved("1 hour ago", timedelta(hours=-1), kept=True),
    Achieved("29 days ago", timedelta(days=-29), kept=True),
    Achieved("10 minutes ahead: beyond the skew", timedelta(minutes=10), kept=False),
    Achieved("2 minutes ahead: within the skew", timedelta(minutes=2), kept=False),
    Achieved("40 days ago: beyond the window", timedelta(days=-40), kept=False),
    Achieved("written with +00:00", timedelta(hours=-3), kept=True, form="+00:00"),
    Achieved("written with +02:00", timedelta(hours=-3), kept=True, form="+02:00"),
    Achieved("Xbox's never, year 1", timedelta(), kept=False, text="0001-01-01T00:00:00Z"),
    Achieved("year 9999", timedelta(), kept=False, text="9999-12-31T23:59:59.9999999Z"),
]


def written(moment: datetime, form: str) -> str:
    if form == "xbox":
        return xbox_time(moment)
    hours = int(form[1:3]) * (1 if form[0] == "+" else -1)
    local = moment.replace(tzinfo=None) + timedelta(hours=hours)
    return local.isoformat(timespec="microseconds") + form


async def test_time_achieved(api: Api) -> None:
    failures: list[str] = []
    for n, case in enumerate(TIMES):
        xuid = str(5_000_000 + n)
        token = await token_for(api.db, xuid=xuid)
        sent = datetime.now(UTC) + case.offset
        text = case.text or written(sent, case.form)
        body = [{"id": "1", "percentComplete": 100, "timeAchieved": text}]
        before = datetime.now(UTC)
        response = await api.update(body, xuid=xuid, token=token)
        after = datetime.now(UTC)
        if response.status_code != 200:
            failures.append(f"{case.name}: {response.status_code} {response.text}")
            continue
        recorded = await time_unlocked(api, "1", xuid, token)
        if case.kept and recorded != xbox_time(sent):
            failures.append(f"{case.name}: recorded {recorded}, sent {xbox_time(sent)}")
        if not case.kept and not before <= parse_xbox_time(recorded) <= after:
            failures.append(f"{case.name}: recorded {recorded}, not now ({xbox_time(before)})")
    assert not failures, "\n".join(failures)

    # Below 100 a time is no unlock time; the unlock that follows is stamped now.
    sent = datetime.now(UTC) - timedelta(hours=1)
    body = [{"id": "2", "percentComplete": 40, "timeAchieved": xbox_time(sent)}]
    assert (await api.update(body)).status_code == 200
    assert await time_unlocked(api, "2") == NEVER
    before = datetime.now(UTC)
    assert (await api.update([("2", 100)])).status_code == 200
    assert parse_xbox_time(await time_unlocked(api, "2")) >= before


# --- rate limits ------------------------------------------------------------------------


@pytest.fixture
async def limited(db: Database, settings: Settings) -> AsyncIterator[Api]:
    """A service allowing bursts of 5 requests per player and title in 15 s."""
    await publish_config(db, title_config(5))
    async with (
        running_service(settings.with_changes(rate_burst_requests=5)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        yield Api(client, db, await token_for(db), url)


def burst_window() -> int:
    return int(time.time() // 15)


async def test_the_sixth_request_in_a_burst_is_429(limited: Api) -> None:
    for attempt in range(3):
        # The windows are fixed (aligned to the epoch): a burst that straddles a
        # boundary is counted in two windows, so it is retried with a fresh player.
        xuid = str(4_000_000 + attempt)
        token = await token_for(limited.db, xuid=xuid)
        window = burst_window()
        answers = [
            await limited.update([("1", 10 * n)], xuid=xuid, token=token) for n in range(1, 7)
        ]
        other = await limited.update(
            [("1", 10 + attempt)],
            xuid=OTHER_XUID,
            token=await token_for(limited.db, xuid=OTHER_XUID),
        )
        if burst_window() == window:
            break
    else:
        pytest.fail("three bursts straddled a window boundary")
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert refused.json() == {
        "version": 1,
        "currentRequests": 6,
        "maxRequests": 5,
        "periodInSeconds": 15,
        "limitType": "rate",
    }
    assert refused.headers["retry-after"].isdigit()
    assert 1 <= int(refused.headers["retry-after"]) <= 15
    assert await limited.stored("1", xuid) == 50  # the refused update was not applied
    assert other.status_code == 200  # another player is not limited
