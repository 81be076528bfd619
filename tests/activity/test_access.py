"""Who may read a feed or a history, and what bad input gets: a 400 with the JSON
error body and no change to anything stored. On a running service, both databases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy import func, select

from laurels.activity.tables import activity
from laurels.app import create_app
from laurels.progress.tables import progress, title_players
from laurels.settings import Settings
from tests.helpers import OTHER_XUID, TITLE_ID, XUID, assert_error, token_for
from tests.helpers.activity import SIDE_ID, SIDE_SCID, Player
from tests.helpers.wire import check_activity_page, check_history_page

Send = Callable[[], Awaitable[httpx.Response]]


async def delivery_credential(player: Player) -> str:
    response = await player.api.client.post(
        f"/users/xuid({XUID})/delivery-credentials", json={}, headers=player.api.auth()
    )
    assert response.status_code == 201, response.text
    credential: str = response.json()["credential"]
    return credential


async def test_who_may_read(player: Player) -> None:
    db = player.api.db
    assert (await player.unlock("1")).status_code == 200
    assert (await player.unlock("b2", scid=SIDE_SCID)).status_code == 200
    other_player = await token_for(db, xuid=OTHER_XUID)
    side_server = await token_for(db, server=True, title_id=SIDE_ID)
    game_server = await token_for(db, server=True)
    credential = await delivery_credential(player)
    refused: list[tuple[str, Send, int]] = [
        ("another player's feed", lambda: player.feed(token=other_player), 403),
        ("another player's history", lambda: player.history(token=other_player), 403),
        ("a server, another title", lambda: player.feed(token=side_server, titleId=TITLE_ID), 403),
        ("a server, another title", lambda: player.feed(token=game_server, titleId=SIDE_ID), 403),
        ("a delivery credential's feed", lambda: player.feed(token=credential), 403),
        ("a delivery credential's history", lambda: player.history(token=credential), 403),
        ("no token", lambda: player.api.client.get(f"/users/xuid({XUID})/activity"), 401),
        ("a bad token", lambda: player.feed(token="not.a.token"), 401),
        ("a bad token", lambda: player.history(token="not.a.token"), 401),
    ]
    failures = []
    for what, send, status in refused:
        try:
            assert_error(await send(), status, what)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)

    # A game server reads any player of its own title, and only that title.
    for token in (side_server, game_server):
        server_feed = await player.items(token=token)
        server_history = check_history_page((await player.history(token=token)).json())["titles"]
        title_id = SIDE_ID if token == side_server else TITLE_ID
        assert [i["titleId"] for i in server_feed] == [title_id]
        assert [t["titleId"] for t in server_history] == [title_id]
    assert [i["titleId"] for i in await player.items(token=side_server, titleId=SIDE_ID)] == [
        SIDE_ID
    ]
    # A player reads its own feed of every title, whichever title its token is for.
    own = await player.items(token=player.tokens[SIDE_SCID])
    assert [i["achievementId"] for i in own] == ["b2", "1"]
    assert [
        i["achievementId"] for i in await player.items(token=other_player, xuid=OTHER_XUID)
    ] == []


async def stored_counts(player: Player) -> list[int]:
    async with player.api.db.read() as conn:
        return [
            int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in (activity, progress, title_players)
        ]


def flipped(token: str) -> str:
    body, mac = token.split(".")
    return body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac


async def test_bad_input_is_a_400_that_changes_nothing(player: Player) -> None:
    db = player.api.db
    other_player = await token_for(db, xuid=OTHER_XUID)
    assert (await player.unlock("1", "2", "3")).status_code == 200
    assert (await player.unlock("b1", scid=SIDE_SCID)).status_code == 200
    assert (await player.unlock("4", xuid=OTHER_XUID, token=other_player)).status_code == 200
    assert (await player.unlock("5", xuid=OTHER_XUID, token=other_player)).status_code == 200

    def token_of(response: httpx.Response) -> str:
        assert response.status_code == 200, response.text
        token: str = response.json()["pagingInfo"]["continuationToken"]
        assert token
        return token

    feed_token = token_of(await player.feed(maxItems=1))
    history_token = token_of(await player.history(maxItems=1))
    list_token = token_of(await player.api.achievements(maxItems=1))
    others_token = token_of(await player.feed(xuid=OTHER_XUID, token=other_player, maxItems=1))
    filtered_token = token_of(await player.feed(maxItems=1, titleId=TITLE_ID))
    before_counts = await stored_counts(player)
    before_feed = (await player.feed()).json()
    get = player.api.client.get
    cases: list[tuple[str, Send]] = [
        ("maxItems=0", lambda: player.feed(maxItems=0)),
        ("maxItems=-1", lambda: player.feed(maxItems=-1)),
        ("maxItems=abc", lambda: player.feed(maxItems="abc")),
        ("maxItems=1.5", lambda: player.feed(maxItems="1.5")),
        ("maxItems=1001", lambda: player.feed(maxItems=1001)),
        ("history maxItems=0", lambda: player.history(maxItems=0)),
        ("history maxItems=abc", lambda: player.history(maxItems="abc")),
        ("titleId=abc", lambda: player.feed(titleId="abc")),
        ("titleId=0", lambda: player.feed(titleId=0)),
        ("titleId=2**32", lambda: player.feed(titleId=2**32)),
        ("xuid abc", lambda: player.feed(xuid="abc")),
        ("xuid 0", lambda: player.feed(xuid="0")),
        ("xuid 2**64", lambda: player.history(xuid=str(2**64))),
        ("xuid -1", lambda: player.history(xuid="-1")),
        ("garbage token", lambda: player.feed(continuationToken="not-a-token")),
        ("three-part token", lambda: player.feed(continuationToken="a.b.c")),
        ("flipped token", lambda: player.feed(continuationToken=flipped(feed_token))),
        ("truncated token", lambda: player.feed(continuationToken=feed_token[:-3])),
        ("huge token", lambda: player.feed(continuationToken="A" * 9000)),
        ("another player's walk", lambda: player.feed(continuationToken=others_token)),
        ("another filter's walk", lambda: player.feed(continuationToken=filtered_token)),
        (
            "a filtered walk unfiltered",
            lambda: player.feed(titleId=SIDE_ID, continuationToken=filtered_token),
        ),
        ("a history walk", lambda: player.feed(continuationToken=history_token)),
        ("a feed walk", lambda: player.history(continuationToken=feed_token)),
        ("a list walk", lambda: player.feed(continuationToken=list_token)),
        ("a list walk (history)", lambda: player.history(continuationToken=list_token)),
        ("flipped history token", lambda: player.history(continuationToken=flipped(history_token))),
        (
            "contract version 3",
            lambda: get(
                f"/users/xuid({XUID})/activity",
                headers=player.api.auth() | {"x-xbl-contract-version": "3"},
            ),
        ),
    ]
    failures = []
    for what, send in cases:
        try:
            assert_error(await send(), 400, what)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)
    assert await stored_counts(player) == before_counts
    assert (await player.feed()).json() == before_feed
    # The tokens themselves still work where they belong.
    rest = await player.feed(maxItems=10, continuationToken=feed_token)
    assert [i["achievementId"] for i in check_activity_page(rest.json())["activityItems"]] == [
        "3",
        "2",
        "1",
    ]


def test_the_docs_show_the_shapes(tmp_path: Path) -> None:
    schema = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}")).openapi()
    for path, model in [
        ("/users/xuid({xuid})/activity", "ActivityPage"),
        ("/users/xuid({xuid})/history/titles", "TitleHistoryPage"),
    ]:
        responses = schema["paths"][path]["get"]["responses"]
        content = responses["200"]["content"]["application/json"]["schema"]
        assert content == {"$ref": f"#/components/schemas/{model}"}
        assert {"400", "401", "403", "429"} <= set(responses)
    components = schema["components"]["schemas"]
    assert "rarityPercentage" in components["ActivityItem"]["properties"]
    assert "maxGamerscore" in components["TitleHistoryEntry"]["properties"]
