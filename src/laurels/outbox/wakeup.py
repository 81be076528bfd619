"""Hearing that another process committed outbox rows.

On PostgreSQL a trigger (migration 0003) sends a NOTIFY on CHANNEL after every
statement that writes outbox rows, with the writing transaction's id. In this
process the group-commit writer wakes readers directly after each commit; SQLite
has no NOTIFY, so readers there also poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

CHANNEL = "laurels_outbox"
log = logging.getLogger(__name__)
# Told the transaction id a NOTIFY carried, or None when the reader should look
# anyway (just (re)connected: rows may have committed while nobody listened).
Notified = Callable[[int | None], None]


async def listen(async_url: str, notified: Notified) -> None:
    """PostgreSQL: LISTEN on a connection of its own until cancelled, reconnecting
    (with backoff up to 5 s, logging a warning) whenever it is lost or refused."""
    import asyncpg

    dsn = make_url(async_url).set(drivername="postgresql").render_as_string(hide_password=False)
    delay = 0.1
    while True:
        try:
            listener = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot LISTEN for events (%s); polling meanwhile", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        delay = 0.1
        try:
            await _follow(listener, notified)
            log.warning("the LISTEN connection was lost; reconnecting")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(listener.close(timeout=2))


async def _follow(listener: Any, notified: Notified) -> None:
    """Until the connection is lost: pass each NOTIFY's transaction id on."""
    lost = asyncio.Event()
    listener.add_termination_listener(lambda _: lost.set())
    await listener.add_listener(CHANNEL, lambda *args: notified(txid_of(args[-1])))
    notified(None)
    await lost.wait()


def txid_of(payload: str) -> int | None:
    """The transaction id a NOTIFY payload names, or None if it names none."""
    try:
        return int(payload)
    except ValueError:
        return None
