"""A service process imports jinja2 (1.8 MB resident) at its first page, not before:
most processes serve games, not pages. Each case runs in a fresh interpreter: what
was imported is the point."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.processes import fresh_python


def test_jinja2_waits_for_the_first_page(tmp_path: Path) -> None:
    out = fresh_python(
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
