"""The `laurels` command is assembled in laurels.cli from each feature's commands:
every command is defined in its feature's module, and nothing else is registered."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from laurels.cli import main

HOMES = {
    "config": "laurels.titles.cli",
    "token": "laurels.auth.cli",
    "credentials": "laurels.auth.cli",
    "player": "laurels.progress.cli",
    "webhooks": "laurels.webhooks.cli",
    "users": "laurels.portal.cli",
    "serve": "laurels.serve",
    "sync": "laurels.cli",  # a wrapper of laurels.sdk._cli, which needs no click
}
# A command of a group may live in another feature (`player link`: the player page).
LEAF_HOMES = {"player link": "laurels.player.cli"}


def _leaves(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _leaves(sub, f"{path} {name}")
    else:
        yield path, command


def test_the_assembly_registers_each_feature_command_once() -> None:
    assert sorted(main.commands) == sorted(HOMES)


@pytest.mark.parametrize("name", sorted(HOMES))
def test_each_command_is_defined_in_its_features_module(name: str) -> None:
    leaves = list(_leaves(main.commands[name], name))
    assert leaves
    for path, command in leaves:
        assert command.callback is not None
        home = LEAF_HOMES.get(path, HOMES[name])
        assert (path, command.callback.__module__) == (path, home)
