"""The `laurels` command. `laurels sync` needs only the SDK; every other command
is the service's (the `server` extra)."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["sync"]:
        from laurels.sdk._cli import main as sync

        sys.exit(sync(sys.argv[2:]))
    try:
        from laurels.cli import main as server
    except ImportError as exc:
        print(
            f"laurels: {exc.name} is missing; install the service with "
            "pip install 'laurels[server]' (the SDK alone has only 'laurels sync')",
            file=sys.stderr,
        )
        sys.exit(1)
    server()
