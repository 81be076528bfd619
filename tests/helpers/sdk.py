"""The service database the SDK's integration tests deliver to: a migrated SQLite
file with title 1234 published to DEV.1 (the SDK's behaviour does not depend on the
service's database; both databases are covered by the service's own tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from laurels.activity.tables import activity
from laurels.db import Database
from laurels.progress.service import read_progress
from laurels.sdk import OfflineQueue
from laurels.settings import Settings
from tests.helpers import SCID, TITLE_ID, XUID, token_for

SANDBOX = "DEV.1"


@dataclass
class ServiceDb:
    """A migrated SQLite service database with title 1234 (achievements 1..5)."""

    path: Path
    db: Database

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def settings(self) -> Settings:
        return Settings(database_url=self.url, catalog_refresh_seconds=0.2)

    async def token(self, xuid: str = XUID) -> str:
        return await token_for(self.db, xuid=xuid)

    async def percent(self, achievement_id: str, xuid: str = XUID) -> int | None:
        async with self.db.read() as conn:
            rows = await read_progress(conn, sandbox=SANDBOX, xuid=xuid, scids=[SCID])
        row = rows.get((SCID, achievement_id))
        return None if row is None else row.percent

    async def unlocks(self, achievement_id: str, xuid: str = XUID) -> int:
        query = (
            select(func.count())
            .select_from(activity)
            .where(activity.c.xuid == xuid, activity.c.achievement_id == achievement_id)
        )
        async with self.db.read() as conn:
            return int((await conn.execute(query)).scalar_one())


def save_credentials(queue: OfflineQueue, service_url: str, tokens: dict[str, str]) -> None:
    """Store each player's delivery credential the way the client does. A player
    token stands in for it: the update route accepts one."""
    for player, token in tokens.items():
        queue.save_credential(
            service=service_url,
            sandbox=SANDBOX,
            title_id=TITLE_ID,
            xuid=player,
            credential=token,
            expires_at="",
        )


async def read_stats(url: str, token: str, xuid: str = XUID) -> dict[str, int]:
    """The player's stats of title 1234 through `GET /users/xuid({xuid})/stats`."""
    async with httpx.AsyncClient() as http:
        response = await http.get(
            f"{url}/users/xuid({xuid})/stats",
            params={"titleId": TITLE_ID},
            headers={"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"},
        )
    assert response.status_code == 200, response.text
    return {item["name"]: item["value"] for item in response.json()["stats"]}
