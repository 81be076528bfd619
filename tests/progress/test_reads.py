"""The reads of spec/wire.md (the achievement list and one achievement) and the reset
API, against a real server on both databases."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

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
    achievement,
    answer,
    assert_error,
    publish_config,
    title_config,
    token_for,
)
from tests.helpers.wire import check_achievements_page

SECRET_NAME = "Hidden Grove"
SECRET_DESCRIPTION = "You found the grove behind the waterfall."
SECRET_FRENCH = ("Bosquet caché", "Vous avez trouvé le bosquet derrière la cascade.")
FRENCH = {
    "name": "Premiers pas",
    "lockedDescription": "Faites la chose 1.",
    "description": "Vous avez fait la chose 1.",
}
ENGLISH = {
    "name": "Achievement 1",
    "lockedDescription": "Do thing 1.",
    "description": "You did thing 1.",
}
PROBE_XUID = "1"  # a player nobody writes: reading it proves a publish arrived

# Title 1234 again, with everything an Achievement can show.
READS_TITLE = title_config(
    0,
    extra=[
        achievement(
            1,
            icon="https://cdn.example.com/1.png",
            platforms=["PC", "Xbox"],
            estimatedTime="00:10:00",
            deeplink="game://one",
            productId="9NBLGGH4R315",
            rewards=[
                {"type": "InApp", "name": "Sword", "description": "A sword.", "value": "sword"},
                {
                    "type": "Art",
                    "name": "Poster",
                    "description": "A poster.",
                    "image": "https://cdn.example.com/poster.png",
                },
            ],
            localized={"fr-FR": FRENCH},
        ),
        *(achievement(n) for n in range(2, 6)),
        achievement(
            "secret",
            secret=True,
            name=SECRET_NAME,
            description=SECRET_DESCRIPTION,
            icon="https://cdn.example.com/grove.png",
            deeplink="game://grove",
            rewards=[{"type": "InApp", "name": "Grove Key", "description": "Opens the grove."}],
            localized={
                "fr-FR": {"name": SECRET_FRENCH[0], "description": SECRET_FRENCH[1]},
            },
        ),
        achievement("server", serverOnly=True),
        achievement(
            "late",
            type="Challenge",
            timeWindow={"startDate": "2024-01-01T00:00:00Z", "endDate": "2031-01-01T00:00:00Z"},
        ),
        achievement(
            "soon",
            type="Challenge",
            timeWindow={"startDate": "2024-01-01T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"},
        ),
    ],
)
ALL = ["1", "2", "3", "4", "5", "secret", "server", "late", "soon"]


async def published(api: Api, config: dict[str, Any], sandbox: str = "DEV.1") -> None:
    """Publish `config` and wait until the running service serves it."""
    await publish_config(api.db, config, sandbox)
    title_id = config["title"]["id"]
    server = await token_for(api.db, server=True, sandbox=sandbox, title_id=title_id)
    count = len(config["achievements"])
    await answer(
        lambda: api.achievements(xuid=PROBE_XUID, token=server, titleId=title_id),
        lambda r: r.status_code == 200 and r.json()["pagingInfo"]["totalRecords"] == count,
    )


@pytest.fixture
async def reads(api: Api) -> Api:
    """The `api` service with READS_TITLE published over title 1234 in DEV.1."""
    await published(api, READS_TITLE)
    return api


async def one(
    api: Api,
    achievement_id: str,
    *,
    xuid: str = XUID,
    scid: str = SCID,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """GET one achievement."""
    return await api.client.get(
        one_path(achievement_id, xuid, scid), headers=api.auth(token) | (headers or {})
    )


def one_path(achievement_id: str, xuid: str = XUID, scid: str = SCID) -> str:
    return f"/users/xuid({xuid})/achievements/{scid}/{achievement_id}"


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in check_achievements_page(response.json())["achievements"]]


def by_id(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {item["id"]: item for item in check_achievements_page(response.json())["achievements"]}


# --- the Achievement object --------------------------------------------------------------


def content_problems(item: dict[str, Any]) -> list[str]:
    """What in `item` (an Achievement of the published model) is not what title 1234
    of READS_TITLE shows."""
    requirements = item["progression"]["requirements"]
    current = requirements[0]["current"] if len(requirements) == 1 else None
    rarity = item["rarity"]["currentPercentage"]
    checks = {
        "serviceConfigId": item["serviceConfigId"] == SCID,
        "name": bool(item["name"]),
        "titleAssociations": [{**t, "version": ""} for t in item["titleAssociations"]]
        == [{"name": "Test Game", "id": TITLE_ID, "version": ""}],
        "requirements": len(requirements) == 1 and requirements[0]["target"] == "100",
        "current": current is None or re.fullmatch(r"\d{1,3}", current) is not None,
        "gamerscore reward": [
            (r["value"], r["valueType"]) for r in item["rewards"] if r["type"] == "Gamerscore"
        ]
        == [("10", "Int")],
        "estimatedTime": re.fullmatch(r"\d\d:\d\d:\d\d", item["estimatedTime"]) is not None,
        "isRevoked": item["isRevoked"] is False,
        "rarity": 0.0 <= rarity <= 100.0,
    }
    return [f"{item['id']}: {name}" for name, ok in checks.items() if not ok]


async def test_every_achievement_has_the_wire_shape(reads: Api) -> None:
    assert (await reads.update([("1", 100)])).status_code == 200
    assert (await reads.update([("2", 40)])).status_code == 200
    page = await reads.achievements()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("application/json")
    body = check_achievements_page(page.json())
    assert body["pagingInfo"] == {"continuationToken": None, "totalRecords": len(ALL)}
    problems = [p for item in body["achievements"] for p in content_problems(item)]
    singles = {
        i: check_achievements_page((await one(reads, i)).json())["achievements"] for i in ALL
    }
    assert all(len(items) == 1 for items in singles.values()), singles
    problems += [p for items in singles.values() for p in content_problems(items[0])]
    assert not problems, "\n".join(problems)
    assert all(singles[i] == [item] for i, item in by_id(page).items())

    items = by_id(page)
    unlocked, started, untouched = items["1"], items["2"], items["3"]
    assert unlocked["progressState"] == "Achieved"
    assert unlocked["progression"]["requirements"][0]["current"] == "100"
    assert TIME_FORMAT.match(unlocked["progression"]["timeUnlocked"])
    assert started["progressState"] == "InProgress"
    assert started["progression"]["requirements"][0]["current"] == "40"
    assert started["progression"]["timeUnlocked"] == NEVER
    assert untouched["progressState"] == "NotStarted"
    assert untouched["progression"]["requirements"][0]["current"] is None
    assert untouched["progression"]["timeUnlocked"] == NEVER

    # What the configuration says, as it says it.
    assert unlocked["mediaAssets"] == [
        {
            "name": unlocked["mediaAssets"][0]["name"],
            "type": "Icon",
            "url": "https://cdn.example.com/1.png",
        }
    ]
    assert unlocked["platforms"] == ["PC", "Xbox"]
    assert unlocked["estimatedTime"] == "00:10:00"
    assert unlocked["deeplink"] == "game://one"
    assert unlocked["productId"] == "9NBLGGH4R315"
    rewards = {r["type"]: r for r in unlocked["rewards"]}
    assert set(rewards) == {"Gamerscore", "InApp", "Art"}
    assert rewards["InApp"]["name"] == "Sword"
    assert rewards["InApp"]["mediaAsset"] is None
    assert rewards["Art"]["mediaAsset"]["type"] == "Art"
    assert rewards["Art"]["mediaAsset"]["url"] == "https://cdn.example.com/poster.png"
    assert untouched["mediaAssets"] == []
    assert untouched["timeWindow"] is None
    assert untouched["achievementType"] == "Persistent"
    assert items["soon"]["achievementType"] == "Challenge"
    assert items["soon"]["timeWindow"] == {
        "startDate": "2024-01-01T00:00:00Z",
        "endDate": "2030-01-01T00:00:00Z",
    }
    assert len({i["progression"]["requirements"][0]["id"] for i in items.values()}) == len(ALL)


async def test_an_empty_list_is_still_a_page(api: Api) -> None:
    response = await api.achievements(unlockedOnly="true")
    assert response.status_code == 200
    assert response.json() == {
        "achievements": [],
        "pagingInfo": {"continuationToken": None, "totalRecords": 0},
    }


# --- query parameters ---------------------------------------------------------------------

UNLOCK_ORDER = ["1", "3", "2", "4", "5", "secret", "server", "late", "soon"]  # 1 after 3
ENDING_ORDER = ["soon", "late", "1", "2", "3", "4", "5", "secret", "server"]

QUERIES: list[tuple[dict[str, Any], list[str], int, bool]] = [
    # (query, ids of the page, totalRecords, a continuation token)
    ({}, ALL, 9, False),
    ({"orderBy": "Unordered"}, ALL, 9, False),
    ({"orderBy": "Title"}, ALL, 9, False),
    ({"orderBy": "title"}, ALL, 9, False),
    ({"orderBy": "UnlockTime"}, UNLOCK_ORDER, 9, False),
    ({"orderBy": "unlocktime"}, UNLOCK_ORDER, 9, False),
    ({"orderBy": "UNLOCKTIME"}, UNLOCK_ORDER, 9, False),
    ({"orderBy": "EndingSoon"}, ENDING_ORDER, 9, False),
    ({"orderBy": "endingSoon"}, ENDING_ORDER, 9, False),
    ({"types": "Persistent"}, ALL[:7], 7, False),
    ({"types": "Challenge"}, ["late", "soon"], 2, False),
    ({"types": "Persistent,Challenge"}, ALL, 9, False),
    ({"unlockedOnly": "true"}, ["1", "3"], 2, False),
    ({"unlockedOnly": "false"}, ALL, 9, False),
    ({"unlockedOnly": "true", "orderBy": "UnlockTime"}, ["1", "3"], 2, False),
    ({"unlockedOnly": "true", "types": "Challenge"}, [], 0, False),
    ({"maxItems": 2}, ["1", "2"], 9, True),
    ({"maxItems": 9}, ALL, 9, False),
    ({"maxItems": 2, "orderBy": "UnlockTime"}, ["1", "3"], 9, True),
    ({"skipItems": 7}, ["late", "soon"], 9, False),
    ({"skipItems": 2, "maxItems": 3}, ["3", "4", "5"], 9, True),
    ({"skipItems": 9}, [], 9, False),
    ({"skipItems": 50}, [], 9, False),
    ({"titleId": f"{TITLE_ID},{TITLE_ID}"}, ALL, 9, False),
]


async def test_list_query_parameters(reads: Api) -> None:
    for achievement_id, percent in [("3", 100), ("1", 100), ("2", 40)]:
        assert (await reads.update([(achievement_id, percent)])).status_code == 200
    failures = []
    for query, expected, total, more in QUERIES:
        response = await reads.achievements(**query)
        if response.status_code != 200:
            failures.append(f"{query}: {response.status_code} {response.text}")
            continue
        paging = response.json()["pagingInfo"]
        got = (ids(response), paging["totalRecords"], paging["continuationToken"] is not None)
        if got != (expected, total, more):
            failures.append(f"{query}: {got}, expected {(expected, total, more)}")
    assert not failures, "\n".join(failures)

    # possibleOnly: the definitions only, as if nobody had played.
    for query in [{"possibleOnly": "true"}, {"possibleOnly": "true", "orderBy": "UnlockTime"}]:
        response = await reads.achievements(**query)
        assert ids(response) == ALL, query
        for item in check_achievements_page(response.json())["achievements"]:
            assert item["progressState"] == "NotStarted", item
            assert item["progression"]["requirements"][0]["current"] is None, item
            assert item["progression"]["timeUnlocked"] == NEVER, item

    # Several titles in one list: every achievement of each, with its title.
    await published(reads, title_config(2, title_id=OTHER_TITLE_ID, scid=OTHER_SCID))
    response = await reads.achievements(titleId=f"{OTHER_TITLE_ID},{TITLE_ID}")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["pagingInfo"]["totalRecords"] == len(ALL) + 2
    assert sorted(
        (item["titleAssociations"][0]["id"], item["serviceConfigId"], item["id"])
        for item in page["achievements"]
    ) == sorted(
        [(TITLE_ID, SCID, i) for i in ALL]
        + [(OTHER_TITLE_ID, OTHER_SCID, "1"), (OTHER_TITLE_ID, OTHER_SCID, "2")]
    )


async def test_continuation_tokens_walk_every_item_once(reads: Api) -> None:
    for achievement_id in ["3", "1"]:
        assert (await reads.update([(achievement_id, 100)])).status_code == 200
    for order, expected in [("Unordered", ALL), ("UnlockTime", UNLOCK_ORDER)]:
        seen: list[str] = []
        totals: set[int] = set()
        token = None
        for _ in range(10):
            query: dict[str, Any] = {"orderBy": order, "maxItems": 2}
            if token is not None:
                # skipItems is ignored when a continuation token is present.
                query |= {"continuationToken": token, "skipItems": 5}
            page = (await reads.achievements(**query)).json()
            seen += [item["id"] for item in page["achievements"]]
            totals.add(page["pagingInfo"]["totalRecords"])
            token = page["pagingInfo"]["continuationToken"]
            if token is None:
                break
        assert seen == expected, order
        assert totals == {len(ALL)}, order


BAD_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("orderBy unknown", {"orderBy": "Bogus"}),
    ("orderBy empty", {"orderBy": ""}),
    ("types unknown", {"types": "Bogus"}),
    ("types partly unknown", {"types": "Persistent,Bogus"}),
    ("maxItems 0", {"maxItems": 0}),
    ("maxItems -1", {"maxItems": -1}),
    ("maxItems not a number", {"maxItems": "ten"}),
    ("skipItems -1", {"skipItems": -1}),
    ("skipItems not a number", {"skipItems": "two"}),
    ("unlockedOnly not a bool", {"unlockedOnly": "maybe"}),
    ("possibleOnly not a bool", {"possibleOnly": "perhaps"}),
    ("titleId missing", {"titleId": None}),
    ("titleId not a number", {"titleId": "abc"}),
    ("titleId empty", {"titleId": ""}),
    ("titleId 0", {"titleId": "0"}),
    ("continuationToken garbage", {"continuationToken": "not-a-token"}),
]


async def test_bad_list_queries_are_400(api: Api) -> None:
    failures = []
    for name, query in BAD_QUERIES:
        params = {"titleId": TITLE_ID, **query}
        params = {k: v for k, v in params.items() if v is not None}
        response = await api.client.get(
            f"/users/xuid({XUID})/achievements", params=params, headers=api.auth()
        )
        try:
            assert_error(response, 400, name)
        except AssertionError as exc:
            failures.append(str(exc))
    for version in ["3", "1", "two"]:  # an unknown contract version, on both reads
        headers = api.auth() | {"x-xbl-contract-version": version}
        for path in [f"/users/xuid({XUID})/achievements?titleId={TITLE_ID}", one_path("1")]:
            try:
                assert_error(await api.client.get(path, headers=headers), 400, version)
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)


# --- one achievement ------------------------------------------------------------------------


async def test_one_achievement(api: Api) -> None:
    assert (await api.update([("2", 30)])).status_code == 200
    response = await one(api, "2")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"achievements", "pagingInfo"}
    assert len(body["achievements"]) == 1
    assert body["achievements"][0]["id"] == "2"
    assert body["achievements"][0]["progression"]["requirements"][0]["current"] == "30"
    listed = by_id(await api.achievements())["2"]
    assert body["achievements"][0] == listed

    # The SCID is compared in lower case; the answer is in lower case.
    upper = await one(api, "2", scid=SCID.upper())
    assert upper.status_code == 200
    assert check_achievements_page(upper.json())["achievements"][0]["serviceConfigId"] == SCID

    # The achievement id is compared exactly.
    for unknown in ["999", "01", "SECRET", "Secret", "%00", "%F0%9D%93%AA"]:
        assert_error(await one(api, unknown), 404, unknown)
    assert_error(await one(api, "1", scid=UNKNOWN_SCID), 404, "unknown SCID")
    assert_error(await one(api, "1", scid="not-a-guid"), 400, "non-GUID SCID")


# --- Accept-Language -----------------------------------------------------------------------

LANGUAGES: list[tuple[str | None, dict[str, str]]] = [
    ("fr-FR,fr;q=0.9,en", FRENCH),
    ("fr", FRENCH),
    ("fr-FR", FRENCH),
    ("FR-fr", FRENCH),
    ("fr-CA", FRENCH),
    ("de-DE,fr;q=0.5", FRENCH),
    ("en;q=0.9,fr-FR;q=0.8", ENGLISH),
    ("de-DE", ENGLISH),
    ("fr;q=0", ENGLISH),
    ("*", ENGLISH),
    ("", ENGLISH),
    (None, ENGLISH),
]


async def test_accept_language_picks_the_strings(reads: Api) -> None:
    failures = []
    for header, expected in LANGUAGES:
        headers = {} if header is None else {"Accept-Language": header}
        listed = await reads.client.get(
            f"/users/xuid({XUID})/achievements",
            params={"titleId": TITLE_ID},
            headers=reads.auth() | headers,
        )
        single = await one(reads, "1", headers=headers)
        for where, response in [("list", listed), ("one", single)]:
            item = by_id(response)["1"]
            got = {key: item[key] for key in expected}
            if got != expected:
                failures.append(f"{header!r} ({where}): {got}")
        # Achievements without French strings stay in the default locale.
        if by_id(listed)["2"]["name"] != "Achievement 2":
            failures.append(f"{header!r}: achievement 2 is {by_id(listed)['2']['name']!r}")
    assert not failures, "\n".join(failures)


# --- secrets ----------------------------------------------------------------------------------

SECRET_STRINGS = [
    SECRET_NAME,
    SECRET_DESCRIPTION,
    *SECRET_FRENCH,
    "grove.png",
    "game://grove",
    "Grove Key",
]


SECRET_VIEWS = {
    "list": {},
    "possibleOnly": {"possibleOnly": "true"},
    "by time": {"orderBy": "UnlockTime"},
}


async def secret_views(
    api: Api, xuid: str, token: str | None = None
) -> dict[tuple[str, str], httpx.Response]:
    """Every way `xuid`'s view of the secret achievement can be read, by (language,
    view)."""
    responses = {}
    for language in ["en-US", "fr-FR"]:
        headers = {"Accept-Language": language}
        for view, params in SECRET_VIEWS.items():
            responses[(language, view)] = await api.client.get(
                f"/users/xuid({xuid})/achievements",
                params={"titleId": TITLE_ID, **params},
                headers=api.auth(token) | headers,
            )
        responses[(language, "one")] = await one(
            api, "secret", xuid=xuid, token=token, headers=headers
        )
    return responses


def leaks(responses: dict[tuple[str, str], httpx.Response]) -> list[str]:
    found = []
    for where, response in responses.items():
        assert response.status_code == 200, response.text
        text = response.content.decode() + str(response.json())  # escaped or not
        found += [f"{where}: {s!r}" for s in SECRET_STRINGS if s in text]
    return found


def secret_strings(response: httpx.Response) -> tuple[str, str]:
    item = by_id(response)["secret"]
    return item["name"], item["description"]


async def test_a_secret_does_not_leak_before_its_owner_unlocks_it(reads: Api) -> None:
    other = await token_for(reads.db, xuid=OTHER_XUID)
    server = await token_for(reads.db, server=True)
    assert (await reads.update([("secret", 60)])).status_code == 200
    before = await secret_views(reads, XUID)
    assert not leaks(before)
    assert not leaks(await secret_views(reads, XUID, server))
    item = by_id(before[("en-US", "list")])["secret"]
    assert item["isSecret"] is True
    assert item["lockedDescription"] == "Do thing secret."
    assert item["description"] == "Do thing secret."
    assert item["progressState"] == "InProgress"

    assert (await reads.update([("secret", 100)])).status_code == 200
    after = await secret_views(reads, XUID)
    for view in ["list", "by time", "one"]:
        assert secret_strings(after[("en-US", view)]) == (SECRET_NAME, SECRET_DESCRIPTION)
        assert secret_strings(after[("fr-FR", view)]) == SECRET_FRENCH
    assert leaks({("en-US", "one"): after[("en-US", "one")]})  # the check sees them
    # possibleOnly shows no player data, and another player has not unlocked it.
    assert not leaks({k: v for k, v in after.items() if k[1] == "possibleOnly"})
    assert not leaks(await secret_views(reads, OTHER_XUID, other))
    # Nor does anyone but the owner see it after the unlock: a game server neither.
    assert not leaks(await secret_views(reads, XUID, server))


# --- rarity -----------------------------------------------------------------------------------


async def test_rarity_counts_the_sandbox_players(api: Api) -> None:
    server = await token_for(api.db, server=True)

    async def rarity(achievement_id: str) -> dict[str, Any]:
        found: dict[str, Any] = by_id(await api.achievements())[achievement_id]["rarity"]
        return found

    async def players(first: int, count: int) -> None:
        for n in range(first, first + count):
            response = await api.update([("2", 10)], xuid=str(6_000_000 + n), token=server)
            assert response.status_code == 200, response.text

    assert await rarity("1") == {"currentCategory": "Rare", "currentPercentage": 0.0}
    assert (await api.update([("1", 100)])).status_code == 200  # 1 of 1
    assert await rarity("1") == {"currentCategory": "Common", "currentPercentage": 100.0}
    await players(1, 9)  # 1 of 10: 10.0 % is not below 10
    assert await rarity("1") == {"currentCategory": "Common", "currentPercentage": 10.0}
    assert await rarity("2") == {"currentCategory": "Rare", "currentPercentage": 0.0}
    await players(10, 10)  # 1 of 20
    assert await rarity("1") == {"currentCategory": "Rare", "currentPercentage": 5.0}
    # Progress is not an unlock, and players of another sandbox do not count.
    assert (await api.update([("1", 99)], xuid=OTHER_XUID, token=server)).status_code == 200
    assert await rarity("1") == {"currentCategory": "Rare", "currentPercentage": round(100 / 21, 2)}
    await published(api, title_config(5), sandbox="DEV.2")
    dev2 = await token_for(api.db, server=True, sandbox="DEV.2")
    response = await api.update([("1", 100)], xuid=OTHER_XUID, token=dev2)
    assert response.status_code == 200, response.text
    assert await rarity("1") == {"currentCategory": "Rare", "currentPercentage": round(100 / 21, 2)}


# --- who may read ---------------------------------------------------------------------------

READERS: list[tuple[str, str, str, int]] = [
    # (credential, whose achievements, route, status)
    ("player", XUID, "list", 200),
    ("player", XUID, "one", 200),
    ("XBL3.0 player", XUID, "list", 200),
    ("XBL3.0 player", XUID, "one", 200),
    ("player", OTHER_XUID, "list", 403),
    ("player", OTHER_XUID, "one", 403),
    ("server", OTHER_XUID, "list", 200),
    ("server", OTHER_XUID, "one", 200),
    ("server", XUID, "list", 200),
    ("other-title server", XUID, "list", 403),
    ("other-title server", XUID, "one", 403),
    ("none", XUID, "list", 401),
    ("none", XUID, "one", 401),
    ("garbage", XUID, "list", 401),
    ("garbage", XUID, "one", 401),
]


async def test_who_may_read(api: Api) -> None:
    tokens = {
        "player": api.token,
        "server": await token_for(api.db, server=True),
        "other-title server": await token_for(api.db, server=True, title_id=OTHER_TITLE_ID),
        "garbage": "not.a.token",
    }
    assert (
        await api.update([("1", 100)], xuid=OTHER_XUID, token=tokens["server"])
    ).status_code == 200
    failures = []
    for credential, xuid, route, status in READERS:
        headers = {"x-xbl-contract-version": "2"}
        if credential.startswith("XBL3.0"):
            headers["Authorization"] = f"XBL3.0 x=1234567890;{api.token}"
        elif credential in tokens:
            headers["Authorization"] = f"Bearer {tokens[credential]}"
        path = f"/users/xuid({xuid})/achievements"
        path += f"/{SCID}/1" if route == "one" else f"?titleId={TITLE_ID}"
        response = await api.client.get(path, headers=headers)
        what = f"{credential} reads {xuid} ({route})"
        try:
            if status == 200:
                assert response.status_code == 200, f"{what}: {response.text}"
                expected = "Achieved" if xuid == OTHER_XUID else "NotStarted"
                assert by_id(response)["1"]["progressState"] == expected, what
            else:
                assert_error(response, status, what)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


# --- resets -------------------------------------------------------------------------------


def reset_path(xuid: str = XUID, scid: str = SCID) -> str:
    return f"/users/xuid({xuid})/achievements/{scid}"


async def test_a_reset_erases_the_player_and_their_counts(api: Api) -> None:
    server = await token_for(api.db, server=True)
    assert (await api.update([("1", 100), ("2", 40)])).status_code == 200
    assert (await api.update([("2", 10)], xuid=OTHER_XUID, token=server)).status_code == 200
    as_other = await api.achievements(xuid=OTHER_XUID, token=server)
    assert by_id(as_other)["1"]["rarity"]["currentPercentage"] == 50.0  # 1 of 2

    refused = await api.client.delete(reset_path(), headers=api.auth())  # a player token
    assert_error(refused, 403)
    assert await api.stored("1") == 100

    response = await api.client.delete(reset_path(), headers=api.auth(server))
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await api.stored("1"), await api.stored("2")) == (None, None)
    assert await api.stored("2", OTHER_XUID) == 10  # only that player
    for item in check_achievements_page((await api.achievements()).json())["achievements"]:
        assert item["progressState"] == "NotStarted", item
        assert item["progression"]["requirements"][0]["current"] is None
    # The unlock and the player left the counters: 0 of 1, then 1 of 1.
    seen = by_id(await api.achievements(xuid=OTHER_XUID, token=server))
    assert seen["1"]["rarity"] == {"currentCategory": "Rare", "currentPercentage": 0.0}
    assert (await api.update([("3", 100)], xuid=OTHER_XUID, token=server)).status_code == 200
    seen = by_id(await api.achievements(xuid=OTHER_XUID, token=server))
    assert seen["3"]["rarity"]["currentPercentage"] == 100.0

    # The player starts over: unlocking again is a 200, and counts again.
    assert (await api.update([("1", 100)])).status_code == 200
    again = await api.client.delete(reset_path(), headers=api.auth(server))
    assert again.status_code == 204
    assert (await api.client.delete(reset_path(), headers=api.auth(server))).status_code == 204


async def test_a_reset_is_refused_in_retail(api: Api) -> None:
    await published(api, title_config(5), sandbox="RETAIL")
    retail = await token_for(api.db, server=True, sandbox="RETAIL")
    assert (await api.update([("1", 100)], token=retail)).status_code == 200
    response = await api.client.delete(reset_path(), headers=api.auth(retail))
    error = assert_error(response, 403)
    assert "development sandboxes" in error["description"]
    page = by_id(await api.achievements(token=retail))
    assert page["1"]["progressState"] == "Achieved"  # nothing erased


async def test_a_reset_of_another_title_is_403_and_an_unknown_scid_404(api: Api) -> None:
    assert (await api.update([("1", 100)])).status_code == 200
    other_title = await token_for(api.db, server=True, title_id=OTHER_TITLE_ID)
    server = await token_for(api.db, server=True)
    failures = []
    for what, path, token, status in [
        ("another title's server credential", reset_path(), other_title, 403),
        ("unknown SCID", reset_path(scid=UNKNOWN_SCID), server, 404),
    ]:
        try:
            assert_error(await api.client.delete(path, headers=api.auth(token)), status, what)
        except AssertionError as exc:
            failures.append(str(exc))
    assert await api.stored("1") == 100
    assert not failures, "\n".join(failures)
