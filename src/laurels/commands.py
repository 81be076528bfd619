"""What every `laurels` command shares (spec/config.md): the --db option, running a
coroutine against the database, and the one-line reason on stderr with exit status 1
when it fails. Each feature's commands live in its own `cli` module; `laurels.cli`
assembles them."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from laurels.db import Database
from laurels.errors import InvalidConfig, LaurelsError
from laurels.schema import upgrade
from laurels.settings import Settings
from laurels.wire.times import format_time, from_micros

T = TypeVar("T")

db_option = click.option(
    "--db",
    "db_url",
    envvar="LAURELS_DATABASE_URL",
    default=None,
    help="sqlite:///path.db or postgresql://user@host/db",
)


def fail(message: str) -> NoReturn:
    """Print `laurels: message` on stderr and exit with status 1."""
    click.echo(f"laurels: {message}", err=True)
    sys.exit(1)


def run(work: Callable[[Database], Coroutine[Any, Any, T]], db_url: str | None) -> T:
    """Open the database, upgrade its schema, run `work`, and dispose of the
    database. A refused configuration, a LaurelsError or ValueError, and a database
    that cannot be used exit with status 1 and a one-line reason (one line per
    problem when a configuration has several)."""

    async def main() -> T:
        settings = Settings.from_env(database_url=db_url)
        db = Database(settings.database_url, pool_size=2)
        try:
            await upgrade(db)
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except InvalidConfig as exc:
        _fail_config(exc.problems)
    except (LaurelsError, ValueError) as exc:
        fail(str(exc))
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"cannot use the database {_safe(db_url)}: {reason}")


def _fail_config(problems: list[str]) -> NoReturn:
    if len(problems) > 1:
        click.echo(f"laurels: {len(problems)} problems, nothing changed:", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    fail(problems[0])


def _safe(url: str | None) -> str:
    """The URL without its password, for messages."""
    if url is None:
        return "(default)"
    return make_url(url).render_as_string(hide_password=True)


def when(micros: int | None) -> str:
    """A stored time (microseconds since the epoch) as the commands print it."""
    return format_time(from_micros(micros))
