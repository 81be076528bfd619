"""The baseline for the update path: a bare FastAPI app doing just the one upsert.

`POST /users/xuid({xuid})/achievements/{scid}/update` parses the JSON body and runs
the max-register upsert of its first achievement in one transaction of its own
(INSERT ... ON CONFLICT DO UPDATE ... WHERE excluded.percent > progress.percent
RETURNING), answering 200 when the row changed and 304 when it did not. No token
check, no validation, no rate limit, no group commit, no unlock bookkeeping.

Durability is the service's: SQLite in WAL with synchronous=FULL, a busy timeout and
BEGIN IMMEDIATE, through one write connection per process (writes queue in the
process, as in laurels.db); PostgreSQL with its default fsync/synchronous_commit.
The database is the real schema (created by `laurels.schema.upgrade`).

Run: `BENCH_DATABASE_URL=sqlite:///x.db python -m bench.baseline_app --port 0
--workers 2`; it prints its URL, like `laurels serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import Insert, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from laurels.db import async_url
from laurels.progress.tables import progress

DATABASE_ENV = "BENCH_DATABASE_URL"
SANDBOX = "DEV.1"


def _sqlite_engine(url: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # A fixed pool: with overflow connections, 64 concurrent requests would keep
    # opening and closing PostgreSQL connections (a backend fork each).
    return create_async_engine(url, pool_size=16, max_overflow=0, pool_timeout=60)


@cache
def upsert(dialect: str) -> Insert:
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(progress).values(
        sandbox=bindparam("sandbox"),
        xuid=bindparam("xuid"),
        scid=bindparam("scid"),
        achievement_id=bindparam("achievement_id"),
        percent=bindparam("percent"),
        time_unlocked=bindparam("time_unlocked"),
        updated_at=bindparam("now"),
    )
    statement: Insert = insert.on_conflict_do_update(
        index_elements=["sandbox", "xuid", "scid", "achievement_id"],
        set_={
            "percent": insert.excluded.percent,
            "time_unlocked": insert.excluded.time_unlocked,
            "updated_at": insert.excluded.updated_at,
        },
        where=insert.excluded.percent > progress.c.percent,
    ).returning(progress.c.percent, progress.c.time_unlocked)
    return statement


def create_app() -> FastAPI:
    url = os.environ[DATABASE_ENV]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(url)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/users/xuid({xuid})/achievements/{scid}/update")
    async def update(request: Request, xuid: str, scid: str) -> Response:
        body = json.loads(await request.body())
        item = body["achievements"][0]
        percent = min(100, max(1, int(item["percentComplete"])))
        now = int(time.time() * 1_000_000)
        engine: AsyncEngine = request.app.state.engine
        async with engine.begin() as conn:
            row = (
                await conn.execute(
                    upsert(engine.dialect.name),
                    {
                        "sandbox": SANDBOX,
                        "xuid": xuid,
                        "scid": scid,
                        "achievement_id": str(item["id"]),
                        "percent": percent,
                        "time_unlocked": now if percent >= 100 else None,
                        "now": now,
                    },
                )
            ).first()
        return Response(status_code=200 if row is not None else 304)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if DATABASE_ENV not in os.environ:
        sys.exit(f"set {DATABASE_ENV}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.set_inheritable(True)
    print(f"baseline on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        "bench.baseline_app:create_app",
        factory=True,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    if args.workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
