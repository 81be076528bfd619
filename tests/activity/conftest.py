"""A running service with three titles published to DEV.1, for the feed and history
tests: GAME (1234, achievements 1..80, a localized one with an icon, a secret one),
SIDE (4321, three achievements of 5, 15 and 30) and OTHER (5555, two achievements)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.support import (
    SCID,
    TITLE_ID,
    XUID,
    Api,
    achievement,
    publish_config,
    running_service,
    title_config,
    token_for,
    update_body,
)

GAME_COUNT = 80
SIDE_ID, SIDE_SCID = 4321, "7b3f0200-0000-0000-0000-00006a2e3d4c"
OTHER_ID, OTHER_SCID = 5555, "8c4a0300-0000-0000-0000-00007b3f4e5d"
ICON = "https://cdn.example.com/1.png"
SECRET = {
    "name": "Hidden Grove",
    "description": "You found the grove behind the waterfall.",
    "icon": "https://cdn.example.com/grove.png",
}
SECRET_LOCKED = "Do thing secret."
FRENCH = {"name": "Premiers pas", "description": "Vous avez fait la chose 1."}
SECRET_FRENCH = {"name": "Bosquet caché", "description": "Vous avez trouvé le bosquet."}

GAME = title_config(
    0,
    extra=[
        achievement(1, icon=ICON, platforms=["Xbox"], localized={"fr-FR": FRENCH}),
        *(achievement(n) for n in range(2, GAME_COUNT + 1)),
        achievement("secret", secret=True, localized={"fr-FR": SECRET_FRENCH}, **SECRET),
    ],
)
GAME_MAX = 10 * (GAME_COUNT + 1)
SIDE = {
    "title": {"id": SIDE_ID, "name": "Side Quest", "scid": SIDE_SCID},
    "achievements": [
        achievement("b1", gamerscore=5),
        achievement("b2", gamerscore=15),
        achievement("b3", gamerscore=30),
    ],
}
TITLES = {SCID: TITLE_ID, SIDE_SCID: SIDE_ID, OTHER_SCID: OTHER_ID}
OTHER = title_config(2, title_id=OTHER_ID, scid=OTHER_SCID)
OTHER["title"]["name"] = "Other Game"


@dataclass
class Player:
    """A client of the running service speaking for one player (XUID), with a
    player token for each title (by SCID); the default one is GAME's."""

    api: Api
    tokens: dict[str, str]

    async def progress(
        self,
        achievement_id: str,
        percent: int,
        *,
        scid: str = SCID,
        xuid: str = XUID,
        token: str | None = None,
    ) -> httpx.Response:
        token = token or (self.tokens[scid] if xuid == XUID else None)
        body = update_body([(achievement_id, percent)], xuid=xuid, scid=scid, title_id=TITLES[scid])
        return await self.api.update([], scid=scid, xuid=xuid, token=token, body=body)

    async def unlock(
        self, *ids: str, scid: str = SCID, xuid: str = XUID, token: str | None = None
    ) -> httpx.Response:
        token = token or (self.tokens[scid] if xuid == XUID else None)
        body = update_body([(i, 100) for i in ids], xuid=xuid, scid=scid, title_id=TITLES[scid])
        return await self.api.update([], scid=scid, xuid=xuid, token=token, body=body)

    async def feed(
        self,
        xuid: str = XUID,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> httpx.Response:
        return await self.api.client.get(
            f"/users/xuid({xuid})/activity",
            params=params,
            headers=self.api.auth(token) | (headers or {}),
        )

    async def history(
        self, xuid: str = XUID, token: str | None = None, **params: Any
    ) -> httpx.Response:
        return await self.api.client.get(
            f"/users/xuid({xuid})/history/titles", params=params, headers=self.api.auth(token)
        )

    async def items(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.feed(**params)
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["activityItems"]
        return found


@pytest.fixture
async def player(db: Database, settings: Settings) -> AsyncIterator[Player]:
    for config in (GAME, SIDE, OTHER):
        await publish_config(db, config)
    tokens = {
        scid: await token_for(db, title_id=title_id)
        for title_id, scid in [(TITLE_ID, SCID), (SIDE_ID, SIDE_SCID), (OTHER_ID, OTHER_SCID)]
    }
    fast = settings.with_changes(rate_burst_requests=10_000, rate_sustained_requests=10_000)
    async with running_service(fast) as url, httpx.AsyncClient(base_url=url) as client:
        yield Player(Api(client, db, tokens[SCID], url), tokens)
