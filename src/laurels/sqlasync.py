"""SQLAlchemy's asyncio engine without its ORM: every module of Laurels imports
`AsyncConnection`, `AsyncEngine` and `create_async_engine` from here.

The package `sqlalchemy.ext.asyncio` imports, beside the engine, the asyncio ORM
session and with it all of `sqlalchemy.orm`: 6 MB resident in every service process
(measured: 90 -> 84 MB idle), and Laurels only speaks SQLAlchemy Core. So when the
package is not imported yet, it is created here without running its `__init__`, and
only its engine module (which needs Core alone) is imported. The package stays whole
for anyone else: the first time it is asked for a name it does not have (say
`AsyncSession`), it runs its own `__init__` and answers as if it had always been
imported the usual way; its submodules import as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

PACKAGE = "sqlalchemy.ext.asyncio"


def _engine_module() -> ModuleType:
    """`sqlalchemy.ext.asyncio.engine`, its package created without `__init__` when
    nothing imported it yet."""
    if PACKAGE not in sys.modules:
        importlib.import_module("sqlalchemy.ext")
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or spec.loader is None:
            raise ImportError(f"no {PACKAGE}", name=PACKAGE)
        package = importlib.util.module_from_spec(spec)
        loader = spec.loader

        def complete(name: str) -> object:  # PEP 562: only names the module lacks
            if importlib.util.find_spec(f"{PACKAGE}.{name}") is not None:
                return importlib.import_module(f"{PACKAGE}.{name}")
            del package.__getattr__
            loader.exec_module(package)  # the real __init__, in the same module
            return getattr(package, name)

        package.__getattr__ = complete  # type: ignore[method-assign]
        sys.modules[PACKAGE] = package
    return importlib.import_module(f"{PACKAGE}.engine")


if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
else:
    _engine = _engine_module()
    AsyncConnection = _engine.AsyncConnection
    AsyncEngine = _engine.AsyncEngine
    create_async_engine = _engine.create_async_engine

__all__ = ["AsyncConnection", "AsyncEngine", "create_async_engine"]
