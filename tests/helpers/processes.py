"""Child processes of the tests: fresh interpreters, and ones killed on purpose."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def fresh_python(code: str, cwd: Path) -> str:
    """What `code` (dedented) prints when run in a fresh interpreter in `cwd`: for what
    a process imports, which the test's own process has long since done."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def first_line_then_kill(
    script: str, args: list[str], gate: asyncio.Semaphore, deadline: float
) -> str:
    """Run `python -c script *args` (while `gate` lets it), SIGKILL it the moment it
    prints its first line, and return that line stripped; fails (AssertionError, with
    its stderr) when it prints nothing, or TimeoutError at `deadline` (monotonic)."""
    async with gate:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert child.stdout is not None
        try:
            line = await asyncio.wait_for(child.stdout.readline(), deadline - time.monotonic())
        finally:
            if child.returncode is None:
                child.kill()
            _, errors = await child.communicate()
        assert line.strip(), errors.decode()
        return line.decode().strip()
