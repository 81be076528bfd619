from collections.abc import AsyncIterator

import httpx
import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers.events import WEAPONS_TITLE
from tests.helpers.service import (
    OTHER_SCID,
    OTHER_TITLE_ID,
    Api,
    publish_config,
    running_service,
    title_config,
    token_for,
)


@pytest.fixture
async def events_api(db: Database, settings: Settings) -> AsyncIterator[Api]:
    """A running service with the event-based title 1234 (WEAPONS_TITLE) and the
    title-managed title 4321 published to DEV.1; the client holds a player token."""
    await publish_config(db, WEAPONS_TITLE)
    await publish_config(db, title_config(3, title_id=OTHER_TITLE_ID, scid=OTHER_SCID))
    token = await token_for(db)
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        yield Api(client, db, token, url)
