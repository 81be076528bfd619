"""Fixtures of the SDK's integration tests."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from laurels.db import Database
from tests.helpers import publish_config, title_config
from tests.helpers.sdk import ServiceDb


@pytest.fixture
async def service(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[ServiceDb]:
    """The module's `SERVICE_ACHIEVEMENTS` (default 5) achievements "1".."N", of a
    title of the module's `SERVICE_KIND` (default "title-managed"; "event-based":
    event `Progress`, sum stat `Count` of its `count`, achievement n at Count >= n)."""
    path = tmp_path / "svc.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}", pool_size=2)
    try:
        count = getattr(request.module, "SERVICE_ACHIEVEMENTS", 5)
        kind = getattr(request.module, "SERVICE_KIND", "title-managed")
        await publish_config(db, title_config(count, kind=kind))
        yield ServiceDb(path, db)
    finally:
        await db.dispose()
