"""`laurels.sqlasync`: the service runs without `sqlalchemy.orm` in memory, and the
package `sqlalchemy.ext.asyncio` stays whole for anyone who asks for more of it.
Each case runs in a fresh interpreter: what was imported is the point."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.processes import fresh_python

SRC = Path(__file__).resolve().parent.parent / "src" / "laurels"


def test_a_started_service_never_imports_the_orm(tmp_path: Path) -> None:
    out = fresh_python(
        f"""
        import asyncio, sys
        from laurels.app import create_app
        from laurels.runtime import start_runtime
        from laurels.settings import Settings

        settings = Settings.from_env(database_url="sqlite:///{tmp_path}/a.db")
        create_app(settings)

        async def main():
            runtime = await start_runtime(settings)
            await runtime.close()

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("sqlalchemy.orm")))
        """,
        tmp_path,
    )
    assert out.strip() == "[]"


def test_the_package_completes_itself_on_demand(tmp_path: Path) -> None:
    out = fresh_python(
        """
        import sys
        import laurels.sqlasync as ours
        import sqlalchemy.ext.asyncio as package
        assert "sqlalchemy.orm" not in sys.modules
        assert package.AsyncConnection is ours.AsyncConnection
        assert package.create_async_engine is ours.create_async_engine
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
        from sqlalchemy.ext.asyncio.session import AsyncSession as direct
        assert AsyncSession is direct
        assert "sqlalchemy.orm" in sys.modules
        assert package.AsyncConnection is ours.AsyncConnection
        try:
            package.NoSuchName
        except AttributeError:
            print("complete")
        """,
        tmp_path,
    )
    assert out.strip() == "complete"


def test_a_submodule_import_does_not_complete_the_package(tmp_path: Path) -> None:
    out = fresh_python(
        """
        import sys
        import laurels.sqlasync
        from sqlalchemy.ext.asyncio import result
        import sqlalchemy.ext.asyncio.exc
        print(result.AsyncResult.__name__, "sqlalchemy.orm" in sys.modules)
        """,
        tmp_path,
    )
    assert out.split() == ["AsyncResult", "False"]


def test_an_already_imported_package_is_used_as_it_is(tmp_path: Path) -> None:
    out = fresh_python(
        """
        import sqlalchemy.ext.asyncio as package
        import laurels.sqlasync as ours
        print(ours.AsyncEngine is package.AsyncEngine, hasattr(package, "AsyncSession"))
        """,
        tmp_path,
    )
    assert out.split() == ["True", "True"]


def test_only_sqlasync_imports_the_package() -> None:
    """Every other module goes through `laurels.sqlasync`, so none can import the
    package the usual way first."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name == "sqlasync.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(
                n == "sqlalchemy.ext.asyncio" or n.startswith("sqlalchemy.ext.asyncio.")
                for n in names
            ):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []
