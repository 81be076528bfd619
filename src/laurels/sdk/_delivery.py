"""Delivery of the offline queue: claim due entries, send each player's entries as
one V2 request, and settle them by the answer. Used by the game's worker thread and
by `laurels sync` alike; one call of `run_once` is one pass, so tests drive it with
an injected clock and no sleeping."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from laurels.sdk._policy import Outcome, classify, iso_time, next_attempt, retry_after
from laurels.sdk._queue import Entry, OfflineQueue

log = logging.getLogger("laurels.sdk")
MAX_ITEMS = 32  # the service's cap per request
CONCURRENCY = 8
OFFLINE_SECONDS = 5.0
TokenSource = Callable[[], Awaitable[str | None]]


@dataclass(frozen=True)
class Identity:
    """The title a game's client speaks for, and how it gets a session token.
    `players` are the players the token speaks for (those the game updated with
    it; None: any): a player's token sent for another player is a 403, which would
    make that player's queued update a dead letter."""

    service: str
    sandbox: str
    title_id: int
    token: TokenSource
    players: set[str] | None = None

    def speaks_for(self, entry: Entry) -> bool:
        own = (self.service, self.sandbox, self.title_id)
        return own == (entry.service, entry.sandbox, entry.title_id) and (
            self.players is None or entry.xuid in self.players
        )


def update_url(service: str, xuid: str, scid: str) -> str:
    return f"{service}/users/xuid({xuid})/achievements/{scid}/update"


def update_body(entries: list[Entry]) -> dict[str, Any]:
    first = entries[0]
    return {
        "action": "progressUpdate",
        "serviceConfigId": first.scid,
        "titleId": first.title_id,
        "userId": first.xuid,
        "achievements": [
            {
                "id": e.achievement_id,
                "percentComplete": e.percent,
                "timeAchieved": iso_time(e.time_achieved),
            }
            for e in entries
        ],
    }


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "x-xbl-contract-version": "2"}


def _batches(entries: list[Entry]) -> list[list[Entry]]:
    grouped: dict[tuple[str, str, int, str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        grouped[entry.batch_key].append(entry)
    return [
        group[i : i + MAX_ITEMS]
        for group in grouped.values()
        for i in range(0, len(group), MAX_ITEMS)
    ]


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("description", response.reason_phrase))
    except ValueError:
        return response.reason_phrase or f"HTTP {response.status_code}"


class Deliverer:
    def __init__(
        self,
        queue: OfflineQueue,
        http: httpx.AsyncClient,
        *,
        identity: Identity | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.queue = queue
        self.http = http
        self.identity = identity
        self.rng = rng or random.Random()
        # After a network error, updates go straight to the queue for a while
        # instead of each waiting on a connection attempt; any answer clears it.
        self.offline_until = 0.0

    async def run_once(self, *, force: bool = False, limit: int = 512) -> int:
        """Deliver what is due now; returns how many entries were settled
        (delivered or dead-lettered). Network problems keep entries queued."""
        entries = await asyncio.to_thread(self.queue.claim, limit=limit, force=force)
        if not entries:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(batch: list[Entry]) -> int:
            async with gate:
                return await self._deliver(batch)

        return sum(await asyncio.gather(*(one(batch) for batch in _batches(entries))))

    async def _credential(self, entry: Entry) -> str | None:
        """The game's session token for its own title and players, else the stored delivery
        credential of that player."""
        own = self.identity
        if own is not None and own.speaks_for(entry):
            try:
                token = await own.token()
            except Exception as exc:  # a failing provider means: deliver with the credential
                log.warning("token provider failed: %s", exc)
                token = None
            if token:
                return token
        return await asyncio.to_thread(
            self.queue.credential,
            service=entry.service,
            sandbox=entry.sandbox,
            title_id=entry.title_id,
            xuid=entry.xuid,
        )

    async def _deliver(self, batch: list[Entry]) -> int:
        first = batch[0]
        token = await self._credential(first)
        if token is None:
            await self._retry(batch, None, "no token or delivery credential for this player")
            return 0
        try:
            response = await self.http.post(
                update_url(first.service, first.xuid, first.scid),
                json=update_body(batch),
                headers=headers(token),
            )
        except httpx.HTTPError as exc:
            self.went_offline()
            await self._retry(batch, None, f"{type(exc).__name__}: {exc}")
            return 0
        self.offline_until = 0.0
        return await self._settle(batch, response)

    def went_offline(self) -> None:
        self.offline_until = time.monotonic() + OFFLINE_SECONDS

    @property
    def offline(self) -> bool:
        return time.monotonic() < self.offline_until

    async def _settle(self, batch: list[Entry], response: httpx.Response) -> int:
        outcome = classify(response.status_code, queued=True)
        if outcome in (Outcome.UPDATED, Outcome.NOT_MODIFIED):
            await asyncio.to_thread(self.queue.delivered, batch)
            return len(batch)
        if outcome is Outcome.RETRY:
            await self._retry(batch, response, f"HTTP {response.status_code}: {_reason(response)}")
            return 0
        if len(batch) > 1:  # find the entry the service refuses; deliver the others
            return sum([await self._deliver([entry]) for entry in batch])
        await asyncio.to_thread(
            self.queue.dead_letter, batch, status=response.status_code, reason=_reason(response)
        )
        log.warning(
            "offline update rejected for good (HTTP %d): %s",
            response.status_code,
            _reason(response),
        )
        return 1

    async def _retry(self, batch: list[Entry], response: httpx.Response | None, error: str) -> None:
        now = self.queue.clock()
        wait = retry_after(response.headers.get("retry-after"), now) if response else None
        soft, hard = next_attempt(max(e.attempts for e in batch), wait, now, self.rng)
        await asyncio.to_thread(self.queue.retry, batch, soft=soft, hard=hard, error=error)
