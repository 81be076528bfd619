"""Three titles for the feed and history tests: GAME (1234, achievements 1..80, a
localized one with an icon, a secret one), SIDE (4321, three achievements of 5, 15
and 30) and OTHER (5555, two achievements); a `Player` speaking for one XUID."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.helpers.service import SCID, TITLE_ID, XUID, Api, achievement, title_config, update_body
from tests.helpers.wire import check_activity_page

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
        found: list[dict[str, Any]] = check_activity_page(response.json())["activityItems"]
        return found
