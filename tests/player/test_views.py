"""The pure parts of the page: a progress bar's percent, and the CLI's refusals."""

import pytest

from laurels.player.views import percent_of, shown_time
from tests.helpers.cli import laurels


@pytest.mark.parametrize(
    ("requirements", "percent"),
    [
        ([{"current": "75", "target": "100"}], 75),
        ([{"current": None, "target": "100"}], 0),
        ([{"current": "3", "target": "4"}], 75),
        ([{"current": "9", "target": "4"}], 100),  # a stat may pass its target
        ([{"current": "1", "target": "2"}, {"current": "2", "target": "2"}], 75),
        ([{"current": "x", "target": "2"}], 0),
        ([], 0),
    ],
)
def test_percent_of_requirements(requirements: list[dict[str, str | None]], percent: int) -> None:
    assert percent_of(requirements) == percent


def test_shown_time() -> None:
    assert shown_time("2026-11-29T04:30:12.1234567Z") == "2026-11-29 04:30 UTC"
    assert shown_time(None) == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--xuid", "x", "--title-id", "1234", "--sandbox", "DEV.1"],
        ["--xuid", "2533274790395904", "--title-id", "1234", "--sandbox", "nowhere"],
        ["--xuid", "2533274790395904", "--title-id", "0", "--sandbox", "DEV.1"],
    ],
)
def test_the_link_command_refuses_bad_arguments(database_url: str, args: list[str]) -> None:
    done = laurels(database_url, "player", "link", *args)
    assert done.returncode == 1, done.stdout
    assert done.stdout == ""
    assert done.stderr.strip()
