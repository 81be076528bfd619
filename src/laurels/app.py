"""The ASGI app factory. Nothing is configured at import time: `create_app(settings)`
builds an app whose lifespan opens the database and starts the writer."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi

from laurels import __version__
from laurels.activity import routes as activity_routes
from laurels.auth import routes as auth_routes
from laurels.errors import Unavailable
from laurels.metrics import CONTENT_TYPE
from laurels.player import pages as player_pages
from laurels.portal import routes as portal_routes
from laurels.progress import routes as progress_routes
from laurels.progress.schemas import EventsBody, UpdateBody
from laurels.realtime import routes as realtime_routes
from laurels.runtime import start_runtime
from laurels.settings import Settings
from laurels.titles import routes as title_routes
from laurels.web.docs import mount_docs
from laurels.web.errors import error_responses, install_error_handlers
from laurels.web.hot import ServiceApp
from laurels.web.openapi import publish


def create_app(settings: Settings | None = None) -> ServiceApp:
    """The service. Settings default to the environment (`Settings.from_env()`)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = await start_runtime(settings)
        # What start-up made lives as long as the process: keep the collector off it,
        # so full collections under load stay short (a tail-latency cost otherwise).
        gc.collect()
        gc.freeze()
        # Requests in flight survive young collections and are promoted, so with many
        # long-lived objects (a thousand sockets) collections ran often and scanned a
        # lot: with the young generation collected every 50,000 allocations instead of
        # 700, the update path served 1072 instead of 755 req/s with 1,000 sockets
        # connected (916 -> 1023 with none; bench/realtime.py, docs in bench/README.md).
        gc.set_threshold(50_000, 50, 100)
        try:
            yield
        finally:
            await app.state.runtime.close()

    app = ServiceApp(
        title="Laurels",
        version=__version__,
        lifespan=lifespan,
        description="Achievements, compatible with Xbox Live Achievements V2.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    for route in progress_routes.HOT_ROUTES:
        app.add_hot_route(route)
    app.include_router(progress_routes.router)
    app.include_router(title_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(realtime_routes.router)
    app.include_router(activity_routes.router)
    portal_routes.mount(app)
    player_pages.mount(app)
    mount_docs(app)

    @app.get("/healthz", tags=["operations"], responses=error_responses(503))
    async def healthz(request: Request) -> dict[str, str]:
        try:
            await request.app.state.runtime.db.ping()
        except Exception as exc:
            raise Unavailable("the database is unreachable") from exc
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics(request: Request) -> Response:
        """This process's metrics in the Prometheus text format."""
        exposition = request.app.state.runtime.metrics.exposition()
        return Response(exposition, media_type=CONTENT_TYPE)

    app.openapi = lambda: _openapi(app, settings)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        # The hot routes read their bodies themselves (no FastAPI body parameter):
        # their body schemas are published here.
        for model in (UpdateBody, EventsBody):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        app.openapi_schema = publish(schema, settings)
    return app.openapi_schema
