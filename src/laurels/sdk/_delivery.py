"""Delivery of the offline queue: claim due entries, send each player's entries as
one V2 request, and settle them by the answer; the same for queued events, each
player's in order, up to `MAX_EVENTS` a request (`POST /events`). Used by the
game's worker thread and by `laurels sync` alike; one call of `run_once` is one
pass, so tests drive it with an injected clock and no sleeping."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

import httpx

from laurels.sdk._eventlog import QueuedEvent
from laurels.sdk._policy import (
    Outcome,
    classify,
    classify_events,
    describe,
    faulty_event,
    iso_time,
    issued_credential,
    next_attempt,
    retry_after,
    service_error,
)
from laurels.sdk._queue import Entry, OfflineQueue
from laurels.sdk._token import Refusal, Source, Speaks, on_refusal, read_claims, speaks_for

log = logging.getLogger("laurels.sdk")
MAX_ITEMS = 32  # the service's cap per request
CONCURRENCY = 8
OFFLINE_SECONDS = 5.0
TokenSource = Callable[[], Awaitable[str | None]]
Means = tuple[Source, str]
Item = Entry | QueuedEvent  # what a player has queued: an update or an event
Batch = list[Entry] | list[QueuedEvent]
NOTHING_DELIVERS = (
    "no delivery credential or valid session token for player {xuid}: the player's next"
    " game session of this title will deliver it"
)


@dataclass(frozen=True)
class Identity:
    """The title a game's client speaks for, and how it gets a session token. The
    token is sent for the players it says it speaks for (`_token.speaks_for`), and
    tried last for others when it says nothing readable: a player's token sent for
    another player is a 403, which must not make that player's update a dead letter."""

    service: str
    sandbox: str
    title_id: int
    token: TokenSource

    def owns(self, entry: Item) -> bool:
        own = (self.service, self.sandbox, self.title_id)
        return own == (entry.service, entry.sandbox, entry.title_id)


@dataclass(frozen=True)
class PassResult:
    """What one delivery pass came to."""

    settled: int = 0  # delivered or dead-lettered
    # Claimed entries that nothing on this device can send now (no delivery
    # credential, no valid session token): kept queued, `status().blocked`.
    stranded: tuple[Item, ...] = ()

    def __add__(self, other: PassResult) -> PassResult:
        return PassResult(self.settled + other.settled, self.stranded + other.stranded)


def credential_url(service: str, xuid: str) -> str:
    return f"{service}/users/xuid({xuid})/delivery-credentials"


def _player(entry: Item) -> dict[str, Any]:
    """The keyword arguments naming an entry's player in the queue's credential calls."""
    return {
        "service": entry.service,
        "sandbox": entry.sandbox,
        "title_id": entry.title_id,
        "xuid": entry.xuid,
    }


@dataclass(frozen=True)
class Exchanged:
    """What asking for a delivery credential came to."""

    credential: str | None  # the credential now stored, if one was issued
    answered: bool  # the service answered (issued or refused); False: ask again later


def _from_service(response: httpx.Response) -> bool:
    """Whether an error answer carries the service's JSON error body."""
    return service_error(response.content) is not None


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


def events_url(service: str, xuid: str) -> str:
    return f"{service}/users/xuid({xuid})/events"


def events_body(events: list[QueuedEvent]) -> dict[str, Any]:
    """One player's events of one title, in the order written."""
    return {"titleId": events[0].title_id, "events": [e.wire() for e in events]}


def _are_events(batch: Batch) -> TypeGuard[list[QueuedEvent]]:
    return isinstance(batch[0], QueuedEvent)


