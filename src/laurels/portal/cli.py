"""`laurels users`: the people who sign in to the portal. A password is read from
standard input (asked twice, hidden, on a terminal), never from the command line,
where other users of the machine could see it. A command that fails exits with
status 1 and a one-line reason, having changed nothing. Every change is written to
the audit log, as made by `cli`."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import click

from laurels.commands import db_option, fail, run
from laurels.db import Database
from laurels.portal import accounts
from laurels.portal.accounts import ROLES, User
from laurels.sqlasync import AsyncConnection
from laurels.wire.times import now_micros

role_option = click.option("--role", type=click.Choice(ROLES), required=True)
email_option = click.option("--email", required=True)


def read_password() -> str:
    """The password, from a hidden prompt on a terminal, else stdin's first line."""
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        fail("give the password on standard input (echo ... | laurels users add ...)")
    return line


def _audited(
    change: Callable[[AsyncConnection, int], Awaitable[User]], action: str
) -> Callable[[AsyncConnection], Awaitable[User]]:
    async def work(conn: AsyncConnection) -> User:
        now = now_micros()
        user = await change(conn, now)
        await accounts.record(
            conn,
            actor="cli",
            action=action,
            target=user.email,
            detail=f"role {user.role}",
            now_us=now,
        )
        return user

    return work


@click.group()
def users() -> None:
    """People who sign in to the portal (/portal) and their roles."""


@users.command("add")
@email_option
@role_option
@db_option
def users_add(email: str, role: str, db_url: str | None) -> None:
    """Add a person; the password is read from standard input."""
    password = read_password()

    async def add(conn: AsyncConnection, now: int) -> User:
        return await accounts.add_user(conn, email=email, password=password, role=role, now_us=now)

    user = run(lambda db: db.run_write(_audited(add, "person added")), db_url)
    click.echo(f"{user.email} can sign in as {user.role}")


@users.command("list")
@db_option
def users_list(db_url: str | None) -> None:
    """One line per person: email, role."""

    async def work(db: Database) -> list[User]:
        async with db.read() as conn:
            return await accounts.list_users(conn)

    for user in run(work, db_url):
        click.echo(f"{user.email}\t{user.role}")


@users.command("set-role")
@email_option
@role_option
@db_option
def users_set_role(email: str, role: str, db_url: str | None) -> None:
    """Change a person's role (the last admin stays an admin)."""

    async def change(conn: AsyncConnection, now: int) -> User:
        return await accounts.set_role(conn, email=email, role=role, now_us=now)

    user = run(lambda db: db.run_write(_audited(change, "role changed")), db_url)
    click.echo(f"{user.email} is now {user.role}")


@users.command("set-password")
@email_option
@db_option
def users_set_password(email: str, db_url: str | None) -> None:
    """Give a person a new password (from standard input); signs them out."""
    password = read_password()

    async def change(conn: AsyncConnection, now: int) -> User:
        await accounts.set_password(conn, email=email, password=password, now_us=now)
        return await accounts.get_user(conn, email=email)

    user = run(lambda db: db.run_write(_audited(change, "password set")), db_url)
    click.echo(f"{user.email} has a new password")


@users.command("remove")
@email_option
@db_option
def users_remove(email: str, db_url: str | None) -> None:
    """Remove a person (the last admin stays)."""

    async def remove(conn: AsyncConnection, now: int) -> User:
        return await accounts.remove_user(conn, email=email)

    user = run(lambda db: db.run_write(_audited(remove, "person removed")), db_url)
    click.echo(f"{user.email} can no longer sign in")
