from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from laurels.auth.service import ensure_signing_key
from laurels.player.links import link_url, mint_link
from tests.helpers.service import TITLE_ID, XUID, Api


@dataclass
class Player:
    """The `api` service, and a client of its player pages for one player."""

    api: Api
    client: httpx.AsyncClient
    session: str

    async def link(self, xuid: str = XUID, sandbox: str = "DEV.1", title_id: int = TITLE_ID) -> str:
        key = await ensure_signing_key(self.api.db)
        token = mint_link(key, xuid=xuid, title_id=title_id, sandbox=sandbox)
        return link_url(self.api.base_url, token)

    async def enter(self, url: str) -> httpx.Response:
        return await self.client.get(url.removeprefix(self.api.base_url))

    async def session_for(self, xuid: str = XUID, sandbox: str = "DEV.1") -> str:
        answer = await self.enter(await self.link(xuid, sandbox))
        assert answer.status_code == 303, answer.text
        return answer.cookies["laurels_play"]

    async def get(
        self, path: str, *, session: str | None = None, language: str = "en-US"
    ) -> httpx.Response:
        return await self.client.get(
            path,
            headers={
                "cookie": f"laurels_play={session or self.session}",
                "accept-language": language,
            },
        )


@pytest.fixture
async def player(api: Api) -> AsyncIterator[Player]:
    """The `api` service (title 1234 in DEV.1: 1..5, `secret`, `server`) and a player
    page client holding a session for XUID."""
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        found = Player(api, client, "")
        found.session = await found.session_for()
        yield found