def _event_batches(events: list[QueuedEvent]) -> list[list[QueuedEvent]]:
    """Each player's claimed events (a prefix of at most MAX_EVENTS), in order."""
    grouped: dict[tuple[str, str, int, str], list[QueuedEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: e.seq):
        grouped[event.batch_key].append(event)
    return list(grouped.values())


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
    return describe(response.status_code, response.content, response.reason_phrase)


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
        self._exchanging: dict[tuple[str, str, int, str], asyncio.Lock] = {}
        self._refused: set[tuple[str, str]] = set()  # (token, xuid) the service refused
        self._offered: set[tuple[str, str]] = set()  # (token, xuid) asked for a credential
        # Set by a good answer of the service (an update it took): entries waiting
        # out a backoff need not wait any longer. The worker reads and clears it.
        self.good_answer_seen = False
        self._passing = asyncio.Lock()

    async def run_once(self, *, force: bool = False, limit: int = 512) -> int:
        """Deliver what is due now; returns how many entries were settled
        (delivered or dead-lettered). Network problems keep entries queued."""
        return (await self.run_pass(force=force, limit=limit)).settled

    async def run_pass(self, *, force: bool = False, limit: int = 512) -> PassResult:
        """`run_once`, saying also which entries nothing on this device could send.
        Raises QueueError when the queue cannot be read (nothing is lost: entries
        claimed stay leased until their lease expires). One pass at a time: a
        flush and the background worker of one process take turns, so a process
        holds at most `limit` leases and leaves the rest to others on the file."""
        async with self._passing:
            await asyncio.to_thread(self.queue.erase_expired_tokens)
            entries = await asyncio.to_thread(self.queue.claim, limit=limit, force=force)
            events = await asyncio.to_thread(self.queue.claim_events, limit=limit, force=force)
            return await self._deliver_claimed(entries, events)

    async def _deliver_claimed(
        self, entries: list[Entry], events: list[QueuedEvent] | None = None
    ) -> PassResult:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(batch: Batch) -> PassResult:
            async with gate:
                return await self._deliver_safely(batch)

        batches: list[Batch] = [*_batches(entries), *_event_batches(events or [])]
        results = await asyncio.gather(*(one(batch) for batch in batches))
        return sum(results, PassResult())

    async def _deliver_safely(self, batch: Batch) -> PassResult:
        """`_deliver`, where a failure (a queue error, a token provider's surprise)
        keeps this batch queued and lets the other batches of the pass go on."""
        try:
            return await self._deliver(batch)
        except Exception as exc:
            log.exception("delivery of %d queued item(s) failed", len(batch))
            try:
                await self._retry(batch, None, f"{type(exc).__name__}: {exc}")
            except Exception:  # the lease expires: the batch is tried again then
                log.exception("the failed batch could not be released")
            return PassResult()

    def good_answer(self) -> None:
        """The service took an update: it is reachable, so what waits out a
        backoff may go at once."""
        self.offline_until = 0.0
        self.good_answer_seen = True

    async def _means(self, entry: Item) -> Means | None:
        """What to send a player's entries with, best first: the game's session token
        if it says it is that player's; the player's delivery credential (a stored
        session token is exchanged for one first); the stored session token itself
        (if the exchange failed); the game's token if it may be that player's. None
        when nothing on this device can deliver them. A player with no credential
        gets one from the game's token when it is theirs (once per token), so a
        credential that was refused and erased is replaced by the next session."""
        live, verdict = await self._live_token(entry)
        credential = await self._stored_credential(entry)
        if verdict is Speaks.YES:
            claims = read_claims(live)
            mine = claims is not None and claims.kind == "player"  # (a server's gets none)
            if mine and credential is None and (live, entry.xuid) not in self._offered:
                self._offered.add((live, entry.xuid))
                await self._exchange(entry, live)
            return Source.SESSION, live
        if credential is not None:
            return Source.CREDENTIAL, credential
        stored = await asyncio.to_thread(self.queue.session_token, **_player(entry))
        if stored is not None:
            return Source.STORED_TOKEN, stored
        if verdict is Speaks.MAYBE and (live, entry.xuid) not in self._refused:
            return Source.TRY, live
        return None

    async def _live_token(self, entry: Item) -> tuple[str, Speaks]:
        """The game's session token and whether it speaks for the entry's player."""
        own = self.identity
        if own is None or not own.owns(entry):
            return "", Speaks.NO
        try:
            token = await own.token()
        except Exception as exc:  # a failing provider means: deliver with the credential
            log.warning("token provider failed: %s", exc)
            token = None
        if not token:
            return "", Speaks.NO
        claims = read_claims(token)
        verdict = speaks_for(
            claims,
            xuid=entry.xuid,
            title_id=entry.title_id,
            sandbox=entry.sandbox,
            now=self.queue.clock(),
        )
        return token, verdict

    async def _stored_credential(self, entry: Item) -> str | None:
        """The player's delivery credential, exchanging the player's stored session
        token for one if there is none yet (one exchange at a time per player)."""
        player = _player(entry)
        key = (entry.service, entry.sandbox, entry.title_id, entry.xuid)
        async with self._exchanging.setdefault(key, asyncio.Lock()):
            credential = await asyncio.to_thread(self.queue.credential, **player)
            if credential is not None:
                return credential
            stored = await asyncio.to_thread(self.queue.session_token, **player)
            return None if stored is None else await self._exchange(entry, stored)

    async def _exchange(self, entry: Item, token: str) -> str | None:
        """`exchange` for an entry's player; the credential stored, or None."""
        return (await self.exchange(_player(entry), token)).credential

    async def exchange(self, player: dict[str, Any], token: str) -> Exchanged:
        """Exchange a session token for the player's (`service`, `sandbox`,
        `title_id`, `xuid`) delivery credential, which is stored while the token is
        erased from the queue file. A refusal by the service (the token expired, or
        is not that player's) erases the token if it is stored. A network error, or
        an answer that is not the service's (`_policy.issued_credential`: a captive
        portal's page, a body without the credential), keeps everything as it was:
        not answered, ask again later. Raises only QueueError, when the credential
        or the erasure cannot be written."""
        xuid = player["xuid"]
        try:
            response = await self.http.post(
                credential_url(player["service"], xuid), json={}, headers=headers(token)
            )
        except httpx.HTTPError as exc:
            log.info("cannot exchange the session token of %s: %s", xuid, exc)
            return Exchanged(None, answered=False)
        issued = issued_credential(response.status_code, response.content)
        if issued is not None:
            await asyncio.to_thread(
                self.queue.save_credential,
                **player,
                credential=issued.credential,
                expires_at=issued.expires_at,
            )
            log.info("session token of %s exchanged for a delivery credential", xuid)
            return Exchanged(issued.credential, answered=True)
        if not _from_service(response):
            log.info("no credential for %s: %s", xuid, _reason(response))
            return Exchanged(None, answered=False)
        if response.status_code in (401, 403):
            await asyncio.to_thread(self.queue.forget_session_token, **player, token=token)
            log.info("session token of %s refused for a credential (erased if stored)", xuid)
        return Exchanged(None, answered=True)

    async def _deliver(self, batch: Batch) -> PassResult:
        """Send one player's batch (of updates or of events) with what `_means`
        chooses; a batch nothing on this device can send stays queued, stranded."""
        first = batch[0]
        means = await self._means(first)
        if means is None:
            await self._retry(batch, None, NOTHING_DELIVERS.format(xuid=first.xuid))
            return PassResult(stranded=tuple(batch))
        if _are_events(batch):
            return PassResult(await self._send_events(batch, means))
        return PassResult(await self._send(batch, means))  # type: ignore[arg-type]

    async def _post(
        self, batch: Batch, url: str, body: dict[str, Any], token: str
    ) -> httpx.Response | None:
        """POST a batch's request; None after a network error (the batch is released
        for another attempt, and the deliverer is offline for a while)."""
        try:
            response = await self.http.post(url, json=body, headers=headers(token))
        except httpx.HTTPError as exc:
            self.went_offline()
            await self._retry(batch, None, f"{type(exc).__name__}: {exc}")
            return None
        self.offline_until = 0.0
        return response

    async def _send(self, batch: list[Entry], means: Means) -> int:
        """Send a batch with what `_means` chose; returns how many were settled."""
        first = batch[0]
        source, token = means
        url = update_url(first.service, first.xuid, first.scid)
        response = await self._post(batch, url, update_body(batch), token)
        if response is None:
            return 0
        if await self._refused_means(batch, source, token, response):
            return 0
        return await self._settle(batch, response)

    async def _refused_means(
        self, batch: Batch, source: Source, token: str, response: httpx.Response
    ) -> bool:
        """Handle a 401/403 that refuses what the batch was sent with rather than the
        update (`_token.on_refusal`); True if the batch stays queued for that."""
        first, status = batch[0], response.status_code
        action = on_refusal(source, status, from_service=_from_service(response))
        if action is Refusal.SETTLE:
            return False
        note = f"the {source.value} was refused"
        if action is Refusal.FORGET_CREDENTIAL:
            await asyncio.to_thread(
                self.queue.forget_credential, **_player(first), credential=token
            )
            note += " and erased: the player's next game session will replace it"
        elif action is Refusal.FORGET_STORED_TOKEN:
            await asyncio.to_thread(self.queue.forget_session_token, **_player(first), token=token)
            note += " and erased"
        elif source is Source.TRY:
            self._refused.add((token, first.xuid))
            note = f"the game's session token does not speak for player {first.xuid}"
        log.info("queued updates of %s kept: %s", first.xuid, note)
        await self._retry(batch, response, f"HTTP {status}: {_reason(response)}; {note}")
        return True

    def went_offline(self) -> None:
        self.offline_until = time.monotonic() + OFFLINE_SECONDS

    @property
    def offline(self) -> bool:
        return time.monotonic() < self.offline_until

    async def _settle(self, batch: list[Entry], response: httpx.Response) -> int:
        outcome = classify(response.status_code, response.content, queued=True)
        if outcome in (Outcome.UPDATED, Outcome.NOT_MODIFIED):
            await asyncio.to_thread(self.queue.delivered, batch)
            self.good_answer()
            return len(batch)
        if outcome is Outcome.RETRY:
            await self._retry(batch, response, f"HTTP {response.status_code}: {_reason(response)}")
            return 0
        if len(batch) > 1:  # find the entry the service refuses; deliver the others
            return sum([(await self._deliver([entry])).settled for entry in batch])
        await asyncio.to_thread(
            self.queue.dead_letter, batch, status=response.status_code, reason=_reason(response)
        )
        log.warning(
            "offline update rejected for good (HTTP %d): %s",
            response.status_code,
            _reason(response),
        )
        return 1

    async def _retry(self, batch: Batch, response: httpx.Response | None, error: str) -> None:
        now = self.queue.clock()
        wait = retry_after(response.headers.get("retry-after"), now) if response else None
        soft, hard = next_attempt(max(e.attempts for e in batch), wait, now, self.rng)
        if _are_events(batch):
            await asyncio.to_thread(
                self.queue.retry_events, batch, soft=soft, hard=hard, error=error
            )
        else:
            await asyncio.to_thread(
                self.queue.retry,
                batch,  # type: ignore[arg-type]
                soft=soft,
                hard=hard,
                error=error,
            )

    # -- events ----------------------------------------------------------------------

    async def _send_events(self, batch: list[QueuedEvent], means: Means) -> int:
        """Send one player's events (in order) with what `_means` chose; returns how
        many were settled. The events keep their ids, so a batch sent again after a
        lost answer is counted once by the service."""
        first = batch[0]
        source, token = means
        url = events_url(first.service, first.xuid)
        response = await self._post(batch, url, events_body(batch), token)
        if response is None:
            return 0
        blamed = faulty_event(response.status_code, response.content)
        if blamed is None and await self._refused_means(batch, source, token, response):
            return 0
        return await self._settle_events(batch, response, means, blamed)

    async def _settle_events(
        self, batch: list[QueuedEvent], response: httpx.Response, means: Means, blamed: int | None
    ) -> int:
        """A 200 settles the batch. A refusal naming one event (`events[i]`)
        dead-letters that one and sends the rest again (the service applied none of
        them); any other refusal (409, 404, a 400 of the whole request)
        dead-letters the batch."""
        status = response.status_code
        outcome = classify_events(status, response.content, queued=True)
        if outcome is Outcome.UPDATED:
            await asyncio.to_thread(self.queue.events_delivered, batch)
            self.good_answer()
            return len(batch)
        if outcome is Outcome.RETRY:
            await self._retry(batch, response, f"HTTP {status}: {_reason(response)}")
            return 0
        refused = [batch[blamed]] if blamed is not None and blamed < len(batch) else batch
        reason = _reason(response)
        await asyncio.to_thread(
            self.queue.dead_letter_events, refused, status=status, reason=reason
        )
        log.warning(
            "%d queued event(s) rejected for good (HTTP %d): %s", len(refused), status, reason
        )
        rest = [event for event in batch if event not in refused]
        return len(refused) + (await self._send_events(rest, means) if rest else 0)
