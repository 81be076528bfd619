"""A service process imports jinja2 (1.8 MB resident) at its first page, not before:
most processes serve games, not pages. Each case runs in a fresh interpreter: what
was imported is the point."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_jinja2_waits_for_the_first_page(tmp_path: Path) -> None:
    out = _run(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from laurels.app import create_app
        from laurels.settings import Settings

        settings = Settings.from_env(database_url="sqlite:///{tmp_path}/a.db")
        with TestClient(create_app(settings)) as client:
            assert client.get("/healthz").status_code == 200
            print("before a page:", "jinja2" in sys.modules)
            page = client.get("/portal/login")
            assert page.status_code == 200 and "<form" in page.text, page.text[:300]
            print("after a page:", "jinja2" in sys.modules)
        """,
        tmp_path,
    )
    assert out.splitlines() == ["before a page: False", "after a page: True"]
