"""A running service with the three titles of tests.helpers.activity published to
DEV.1, for the feed and history tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers import SCID, TITLE_ID, Api, publish_config, running_service, token_for
from tests.helpers.activity import (
    GAME,
    OTHER,
    OTHER_ID,
    OTHER_SCID,
    SIDE,
    SIDE_ID,
    SIDE_SCID,
    Player,
)


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
