"""`laurels webhooks ...`, run as the real command: exit status, a one-line reason on
stderr, and nothing stored when the input is bad. On SQLite only: the commands are
thin over the service, tested on both databases (and `deliveries` runs on both in
test_delivery)."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from laurels.db import Database
from laurels.webhooks.service import list_endpoints
from laurels.webhooks.views import Endpoint
from tests.helpers import laurels, laurels_many, publish_config, title_config
from tests.helpers.databases import opened


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "laurels.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    async with opened(database_url, pool_size=2) as database:
        yield database


async def _endpoints(db: Database) -> list[Endpoint]:
    async with db.read() as conn:
        return await list_endpoints(conn)


def _many(database_url: str, *commands: list[str]) -> list[tuple[int, str, str]]:
    """Independent commands at once: (exit status, stdout, stderr) of each."""
    return [(r.returncode, r.stdout, r.stderr) for r in laurels_many(database_url, *commands)]


@pytest.mark.slow
async def test_add_list_remove(db: Database, database_url: str) -> None:
    await publish_config(db, title_config(3))
    added = await asyncio.to_thread(
        laurels,
        database_url,
        *("webhooks", "add", "--title-id", "1234", "--sandbox", "DEV.1"),
        *("http://127.0.0.1:9/hook", "--description", "studio backend"),
    )
    assert added.returncode == 0, added.stderr
    endpoint_id = re.search(r"added webhook endpoint ([0-9a-f]{32}) ", added.stdout)
    secret = re.search(r"^secret: (whsec_\S+)$", added.stdout, re.MULTILINE)
    assert endpoint_id
    assert secret
    assert "not shown again" in added.stdout
    listed, other_sandbox, removed, again, unknown = _many(
        database_url,
        ["webhooks", "list", "--title-id", "1234", "--sandbox", "DEV.1"],
        ["webhooks", "list", "--sandbox", "DEV.2"],
        ["webhooks", "remove", endpoint_id[1]],
        ["webhooks", "remove", endpoint_id[1]],
        ["webhooks", "remove", "f" * 32],
    )
    for result in (listed, other_sandbox):
        assert result[0] == 0, result[2]
    assert endpoint_id[1] in listed[1]
    assert "http://127.0.0.1:9/hook  (studio backend)" in listed[1]
    assert secret[1] not in listed[1]
    assert other_sandbox[1] == "no webhook endpoints\n"
    outcomes = sorted([removed, again], key=lambda r: "already" in r[1])
    assert outcomes[0] == (
        0,
        f"removed webhook endpoint {endpoint_id[1]} (0 pending deliveries cancelled)\n",
        "",
    )
    assert outcomes[1] == (0, f"webhook endpoint {endpoint_id[1]} was already removed\n", "")
    assert unknown[0] == 1
    assert unknown[2] == f"laurels: no webhook endpoint '{'f' * 32}'\n"
    [stored] = await _endpoints(db)
    assert stored.id == endpoint_id[1]
    assert not stored.active
    shown = await asyncio.to_thread(laurels, database_url, "webhooks", "list")
    assert " removed " in shown.stdout


@pytest.mark.slow
async def test_bad_input_changes_nothing(db: Database, database_url: str) -> None:
    await publish_config(db, title_config(3), sandbox="RETAIL")
    add = ["webhooks", "add", "--title-id", "1234"]
    results = _many(
        database_url,
        [*add, "--sandbox", "RETAIL", "ftp://example.com/hook"],
        [*add, "--sandbox", "RETAIL", "http://127.0.0.1:8080/hook"],
        [*add, "--sandbox", "RETAIL", "http://localhost/hook"],
        [*add, "--sandbox", "DEV.1", "http://127.0.0.1/hook"],
        [*add, "--sandbox", "retail", "https://93.184.216.34/hook"],
        ["webhooks", "deliveries", "--status", "lost"],
    )
    reasons = [
        "not an http:// or https:// URL",
        "127.0.0.1 is a loopback address; only development sandboxes",
        "localhost resolves to",
        "title 1234 is not published in DEV.1",
        "'retail' is not a sandbox name",
        "'lost' is not one of",
    ]
    for (status, stdout, stderr), reason in zip(results, reasons, strict=True):
        assert status != 0, reason
        assert stdout == "", (reason, stdout)
        assert reason in stderr, (reason, stderr)
    assert all(r[2].startswith("laurels: ") for r in results[:5])
    assert await _endpoints(db) == []
    empty = await asyncio.to_thread(laurels, database_url, "webhooks", "deliveries")
    assert (empty.returncode, empty.stdout) == (0, "no webhook deliveries\n")


@pytest.mark.slow
async def test_the_same_url_twice_is_refused(db: Database, database_url: str) -> None:
    await publish_config(db, title_config(3))
    add = ["webhooks", "add", "--title-id", "1234", "--sandbox", "DEV.1"]
    first = await asyncio.to_thread(laurels, database_url, *add, "http://127.0.0.1:9/hook")
    assert first.returncode == 0, first.stderr
    again = await asyncio.to_thread(laurels, database_url, *add, "HTTP://127.0.0.1:9/hook")
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == (
        "laurels: title 1234 already has an endpoint for http://127.0.0.1:9/hook in DEV.1; "
        "see `laurels webhooks list`, remove it first to replace it\n"
    )
    assert len(await _endpoints(db)) == 1
