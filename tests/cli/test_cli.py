"""The `laurels` command line (spec/config.md), run as the real command on both
databases: exit status, a one-line reason on stderr, and what it leaves behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from sqlalchemy import func, select

from laurels.auth.service import SigningKey, TokenVerifier, load_signing_keys
from laurels.db import Database
from laurels.progress.service import read_progress
from laurels.schema import is_current
from laurels.settings import Settings
from laurels.titles import service as titles
from laurels.titles.tables import title_drafts
from laurels.titles.tables import titles as titles_table
from tests.helpers import (
    SCID,
    TITLE_ID,
    XUID,
    eventually_sync,
    free_socket,
    laurels,
    laurels_many,
    pg_database,
    png_bytes,
    publish_config,
    running_service,
    title_config,
    token_for,
)
from tests.helpers.wire import check_achievements_page

T = TypeVar("T")


def with_db(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = Database(database_url, pool_size=1)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


def failed_with_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def draft_state(db: Database) -> tuple[int, list[tuple[Any, ...]]]:
    async with db.read() as conn:
        count = (await conn.execute(select(func.count()).select_from(titles_table))).scalar_one()
        drafts = [tuple(r) for r in await conn.execute(select(title_drafts))]
    return int(count), drafts


def write_yaml(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def broken_file(tmp_path: Path) -> Path:
    """A file whose only error is `achievements[1].gamerscore`."""
    broken = title_config(3)
    broken["achievements"][1]["gamerscore"] = 300
    return write_yaml(tmp_path / "broken.yaml", broken)


@pytest.fixture(
    params=[
        d for d in os.environ.get("LAURELS_TEST_DATABASES", "sqlite,postgresql").split(",") if d
    ]
)
def new_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any schema (a SQLite file that does not exist yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new' / 'dir' / 'laurels.db'}"
        return
    request.getfixturevalue("pg_template")  # skips or fails as for every other test
    with pg_database() as url:
        yield url


def test_first_commands_create_the_schema(new_database_url: str, tmp_path: Path) -> None:
    # Three commands at once on a database without a schema, named by --db (which wins
    # over LAURELS_DATABASE_URL): each upgrades it (they must not trip over each other)
    # and fails for its own reason, in one line.
    decoy = tmp_path / "decoy"
    db = ["--db", new_database_url]
    imported, exported, published = laurels_many(
        f"sqlite:///{decoy / 'unused.db'}",
        ["config", "import", str(broken_file(tmp_path)), *db],
        ["config", "export", "--title-id", "999", *db],
        ["config", "publish", "--title-id", "999", "--sandbox", "DEV.1", *db],
    )
    assert failed_with_one_line(imported).endswith("achievements[1].gamerscore: must be 0..200")
    assert "999" in failed_with_one_line(exported)
    assert "999" in failed_with_one_line(published)
    assert with_db(new_database_url, is_current)
    assert with_db(new_database_url, draft_state) == (0, [])
    assert not decoy.exists()


def test_an_unusable_database_is_a_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    with free_socket() as closed:  # bound, never listening: connection refused
        port = closed.getsockname()[1]
        urls = [
            f"postgresql://postgres@127.0.0.1:{port}/laurels",
            "postgresql://postgres@127.0.0.1:5432/laurels_no_such_database",
            f"sqlite:///{tmp_path / 'a-file' / 'laurels.db'}",
        ]
        with ThreadPoolExecutor(len(urls)) as pool:
            results = list(
                pool.map(lambda url: laurels(url, "config", "export", "--title-id", "1"), urls)
            )
    for result in results:
        reason = failed_with_one_line(result)
        assert reason.startswith("laurels: ")
        assert "Traceback" not in reason


def test_config_import_export_publish(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "one.png").write_bytes(png_bytes(1))
    good = title_config(3)
    good["achievements"][0]["icon"] = "icons/one.png"

    # A good file, given as JSON, with an icon path relative to the file.
    good_file = tmp_path / "game.json"
    good_file.write_text(json.dumps(good), encoding="utf-8")
    imported = laurels(database_url, "config", "import", str(good_file))
    assert imported.returncode == 0, imported.stderr
    assert str(TITLE_ID) in imported.stdout
    assert SCID in imported.stdout
    assert imported.stderr == ""
    before = with_db(database_url, draft_state)
    assert before[0] == 1

    # Then, at once: export it, import a file with several errors (every path named,
    # nothing changed), and publish.
    several = title_config(3)
    several["achievements"][0]["name"] = "n" * 45
    several["achievements"][2]["gamerscore"] = -1
    publish = ["config", "publish", "--title-id", str(TITLE_ID), "--sandbox", "DEV.1"]
    exported, worse, first = laurels_many(
        database_url,
        ["config", "export", "--title-id", str(TITLE_ID)],
        ["config", "import", str(write_yaml(tmp_path / "several.yaml", several))],
        publish,
    )
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert titles.draft_document(titles.parse_config(document)) == with_db(
        database_url, _load_draft
    )
    assert document["achievements"][0]["icon"].startswith("media:")

    assert worse.returncode != 0
    assert worse.stdout == ""
    assert "achievements[0].name: must be at most 44 characters" in worse.stderr
    assert "achievements[2].gamerscore: must be 0..200" in worse.stderr
    assert with_db(database_url, draft_state) == before

    assert first.returncode == 0, first.stderr
    assert re.search(r"\bversion 1\b", first.stdout)
    assert "unchanged" not in first.stdout
    again = laurels(database_url, *publish)
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert re.search(r"\bversion 1\b", again.stdout)


async def _load_draft(db: Database) -> dict[str, Any]:
    async with db.read() as conn:
        return await titles.load_draft(conn, title_id=TITLE_ID)


def test_tokens_from_the_command_line(database_url: str) -> None:
    token = ["token", "--title-id", str(TITLE_ID)]
    # The first command creates the signing key; the others run at once.
    player = laurels(database_url, *token, "--xuid", XUID, "--sandbox", "DEV.1")
    assert player.returncode == 0, player.stderr
    assert player.stdout.endswith("\n")
    assert len(player.stdout.splitlines()) == 1
    assert player.stderr == ""
    server, bad_sandbox, neither, bad_xuid = laurels_many(
        database_url,
        [*token, "--server", "--sandbox", "DEV.2", "--ttl", "120"],
        [*token, "--xuid", XUID, "--sandbox", "PROD"],
        [*token, "--sandbox", "DEV.1"],
        [*token, "--xuid", "gamer", "--server", "--sandbox", "DEV.1"],
    )
    assert server.returncode == 0, server.stderr
    assert len(server.stdout.splitlines()) == 1
    assert "PROD" in failed_with_one_line(bad_sandbox)
    reason = failed_with_one_line(neither)
    assert "--xuid" in reason
    assert "--server" in reason
    assert "gamer" in failed_with_one_line(bad_xuid)

    verifier = TokenVerifier(with_db(database_url, _signing_keys))
    principal = verifier.verify(player.stdout.strip())
    assert (principal.kind, principal.xuid, principal.title_id, principal.sandbox) == (
        "player",
        XUID,
        TITLE_ID,
        "DEV.1",
    )
    server_principal = verifier.verify(server.stdout.strip())
    assert (server_principal.kind, server_principal.xuid, server_principal.sandbox) == (
        "server",
        None,
        "DEV.2",
    )
    assert time.time() + 60 < server_principal.expires_at <= time.time() + 121


def documented_token_commands() -> list[list[str]]:
    """The `laurels token` lines of the README, and the synopsis of spec/config.md
    (`laurels token --xuid X --title-id T --sandbox S [--server] [--ttl SECONDS]`)
    with every option given."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    lines = [line.split("#")[0].split() for line in readme.splitlines()]
    found = [words[1:] for words in lines if words[:2] == ["laurels", "token"]]
    synopsis = ["token", "--xuid", XUID, "--title-id", str(TITLE_ID), "--sandbox", "DEV.1"]
    return [*found, [*synopsis, "--server", "--ttl", "600"]]


