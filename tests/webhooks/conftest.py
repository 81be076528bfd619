"""Webhook tests run with short retries, so a delivery that fails three times is
delivered within a second."""

from __future__ import annotations

import pytest

from laurels.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        catalog_refresh_seconds=0.2,
        webhook_retry_base_seconds=0.05,
        webhook_retry_max_seconds=0.2,
        webhook_give_up_seconds=60,
        webhook_timeout_seconds=2,
        webhook_poll_seconds=0.05,
    )
