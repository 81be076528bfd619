from collections.abc import AsyncIterator

import pytest

from laurels.db import Database
from laurels.settings import Settings
from tests.helpers.portal import Portal, portal_client
from tests.helpers.service import running_service


@pytest.fixture
def portal_settings(settings: Settings) -> Settings:
    """Plain HTTP in tests: cookies without Secure, as a browser would keep them."""
    return settings.with_changes(portal_secure_cookies="never")


@pytest.fixture
async def portal(db: Database, portal_settings: Settings) -> AsyncIterator[Portal]:
    """A running service with an admin (admin@studio.test) signed in on
    `portal.client`; `await portal.person(role)` signs in someone else."""
    async with running_service(portal_settings) as url, portal_client(url, db) as signed_in:
        yield signed_in
