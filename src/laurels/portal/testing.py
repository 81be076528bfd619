"""Development sandboxes' test accounts: add, list, remove; reset test players; the
live counts of a sandbox's updates and unlocks. Each function takes a connection and
raises LaurelsErrors; none does HTTP.

A test account is an xuid with a name in one development sandbox (DEV.*): the players
a studio tests with, mints player tokens for and resets. Resets are refused outside
the development sandboxes exactly as the API refuses them (`refuse_retail`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from laurels.errors import BadRequest, Conflict, NotFound
from laurels.portal.tables import test_accounts
from laurels.progress import service as progress
from laurels.sqlasync import AsyncConnection
from laurels.titles import is_sandbox_name
from laurels.wire.identifiers import parse_xuid

MAX_NAME = 100
HOUR_US = 3600 * 1_000_000


class AccountRefused(BadRequest):
    """A test account's field is not valid; `field` names it (sandbox, xuid, name)."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field


@dataclass(frozen=True, slots=True)
class TestAccount:
    sandbox: str
    xuid: str
    name: str
    created_at_us: int


@dataclass(frozen=True, slots=True)
class LiveCounts:
    """A sandbox's progress rows changed and achievements unlocked, in the last hour
    and in all (what its players' stored data says now: a reset takes its players'
    rows away)."""

    sandbox: str
    updates_last_hour: int
    updates_total: int
    unlocks_last_hour: int
    unlocks_total: int
    at_us: int

    def as_json(self) -> dict[str, object]:
        return {
            "sandbox": self.sandbox,
            "updates": {"lastHour": self.updates_last_hour, "total": self.updates_total},
            "unlocks": {"lastHour": self.unlocks_last_hour, "total": self.unlocks_total},
            "at": self.at_us,
        }


def check_development(sandbox: str) -> str:
    """The sandbox, when it is a development one (DEV.<name>); AccountRefused else."""
    if not is_sandbox_name(sandbox):
        raise AccountRefused("sandbox", f"{sandbox[:70]!r} is not a sandbox name (DEV.<name>)")
    if not sandbox.startswith("DEV."):
        raise AccountRefused(
            "sandbox", f"test accounts live in development sandboxes (DEV.*), not in {sandbox}"
        )
    return sandbox


def check_name(name: str) -> str:
    """The name without surrounding spaces; AccountRefused when empty, too long or
    holding control characters."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise AccountRefused("name", f"a name is 1..{MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise AccountRefused("name", "a name has no control characters")
    return name


def check_xuid(xuid: str) -> str:
    """The xuid's canonical form; AccountRefused when it is not a XUID."""
    try:
        return parse_xuid(xuid.strip())
    except ValueError as exc:
        raise AccountRefused("xuid", str(exc)) from None


def _account(row: object) -> TestAccount:
    return TestAccount(row.sandbox, row.xuid, row.name, row.created_at)  # type: ignore[attr-defined]


async def add_account(
    conn: AsyncConnection, *, sandbox: str, xuid: str, name: str, now_us: int
) -> TestAccount:
    """Store a test account. Raises AccountRefused for a bad field and Conflict when
    the sandbox has that xuid already (nothing stored then)."""
    account = TestAccount(check_development(sandbox), check_xuid(xuid), check_name(name), now_us)
    try:  # the primary key decides: two adds at once cannot both pass
        await conn.execute(
            test_accounts.insert().values(
                sandbox=account.sandbox, xuid=account.xuid, name=account.name, created_at=now_us
            )
        )
    except IntegrityError:
        raise Conflict(f"{account.sandbox} already has a test account {account.xuid}") from None
    return account


async def list_accounts(conn: AsyncConnection, *, sandbox: str | None = None) -> list[TestAccount]:
    """Test accounts (of one sandbox with `sandbox`), by sandbox then name."""
    query = select(test_accounts).order_by(
        test_accounts.c.sandbox, test_accounts.c.name, test_accounts.c.xuid
    )
    if sandbox is not None:
        query = query.where(test_accounts.c.sandbox == sandbox)
    return [_account(row) for row in await conn.execute(query)]


async def get_account(conn: AsyncConnection, *, sandbox: str, xuid: str) -> TestAccount:
    """One test account; NotFound when the sandbox has no such test account."""
    row = (
        await conn.execute(
            select(test_accounts).where(
                test_accounts.c.sandbox == sandbox, test_accounts.c.xuid == xuid
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"{sandbox} has no test account {xuid}")
    return _account(row)


async def remove_account(conn: AsyncConnection, *, sandbox: str, xuid: str) -> TestAccount:
    """Forget a test account (its progress stays: reset it first to erase that).
    Raises NotFound when there is no such test account."""
    account = await get_account(conn, sandbox=sandbox, xuid=xuid)
    await conn.execute(
        delete(test_accounts).where(
            test_accounts.c.sandbox == sandbox, test_accounts.c.xuid == xuid
        )
    )
    return account


async def reset_players(
    conn: AsyncConnection, *, sandbox: str, scid: str, xuids: Sequence[str]
) -> int:
    """Erase the players' data for the title (progress, stats, feed; out of the rarity
    counters) in the caller's transaction; returns how many progress rows were erased.
    Raises ResetRefused outside the development sandboxes, as the API does, before
    anything is erased."""
    progress.refuse_retail(sandbox)
    erased = 0
    for xuid in xuids:
        erased += await progress.reset_player(conn, sandbox=sandbox, xuid=xuid, scid=scid)
    return erased


async def live_counts(conn: AsyncConnection, *, sandbox: str, now_us: int) -> LiveCounts:
    """The sandbox's stored progress rows (an achievement's progress of a player)
    changed in the last hour and in all, and of those the unlocked ones. A row's
    `updated_at` is when the service recorded its last change; an unlocked row never
    changes again, so its `updated_at` is when the unlock was recorded."""
    counts = await progress.count_progress(conn, sandbox=sandbox, since_us=now_us - HOUR_US)
    return LiveCounts(
        sandbox=sandbox,
        updates_last_hour=counts.recent_updates,
        updates_total=counts.updates,
        unlocks_last_hour=counts.recent_unlocks,
        unlocks_total=counts.unlocks,
        at_us=now_us,
    )
