"""The SDK's public surface (spec/sdk.md): the frozen `__all__`, one exception tree
under `LaurelsError`, and `import laurels.sdk` plus `laurels sync` working with only
`pip install laurels` (no `server` extra)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import laurels.sdk
from laurels.sdk import (
    ClientClosed,
    HandshakeRefused,
    LaurelsError,
    ManagerError,
    NetworkError,
    QueueError,
    ServiceError,
    SubscriptionError,
)

ROOT = Path(__file__).resolve().parents[2]  # the repository (holds pyproject.toml)
# the service's dependencies and modules (not click: httpx imports it for its own
# command line when it happens to be installed)
SERVER_MODULES = (
    "fastapi",
    "sqlalchemy",
    "uvicorn",
    "pydantic",
    "asyncpg",
    "aiosqlite",
    "jwt",
    "laurels.app",
    "laurels.db",
    "laurels.cli",
)

PUBLIC = [
    "Achievement",
    "AchievementsClient",
    "AchievementsManager",
    "AchievementsPage",
    "ClientClosed",
    "E_BOUNDS",
    "E_INVALIDARG",
    "E_NOT_SUPPORTED",
    "E_QUEUE_FULL",
    "E_UNEXPECTED",
    "EventResult",
    "HandshakeRefused",
    "LaurelsError",
    "ManagerError",
    "ManagerEvent",
    "ManagerEventType",
    "MockTransport",
    "NOT_MODIFIED",
    "NetworkError",
    "OfflineQueue",
    "ProgressChange",
    "ProgressEvent",
    "QUEUE_FULL",
    "QueueError",
    "QueueStatus",
    "RealtimeEvent",
    "RealtimeSubscriber",
    "ResyncEvent",
    "ServiceError",
    "SubscriptionError",
    "SyncAchievementsClient",
    "SyncAchievementsPage",
    "UnlockNotification",
    "UpdateResult",
    "default_queue_path",
]


def test_all_is_frozen() -> None:
    assert sorted(laurels.sdk.__all__) == PUBLIC
    assert len(set(laurels.sdk.__all__)) == len(laurels.sdk.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_exists(name: str) -> None:
    assert getattr(laurels.sdk, name) is not None


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from laurels.sdk import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == PUBLIC


@pytest.mark.parametrize(
    "error",
    [
        ClientClosed,
        QueueError,
        ServiceError,
        NetworkError,
        HandshakeRefused,
        SubscriptionError,
        ManagerError,
    ],
)
def test_exceptions_form_one_tree(error: type[Exception]) -> None:
    assert issubclass(error, LaurelsError)
    assert issubclass(LaurelsError, Exception)


def test_every_exception_the_sdk_defines_is_a_laurels_error() -> None:
    found: list[type[BaseException]] = []
    for info in pkgutil.iter_modules(laurels.sdk.__path__, "laurels.sdk."):
        if info.name.endswith(("._cli", "._agent")):
            continue  # command line: defines no exceptions, and imports signal handlers only
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("laurels.sdk"):
                found.append(value)
                assert issubclass(value, LaurelsError), value
    assert {ClientClosed, QueueError, ServiceError, NetworkError} <= set(found)
    for name in PUBLIC:  # and every public exception is in the tree
        value = getattr(laurels.sdk, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert issubclass(value, LaurelsError), name


def test_service_error_carries_status_hresult_and_description() -> None:
    error = ServiceError(404, 0x80190194, "no such achievement")
    assert (error.status, error.hresult, error.description) == (
        404,
        0x80190194,
        "no such achievement",
    )
    assert "0x80190194" in str(error)
    assert "404" in str(error)


def test_importing_the_sdk_imports_no_server_module() -> None:
    """In this (full) environment too: `import laurels.sdk` pulls in no server
    dependency even though they are installed."""
    check = (
        "import sys, laurels.sdk; "
        f"loaded = [m for m in {SERVER_MODULES!r} if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_sdk_alone_installs_imports_and_syncs(tmp_path: Path) -> None:
    """`pip install <repo>` without the server extra into a fresh venv: the SDK
    imports without fastapi or sqlalchemy, and `laurels sync --status` works."""
    env_dir = tmp_path / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(env_dir)], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    check = (
        "import sys, laurels.sdk; "
        "assert 'fastapi' not in sys.modules and 'sqlalchemy' not in sys.modules; "
        "import importlib.util as u; "
        "assert u.find_spec('fastapi') is None and u.find_spec('sqlalchemy') is None"
    )
    imported = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, timeout=300
    )
    assert imported.returncode == 0, imported.stderr

    status = subprocess.run(
        [str(env_dir / "bin" / "laurels"), "sync", "--status", "--queue", str(tmp_path / "q.db")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert status.returncode == 0, status.stderr
    assert "0 pending, 0 dead letter(s)" in status.stdout
