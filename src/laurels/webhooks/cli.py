"""`laurels webhooks`: the endpoints that receive a title's unlocks, and their
deliveries. A command that fails exits with status 1 and a one-line reason, having
changed nothing."""

from __future__ import annotations

import json

import click

from laurels.commands import db_option, run, when
from laurels.db import Database
from laurels.webhooks.views import Delivery, Endpoint
from laurels.wire.times import now_micros


@click.group()
def webhooks() -> None:
    """Send every unlock of a title to a studio's URL (signed, retried for a day)."""


@webhooks.command("add")
@click.option("--title-id", type=int, required=True)
@click.option("--sandbox", required=True, help="RETAIL or DEV.<name>")
@click.option("--description", default="", help="a note for people (at most 200 characters)")
@click.argument("url")
@db_option
def webhooks_add(
    title_id: int, sandbox: str, description: str, url: str, db_url: str | None
) -> None:
    """Send the title's unlocks in SANDBOX to URL. Prints the endpoint's signing
    secret, this once. In RETAIL the URL must not point at a private address."""
    from laurels.webhooks.service import add_endpoint

    added = run(
        lambda db: db.run_write(
            lambda conn: add_endpoint(
                conn,
                title_id=title_id,
                sandbox=sandbox,
                url=url,
                description=description,
                now_us=now_micros(),
            )
        ),
        db_url,
    )
    click.echo(f"added webhook endpoint {added.endpoint.id} for title {title_id} in {sandbox}")
    click.echo(f"secret: {added.secret}")
    click.echo("Keep this secret now: it is not shown again. Receivers check the")
    click.echo("Laurels-Signature header of each request with it.")


@webhooks.command("list")
@click.option("--title-id", type=int, default=None)
@click.option("--sandbox", default=None)
@db_option
def webhooks_list(title_id: int | None, sandbox: str | None, db_url: str | None) -> None:
    """Print one line per endpoint: id, title, sandbox, status, created, URL."""
    from laurels.webhooks.service import list_endpoints

    async def work(db: Database) -> list[Endpoint]:
        async with db.read() as conn:
            return await list_endpoints(conn, title_id=title_id, sandbox=sandbox)

    found = run(work, db_url)
    if not found:
        click.echo("no webhook endpoints")
        return
    click.echo(f"{'ID':<32}  {'TITLE':<10}  {'SANDBOX':<16}  {'STATUS':<7}  {'CREATED':<28}  URL")
    for e in found:
        status = "active" if e.active else "removed"
        note = f"  ({e.description})" if e.description else ""
        click.echo(
            f"{e.id:<32}  {e.title_id:<10}  {e.sandbox:<16}  {status:<7}  "
            f"{when(e.created_at_us):<28}  {e.url}{note}"
        )


@webhooks.command("remove")
@click.argument("endpoint_id")
@db_option
def webhooks_remove(endpoint_id: str, db_url: str | None) -> None:
    """Stop sending to an endpoint; its pending deliveries are marked failed."""
    from laurels.webhooks.service import remove_endpoint

    removal = run(
        lambda db: db.run_write(
            lambda conn: remove_endpoint(conn, endpoint_id=endpoint_id, now_us=now_micros())
        ),
        db_url,
    )
    if removal.already_removed:
        click.echo(f"webhook endpoint {endpoint_id} was already removed")
        return
    click.echo(
        f"removed webhook endpoint {endpoint_id} "
        f"({removal.cancelled} pending deliver{'y' if removal.cancelled == 1 else 'ies'} "
        "cancelled)"
    )


@webhooks.command("deliveries")
@click.option("--endpoint", "endpoint_id", default=None, help="only this endpoint's")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@db_option
def webhooks_deliveries(
    endpoint_id: str | None, status: str | None, limit: int, db_url: str | None
) -> None:
    """Print the newest deliveries, each with its attempts: when, how long, and the
    status code or the error."""
    from laurels.webhooks.service import list_deliveries

    async def work(db: Database) -> list[Delivery]:
        async with db.read() as conn:
            return await list_deliveries(conn, endpoint_id=endpoint_id, status=status, limit=limit)

    found = run(work, db_url)
    if not found:
        click.echo("no webhook deliveries")
    for delivery in found:
        click.echo("\n".join(delivery_lines(delivery)))


def delivery_lines(d: Delivery) -> list[str]:
    """A delivery as `laurels webhooks deliveries` prints it: a head line, the unlock
    it carries, one line per attempt and how it ended (or when it is tried next)."""
    data = json.loads(d.payload).get("data", {})
    lines = [
        f"delivery {d.id}  {d.status}  endpoint {d.endpoint_id}  "
        f"{d.attempts} attempt{'' if d.attempts == 1 else 's'}  created {when(d.created_at_us)}",
        f"  unlock of achievement {data.get('achievementId')} by {data.get('xuid')} "
        f"(title {data.get('titleId')}, {data.get('sandbox')}), key {d.idempotency_key}",
    ]
    if d.log:
        lines.append(f"  {'#':>3}  {'TIME':<28}  {'DURATION':>9}  RESULT")
    for a in d.log:
        result = f"HTTP {a.status_code}" if a.status_code is not None else f"error: {a.error}"
        lines.append(
            f"  {a.attempt:>3}  {when(a.started_at_us):<28}  {a.duration_ms:>6} ms  {result}"
        )
    if d.status == "pending":
        lines.append(f"  next attempt {when(d.next_attempt_at_us)}")
    elif d.status == "delivered":
        lines.append(f"  delivered {when(d.delivered_at_us)}")
    else:
        lines.append(f"  gave up: {d.last_error}")
    return lines
