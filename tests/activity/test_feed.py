"""The activity feed, `GET /users/xuid({xuid})/activity`, fed by the real update API
on a running service, on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from laurels.titles import SECRET_NAME
from laurels.wire.times import format_time, utcnow
from tests.helpers import OTHER_XUID, SCID, TITLE_ID, token_for
from tests.helpers.activity import (
    FRENCH,
    ICON,
    SECRET,
    SECRET_FRENCH,
    SECRET_LOCKED,
    SIDE_ID,
    SIDE_SCID,
    Player,
)
from tests.helpers.wire import check_activity_page


def achievement_ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["achievementId"] for item in items]


async def test_each_unlock_is_one_item_newest_first(player: Player) -> None:
    earned = utcnow() - timedelta(hours=20)  # delivered from an offline queue
    assert (await player.unlock("3")).status_code == 200
    assert (await player.unlock("1", "2")).status_code == 200
    assert (await player.progress("4", 50)).status_code == 200  # progress, no unlock
    late = {"id": "5", "percentComplete": 100, "timeAchieved": format_time(earned)}
    assert (await player.api.update([late])).status_code == 200
    assert (await player.unlock("3")).status_code == 304

    response = await player.feed()
    assert response.status_code == 200
    body = check_activity_page(response.json())
    assert body["pagingInfo"] == {"continuationToken": None, "totalRecords": 4}
    items = body["activityItems"]
    assert achievement_ids(items) == ["5", "2", "1", "3"]  # in commit order, newest first
    assert len({item["id"] for item in items}) == 4
    assert items[0]["date"] == format_time(earned)  # when it was earned, not delivered
    one = items[2]
    assert one == {
        "id": one["id"],
        "activityItemType": "Achievement",
        "date": one["date"],
        "titleId": TITLE_ID,
        "serviceConfigId": SCID,
        "achievementId": "1",
        "achievementName": "Achievement 1",
        "achievementDescription": "You did thing 1.",
        "achievementIcon": ICON,
        "gamerscore": 10,
        "rarityPercentage": 100.0,
    }
    assert items[1]["achievementIcon"] is None


async def test_racing_unlocks_make_one_item(player: Player) -> None:
    answers = await asyncio.gather(*(player.unlock("7") for _ in range(20)))
    assert sorted(r.status_code for r in answers) == [200] + [304] * 19
    assert achievement_ids(await player.items()) == ["7"]


async def test_rarity_is_the_percent_of_the_titles_players(player: Player) -> None:
    other = await token_for(player.api.db, xuid=OTHER_XUID)
    assert (await player.unlock("1", "2")).status_code == 200
    assert (await player.unlock("1", xuid=OTHER_XUID, token=other)).status_code == 200
    rarity = {i["achievementId"]: i["rarityPercentage"] for i in await player.items()}
    assert rarity == {"1": 100.0, "2": 50.0}
    assert all(type(value) is float for value in rarity.values())


async def walk(player: Player, between: list[str], **params: Any) -> tuple[list[str], set[int]]:
    """Every page of the feed with maxItems=7; unlocks three of `between` after each."""
    seen: list[str] = []
    totals: set[int] = set()
    token = None
    while True:
        query = {**params, "maxItems": 7} | ({"continuationToken": token} if token else {})
        response = await player.feed(**query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["activityItems"]) <= 7
        seen += achievement_ids(page["activityItems"])
        totals.add(page["pagingInfo"]["totalRecords"])
        token = page["pagingInfo"]["continuationToken"]
        if token is None:
            return seen, totals
        for _ in range(3):
            if between:
                assert (await player.unlock(between.pop(0))).status_code == 200


async def test_a_walk_is_exact_while_unlocks_arrive(player: Player) -> None:
    first = [str(n) for n in range(1, 61)]
    for start in range(0, 60, 12):
        assert (await player.unlock(*first[start : start + 6])).status_code == 200
        for one in first[start + 6 : start + 12]:
            assert (await player.unlock(one)).status_code == 200
    expected = achievement_ids(await player.items(maxItems=1000))
    assert sorted(expected) == sorted(first)

    during = [str(n) for n in range(61, 81)]
    seen, totals = await walk(player, during)
    assert seen == expected  # each item once, in order; nothing unlocked since shows
    assert totals == {60}
    assert not during  # the walk really had unlocks between its pages

    fresh = achievement_ids(await player.items(maxItems=25))
    assert fresh[:20] == [str(n) for n in range(80, 60, -1)]
    seen, totals = await walk(player, [])
    assert totals == {80}
    assert sorted(seen) == sorted(first + [str(n) for n in range(61, 81)])


async def test_the_title_filter(player: Player) -> None:
    assert (await player.unlock("1")).status_code == 200
    assert (await player.unlock("b2", "b3", scid=SIDE_SCID)).status_code == 200
    assert (await player.unlock("2")).status_code == 200
    side = (await player.feed(titleId=SIDE_ID)).json()
    assert achievement_ids(side["activityItems"]) == ["b3", "b2"]
    assert side["pagingInfo"]["totalRecords"] == 2
    assert {i["serviceConfigId"] for i in side["activityItems"]} == {SIDE_SCID}
    assert {i["titleId"] for i in side["activityItems"]} == {SIDE_ID}
    assert [i["gamerscore"] for i in side["activityItems"]] == [30, 15]
    assert achievement_ids(await player.items(titleId=TITLE_ID)) == ["2", "1"]
    assert achievement_ids(await player.items()) == ["2", "b3", "b2", "1"]
    assert await player.items(titleId=999) == []

    # A filtered walk keeps to its title.
    first = await player.feed(titleId=TITLE_ID, maxItems=1)
    token = first.json()["pagingInfo"]["continuationToken"]
    rest = await player.feed(titleId=TITLE_ID, maxItems=5, continuationToken=token)
    assert achievement_ids(check_activity_page(rest.json())["activityItems"]) == ["1"]


def leaked(response: httpx.Response) -> list[str]:
    text = response.content.decode() + str(response.json())  # escaped or not
    secrets = [SECRET["name"], SECRET["description"], SECRET["icon"], *SECRET_FRENCH.values()]
    return [secret for secret in secrets if secret in text]


async def test_a_secret_shows_only_to_its_owner(player: Player) -> None:
    server = await token_for(player.api.db, server=True)
    assert (await player.unlock("secret", "1")).status_code == 200
    french = {"accept-language": "fr-FR"}

    owner = {i["achievementId"]: i for i in await player.items()}["secret"]
    assert owner["achievementName"] == SECRET["name"]
    assert owner["achievementDescription"] == SECRET["description"]
    assert owner["achievementIcon"] == SECRET["icon"]
    owner_fr = check_activity_page((await player.feed(headers=french)).json())["activityItems"]
    assert (owner_fr[0]["achievementName"], owner_fr[0]["achievementDescription"]) == (
        SECRET_FRENCH["name"],
        SECRET_FRENCH["description"],
    )

    for headers in ({}, french):
        response = await player.feed(token=server, headers=headers)
        assert response.status_code == 200, response.text
        assert not leaked(response)
        shown = {
            i["achievementId"]: i for i in check_activity_page(response.json())["activityItems"]
        }
        assert shown["secret"]["achievementName"] == SECRET_NAME
        assert shown["secret"]["achievementDescription"] == SECRET_LOCKED
        assert shown["secret"]["achievementIcon"] is None
        assert shown["secret"]["gamerscore"] == 10
        assert shown["1"]["achievementIcon"] == ICON  # only the secret one is hidden


async def test_accept_language_picks_the_strings(player: Player) -> None:
    assert (await player.unlock("1")).status_code == 200
    cases = [
        ({"accept-language": "fr-FR"}, FRENCH),
        ({"accept-language": "de-DE, fr;q=0.5"}, FRENCH),
        ({"accept-language": "FR-fr"}, FRENCH),
        ({"accept-language": "de-DE"}, {"name": "Achievement 1"}),
        ({}, {"name": "Achievement 1"}),
    ]
    for headers, expected in cases:
        item = check_activity_page((await player.feed(headers=headers)).json())["activityItems"][0]
        assert item["achievementName"] == expected["name"], headers
        if "description" in expected:
            assert item["achievementDescription"] == expected["description"], headers


async def test_a_player_without_unlocks_has_an_empty_page(player: Player) -> None:
    assert (await player.progress("1", 40)).status_code == 200
    response = await player.feed()
    assert response.status_code == 200
    assert response.json() == {
        "activityItems": [],
        "pagingInfo": {"continuationToken": None, "totalRecords": 0},
    }
