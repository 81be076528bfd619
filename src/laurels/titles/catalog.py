"""The published configuration every process keeps in memory.

Published versions never change, so the hot path reads definitions from here and
never queries them. A background task notices versions published by another process
(every `catalog_refresh_seconds`); a publish in this process is seen at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from laurels.db import Database
from laurels.polling import Poller
from laurels.titles import service
from laurels.titles.schemas import STORED, AchievementConfig, ConfigFile, EventConfig, StatConfig

log = logging.getLogger(__name__)
REQUIREMENT_NAMESPACE = uuid.UUID("5b1d7a52-63a4-4d1c-9a67-0f0b7e1d2a11")


@dataclass(frozen=True)
class PublishedTitle:
    """One immutable published version of a title in a sandbox."""

    sandbox: str
    version: int
    title_id: int
    scid: str
    name: str
    kind: str
    default_locale: str
    achievements: tuple[AchievementConfig, ...]
    index: dict[str, int] = field(repr=False)
    requirement_ids: tuple[str, ...] = field(repr=False)
    # Event-based titles (spec/events.md): events by name, stats by name, the stats
    # each event feeds, the achievements (positions) each stat is required by, and
    # per achievement one stable id per requirement.
    events: dict[str, EventConfig] = field(default_factory=dict, repr=False)
    stats: dict[str, StatConfig] = field(default_factory=dict, repr=False)
    stats_by_event: dict[str, tuple[StatConfig, ...]] = field(default_factory=dict, repr=False)
    required_by: dict[str, tuple[int, ...]] = field(default_factory=dict, repr=False)
    stat_requirement_ids: tuple[tuple[str, ...], ...] = field(default=(), repr=False)
    # Per achievement, its requirements as the rules check them: (stat, the stat's
    # aggregate, target).
    checks: tuple[tuple[tuple[str, str, int], ...], ...] = field(default=(), repr=False)

    @classmethod
    def from_document(cls, sandbox: str, version: int, document: dict[str, Any]) -> PublishedTitle:
        config = ConfigFile.model_validate(document, context=STORED)
        scid = (config.title.scid or "").lower()
        stats = {stat.name: stat for stat in config.stats}
        required_by: dict[str, list[int]] = {}
        for position, achievement in enumerate(config.achievements):
            for requirement in achievement.requirements:
                required_by.setdefault(requirement.stat, []).append(position)
        return cls(
            sandbox=sandbox,
            version=version,
            title_id=config.title.id,
            scid=scid,
            name=config.title.name,
            kind=config.title.kind,
            default_locale=config.title.defaultLocale,
            achievements=tuple(config.achievements),
            index={a.id: i for i, a in enumerate(config.achievements)},
            requirement_ids=tuple(
                str(uuid.uuid5(REQUIREMENT_NAMESPACE, f"{scid}/{a.id}"))
                for a in config.achievements
            ),
            events={event.name: event for event in config.events},
            stats=stats,
            stats_by_event={
                event.name: tuple(s for s in config.stats if s.event == event.name)
                for event in config.events
            },
            required_by={stat: tuple(positions) for stat, positions in required_by.items()},
            stat_requirement_ids=tuple(
                tuple(
                    str(uuid.uuid5(REQUIREMENT_NAMESPACE, f"{scid}/{a.id}/{r.stat}"))
                    for r in a.requirements
                )
                for a in config.achievements
            ),
            checks=tuple(
                tuple((r.stat, _aggregate(stats.get(r.stat)), r.target) for r in a.requirements)
                for a in config.achievements
            ),
        )

    @property
    def event_based(self) -> bool:
        return self.kind == "event-based"

    def achievement(self, achievement_id: str) -> AchievementConfig | None:
        position = self.index.get(achievement_id)
        return None if position is None else self.achievements[position]


def _aggregate(stat: StatConfig | None) -> str:
    """How `stat` aggregates. A stored version is read without the import's checks
    (`STORED`), so a requirement may name a stat the version does not declare: it is
    checked as a sum, and no event of the version can move it."""
    return "sum" if stat is None else stat.aggregate


class Catalog:
    def __init__(self, db: Database, *, refresh_seconds: float = 2.0) -> None:
        self._db = db
        self._refresh_seconds = refresh_seconds
        self._latest: dict[tuple[str, int], PublishedTitle] = {}
        self._by_scid: dict[tuple[str, str], PublishedTitle] = {}
        self._old: OrderedDict[tuple[str, int, int], PublishedTitle] = OrderedDict()
        self._last_refresh = 0.0
        self._lock = asyncio.Lock()
        # A failed refresh keeps serving the versions held.
        self._poller = Poller(
            self.refresh,
            every_seconds=refresh_seconds,
            name="laurels-catalog",
            failure="could not refresh the published configuration",
        )

    async def start(self) -> None:
        await self.refresh()
        self._poller.start()

    async def close(self) -> None:
        """Stop polling; a refresh under way finishes first."""
        await self._poller.close()

    async def refresh(self) -> None:
        """Load every version newer than the one held."""
        async with self._lock:
            async with self._db.read() as conn:
                latest = await service.latest_versions(conn)
                for (sandbox, title_id), version in latest.items():
                    held = self._latest.get((sandbox, title_id))
                    if held is not None and held.version >= version:
                        continue
                    document = await service.load_version(
                        conn, sandbox=sandbox, title_id=title_id, version=version
                    )
                    if document is not None:
                        self._install(PublishedTitle.from_document(sandbox, version, document))
            self._last_refresh = time.monotonic()

    def _install(self, title: PublishedTitle) -> None:
        self._latest[(title.sandbox, title.title_id)] = title
        self._by_scid[(title.sandbox, title.scid)] = title
        self._remember(title)

    def _remember(self, title: PublishedTitle) -> None:
        self._old[(title.sandbox, title.title_id, title.version)] = title
        self._old.move_to_end((title.sandbox, title.title_id, title.version))
        while len(self._old) > 1024:
            self._old.popitem(last=False)

    async def by_scid(self, sandbox: str, scid: str) -> PublishedTitle | None:
        """The latest version of the title with this SCID in the sandbox. On a miss,
        looks in the database at most once a second (a new publish elsewhere)."""
        found = self._by_scid.get((sandbox, scid))
        if found is None and time.monotonic() - self._last_refresh > 1.0:
            await self.refresh()
            found = self._by_scid.get((sandbox, scid))
        return found

    async def by_title(self, sandbox: str, title_id: int) -> PublishedTitle | None:
        found = self._latest.get((sandbox, title_id))
        if found is None and time.monotonic() - self._last_refresh > 1.0:
            await self.refresh()
            found = self._latest.get((sandbox, title_id))
        return found

    async def version(self, sandbox: str, title_id: int, version: int) -> PublishedTitle | None:
        """A given version (continuation tokens pin the one they started with)."""
        found = self._old.get((sandbox, title_id, version))
        if found is not None:
            return found
        async with self._db.read() as conn:
            document = await service.load_version(
                conn, sandbox=sandbox, title_id=title_id, version=version
            )
        if document is None:
            return None
        title = PublishedTitle.from_document(sandbox, version, document)
        self._remember(title)
        return title

    def titles_with_scid(self, scid: str) -> list[PublishedTitle]:
        """Published in any sandbox (to answer 403 rather than 404)."""
        return [title for (_, s), title in self._by_scid.items() if s == scid]
