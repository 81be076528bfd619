"""The `laurels` command line (spec/config.md), assembled from each feature's
commands. Every command but `sync` opens the database named by --db or
LAURELS_DATABASE_URL, creating or upgrading its schema first. Exit status 0 on
success; otherwise non-zero with a one-line reason on stderr (laurels.commands).

    config import|export|publish    laurels.titles.cli
    token, credentials list|revoke  laurels.auth.cli
    player reset                    laurels.progress.cli
    player link                     laurels.player.cli
    webhooks add|list|remove|...    laurels.webhooks.cli
    users add|list|set-role|...     laurels.portal.cli
    serve                           laurels.serve
    sync                            laurels.sdk._cli (needs only the SDK)
"""

from __future__ import annotations

import sys

import click

from laurels.auth.cli import credentials, token
from laurels.player.cli import link
from laurels.portal.cli import users
from laurels.progress.cli import player
from laurels.serve import serve
from laurels.titles.cli import config
from laurels.webhooks.cli import webhooks


@click.group()
@click.version_option(package_name="laurels")
def main() -> None:
    """Laurels: self-hostable achievements for games."""


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sync(args: tuple[str, ...]) -> None:
    """Deliver queued offline updates, even when no game runs (laurels sync --help)."""
    from laurels.sdk._cli import main as agent

    sys.exit(agent(list(args)))


main.add_command(config)
main.add_command(token)
main.add_command(credentials)
player.add_command(link)
main.add_command(player)
main.add_command(webhooks)
main.add_command(users)
main.add_command(serve)
main.add_command(sync)