def test_the_documented_token_commands_work(database_url: str) -> None:
    commands = documented_token_commands()
    assert any("--server" in c and "--xuid" not in c for c in commands)  # the README's form
    first = laurels(database_url, "token", "--server", "--title-id", "1", "--sandbox", "DEV.1")
    assert first.returncode == 0, first.stderr
    results = laurels_many(database_url, *commands)  # the key exists: no race to make it
    verifier = TokenVerifier(with_db(database_url, _signing_keys))
    for command, result in zip(commands, results, strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert result.stderr == ""
        principal = verifier.verify(result.stdout.strip())
        expected = ("server", None) if "--server" in command else ("player", XUID)
        assert (principal.kind, principal.xuid) == expected, command
        assert (principal.title_id, principal.sandbox) == (TITLE_ID, "DEV.1")


async def _signing_keys(db: Database) -> list[SigningKey]:
    async with db.read() as conn:
        return await load_signing_keys(conn)


def update_json(*items: tuple[str, int]) -> dict[str, Any]:
    return {
        "action": "progressUpdate",
        "serviceConfigId": SCID,
        "titleId": TITLE_ID,
        "userId": XUID,
        "achievements": [{"id": i, "percentComplete": p} for i, p in items],
    }


async def test_player_reset(database_url: str, db: Database, settings: Settings) -> None:
    await publish_config(db, title_config(3), "DEV.1")
    await publish_config(db, title_config(3), "RETAIL")
    minted = await asyncio.to_thread(
        laurels,
        database_url,
        *("token", "--xuid", XUID, "--title-id", str(TITLE_ID), "--sandbox", "DEV.1"),
    )
    assert minted.returncode == 0, minted.stderr
    tokens = {"DEV.1": minted.stdout.strip(), "RETAIL": await token_for(db, sandbox="RETAIL")}
    async with running_service(settings) as url, httpx.AsyncClient(base_url=url) as client:
        for sandbox, token in tokens.items():  # the command's token works on the service
            update = await client.post(
                f"/users/xuid({XUID})/achievements/{SCID}/update",
                json=update_json(("1", 100), ("2", 40)),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert update.status_code == 200, (sandbox, update.text)

        reset = ["player", "reset", "--xuid", XUID, "--title-id", str(TITLE_ID), "--sandbox"]
        refused, done = await asyncio.to_thread(
            laurels_many, database_url, [*reset, "RETAIL"], [*reset, "DEV.1"]
        )
        reason = failed_with_one_line(refused)
        assert "only possible in development sandboxes" in reason
        assert done.returncode == 0, done.stderr
        assert len(await progress_of(db, "RETAIL")) == 2
        assert await progress_of(db, "DEV.1") == {}

        page = await client.get(
            f"/users/xuid({XUID})/achievements",
            params={"titleId": TITLE_ID},
            headers={"Authorization": f"Bearer {tokens['DEV.1']}"},
        )
        assert page.status_code == 200
        assert {
            a["progressState"] for a in check_achievements_page(page.json())["achievements"]
        } == {"NotStarted"}


async def progress_of(db: Database, sandbox: str) -> dict[Any, Any]:
    async with db.read() as conn:
        return dict(await read_progress(conn, sandbox=sandbox, xuid=XUID, scids=[SCID]))


# --- laurels serve --demo ----------------------------------------------------------


@contextlib.contextmanager
def serving_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAURELS_")}
    env["LAURELS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.db'}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "laurels", "serve", "--demo", "--port", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        yield process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def curl_request(line: str) -> httpx.Request:
    """The request a printed `curl` command line would make."""
    words = shlex.split(line)
    assert words[0] == "curl", line
    method, url, headers, body = "GET", "", {}, None
    position = 1
    while position < len(words):
        word = words[position]
        if word in ("-X", "-H", "-d"):
            value = words[position + 1]
            position += 2
            if word == "-X":
                method = value
            elif word == "-H":
                name, _, content = value.partition(":")
                headers[name.strip()] = content.strip()
            else:
                body, method = value, method if method != "GET" else "POST"
            continue
        if word.startswith("http"):
            url = word
        else:
            assert word in ("-i", "-s"), f"unexpected curl option {word!r}"
        position += 1
    return httpx.Request(method, url, headers=headers, content=body)


def answers(client: httpx.Client, url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return client.get(url + "/healthz").status_code == 200
    return False


def test_serve_demo_prints_a_working_curl_command(tmp_path: Path) -> None:
    with serving_demo(tmp_path) as (process, log):

        def four_curl_lines() -> bool:
            lines = log.read_text(errors="replace").splitlines()
            return sum(line.strip().startswith("curl ") for line in lines) >= 4

        eventually_sync(lambda: four_curl_lines() or process.poll() is not None, 30, what="curl")
        output = log.read_text(errors="replace")
        assert process.poll() is None, output
        lines = output.splitlines()
        match = re.search(r"http://127\.0\.0\.1:\d+", output)
        assert match, output
        url = match.group(0)
        [token_line] = [line for line in lines if line.startswith("Player token:")]
        token = token_line.removeprefix("Player token:").strip()
        update_line, list_line, event_line, stats_line = [
            line.strip() for line in lines if line.strip().startswith("curl ")
        ]

        update = curl_request(update_line)
        listing = curl_request(list_line)
        assert str(update.url).startswith(url + "/users/xuid(")
        assert update.method == "POST"
        assert update.headers["authorization"] == f"Bearer {token}"

        with httpx.Client(timeout=10) as client:
            # The banner is printed just before the server listens.
            eventually_sync(
                lambda: answers(client, url) or process.poll() is not None, 30, what="/healthz"
            )
            assert process.poll() is None, log.read_text(errors="replace")
            first = client.send(update)
            assert first.status_code == 200, first.text
            assert first.content == b""
            second = client.send(curl_request(update_line))
            assert second.status_code == 304
            shown = client.send(listing)
            assert shown.status_code == 200
            by_id = {a["id"]: a for a in check_achievements_page(shown.json())["achievements"]}
            assert by_id["1"]["progressState"] == "Achieved"
            # The event-based title: the printed event unlocks First Blood, once.
            sent = client.send(curl_request(event_line))
            assert sent.status_code == 200, sent.text
            assert sent.json() == {"accepted": 1, "duplicates": 0}
            assert client.send(curl_request(event_line)).json() == {"accepted": 0, "duplicates": 1}
            stats = client.send(curl_request(stats_line))
            assert stats.json() == {
                "stats": [
                    {"name": "EnemiesDefeated", "value": 1},
                    {"name": "BowDefeats", "value": 1},
                ]
            }
            arena = curl_request(stats_line)
            arena_list = client.get(
                url + f"/users/xuid({XUID})/achievements",
                params={"titleId": 5678},
                headers={"Authorization": arena.headers["authorization"]},
            )
            by_id = {a["id"]: a for a in check_achievements_page(arena_list.json())["achievements"]}
            assert by_id["1"]["progressState"] == "Achieved"
            assert by_id["5"]["name"] == "Secret achievement"
            # The portal, with the printed demo admin.
            portal = re.search(
                r"Partner portal: (\S+) \(sign in as (\S+), password (\S+)\)", output
            )
            assert portal, output
            assert portal.group(1) == url + "/portal/"
            login = client.get(url + "/portal/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
            assert token
            signed_in = client.post(
                url + "/portal/login",
                data={
                    "csrf_token": token.group(1),
                    "email": portal.group(2),
                    "password": portal.group(3),
                },
            )
            assert signed_in.status_code == 303, signed_in.text
            assert "Laurels Demo Arena" in client.get(url + "/portal/").text
            # The player page, through the printed link (once).
            page_link = re.search(r"Player page \(works once, for 10 minutes\): (\S+)", output)
            assert page_link, output
            with httpx.Client(timeout=10) as player:
                entered = player.get(page_link.group(1))
                assert entered.status_code == 303, entered.text
                titles = player.get(url + entered.headers["location"])
                assert "Laurels Demo Quest" in titles.text

        # SIGTERM stops it (uvicorn shuts down, then re-raises the signal).
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(15) in (0, -signal.SIGTERM), log.read_text(errors="replace")
