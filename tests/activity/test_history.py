"""The title history, `GET /users/xuid({xuid})/history/titles`, on a running service
on both databases."""

from __future__ import annotations

from typing import Any

from tests.helpers import SCID, TIME_FORMAT, TITLE_ID, answer, publish_config, token_for
from tests.helpers.activity import (
    GAME,
    GAME_MAX,
    OTHER_ID,
    OTHER_SCID,
    SIDE_ID,
    SIDE_SCID,
    Player,
)
from tests.helpers.wire import check_history_page


async def titles(player: Player, **params: Any) -> list[dict[str, Any]]:
    response = await player.history(**params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = check_history_page(response.json())["titles"]
    return found


def title_ids(entries: list[dict[str, Any]]) -> list[int]:
    return [entry["titleId"] for entry in entries]


async def test_most_recently_unlocked_first_with_totals(player: Player) -> None:
    assert (await player.unlock("1", "2")).status_code == 200
    assert (await player.progress("1", 40, scid=OTHER_SCID)).status_code == 200
    assert (await player.unlock("b1", "b3", scid=SIDE_SCID)).status_code == 200

    response = await player.history()
    assert response.status_code == 200
    body = check_history_page(response.json())
    assert body["pagingInfo"] == {"continuationToken": None, "totalRecords": 3}
    side, game, other = body["titles"]
    newest = (await player.items())[0]
    assert side == {
        "lastUnlock": newest["date"],
        "titleId": SIDE_ID,
        "serviceConfigId": SIDE_SCID,
        "titleType": "Game",
        "platform": "PC",
        "name": "Side Quest",
        "earnedAchievements": 2,
        "currentGamerscore": 35,
        "maxGamerscore": 50,
    }
    assert TIME_FORMAT.match(game["lastUnlock"])
    assert game["lastUnlock"] < side["lastUnlock"]
    assert (game["titleId"], game["serviceConfigId"], game["name"]) == (
        TITLE_ID,
        SCID,
        GAME["title"]["name"],
    )
    assert (game["platform"], game["earnedAchievements"]) == ("Xbox", 2)
    assert (game["currentGamerscore"], game["maxGamerscore"]) == (20, GAME_MAX)
    assert other["titleId"] == OTHER_ID
    assert other["lastUnlock"] is None  # touched, never unlocked: last
    assert (other["earnedAchievements"], other["currentGamerscore"]) == (0, 0)
    assert other["maxGamerscore"] == 20

    assert (await player.unlock("3")).status_code == 200
    assert title_ids(await titles(player)) == [TITLE_ID, SIDE_ID, OTHER_ID]
    assert (await titles(player))[0]["earnedAchievements"] == 3


async def test_a_walk_is_exact_while_unlocks_arrive(player: Player) -> None:
    assert (await player.progress("1", 10, scid=OTHER_SCID)).status_code == 200
    assert (await player.unlock("1")).status_code == 200
    assert (await player.unlock("b1", scid=SIDE_SCID)).status_code == 200
    seen: list[dict[str, Any]] = []
    totals: set[int] = set()
    token = None
    for more in ["1", "2"]:
        query: dict[str, Any] = {"maxItems": 1}
        if token:
            query["continuationToken"] = token
        page = (await player.history(**query)).json()
        seen += page["titles"]
        totals.add(page["pagingInfo"]["totalRecords"])
        token = page["pagingInfo"]["continuationToken"]
        # Moves OTHER to the top of a new walk, and GAME's totals.
        assert (await player.unlock(more, scid=OTHER_SCID)).status_code == 200
        assert (await player.unlock(str(int(more) + 10))).status_code == 200
    page = (await player.history(maxItems=1, continuationToken=token)).json()
    assert page["pagingInfo"]["continuationToken"] is None
    seen += page["titles"]
    totals.add(page["pagingInfo"]["totalRecords"])
    assert title_ids(seen) == [SIDE_ID, TITLE_ID, OTHER_ID]
    assert totals == {3}
    # The walk showed the titles as they were when it began.
    assert [entry["earnedAchievements"] for entry in seen] == [1, 1, 0]

    fresh = await titles(player)
    assert title_ids(fresh) == [TITLE_ID, OTHER_ID, SIDE_ID]
    assert [entry["earnedAchievements"] for entry in fresh] == [3, 2, 1]


async def test_player_data_never_crosses_sandboxes(player: Player) -> None:
    await publish_config(player.api.db, GAME, sandbox="DEV.2")
    dev2 = await token_for(player.api.db, sandbox="DEV.2")
    assert (await player.unlock("1", "2")).status_code == 200
    await answer(
        lambda: player.unlock("9", token=dev2), lambda response: response.status_code == 200
    )
    assert [i["achievementId"] for i in await player.items()] == ["2", "1"]
    assert [i["achievementId"] for i in await player.items(token=dev2)] == ["9"]
    assert (await titles(player))[0]["earnedAchievements"] == 2
    elsewhere = await titles(player, token=dev2)
    assert title_ids(elsewhere) == [TITLE_ID]
    assert elsewhere[0]["earnedAchievements"] == 1
    # SIDE is not published in DEV.2: a server token of it there sees nothing.
    server = await token_for(player.api.db, server=True, sandbox="DEV.2", title_id=SIDE_ID)
    assert await titles(player, token=server) == []


async def test_a_player_who_never_played_has_no_titles(player: Player) -> None:
    response = await player.history()
    assert response.status_code == 200
    assert response.json() == {
        "titles": [],
        "pagingInfo": {"continuationToken": None, "totalRecords": 0},
    }
