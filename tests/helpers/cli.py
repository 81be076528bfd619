"""The one runner of the real `laurels` command in the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


def laurels(
    database_url: str | None, *args: str, timeout: float = 60, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command, with no LAURELS_* variable of the caller's environment and
    this test's database (none for the SDK's commands), `stdin` as its input; raises
    subprocess.TimeoutExpired after `timeout` seconds. In a test whose event loop
    serves the service, run it with `await asyncio.to_thread(laurels, ...)`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAURELS_")}
    if database_url is not None:
        env["LAURELS_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "laurels", *args],
        env=env,
        capture_output=True,
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        text=True,
        timeout=timeout,
        check=False,
    )


def laurels_many(
    database_url: str | None, *commands: list[str]
) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands at once (each spends most of its time importing)."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return list(pool.map(lambda args: laurels(database_url, *args), commands))
