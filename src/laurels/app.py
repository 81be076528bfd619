"""The ASGI app factory. Nothing is configured at import time: `create_app(settings)`
builds an app whose lifespan opens the database and starts the writer."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from laurels import __version__
from laurels.activity import routes as activity_routes
from laurels.auth import routes as auth_routes
from laurels.errors import LaurelsError, RateLimited, Unavailable
from laurels.metrics import CONTENT_TYPE
from laurels.openapi import publish
from laurels.progress import routes as progress_routes
from laurels.progress.schemas import UpdateBody, error_responses
from laurels.realtime import routes as realtime_routes
from laurels.runtime import start_runtime
from laurels.settings import Settings
from laurels.titles import routes as title_routes

log = logging.getLogger(__name__)


def error_body(status: int, code: int, description: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "source": "achievements", "description": description}, status_code=status
    )


async def _laurels_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, LaurelsError)
    if isinstance(exc, RateLimited):
        info = exc.info
        return JSONResponse(
            {
                "version": 1,
                "currentRequests": info.current_requests,
                "maxRequests": info.max_requests,
                "periodInSeconds": info.period_seconds,
                "limitType": "rate",
            },
            status_code=429,
            headers={"Retry-After": str(info.retry_after)},
        )
    return error_body(exc.status, exc.code, exc.description)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or "request"
    return error_body(400, 4000, f"{where}: {first['msg']}")


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


def allowed_methods(request: Request) -> str:
    """The methods of the resource a 405 was answered for, for `Allow`: those the
    published schema has for the matched route's path (or that route's own, for a
    route the schema leaves out). A GET of `.../{scid}/update` reads the achievement
    whose id is `update`, another resource, so the update's `Allow` is `POST`."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", None)
    documented = request.app.openapi()["paths"].get(template) or {}
    methods = {name.upper() for name in documented} or set(getattr(route, "methods", None) or ())
    return ", ".join(method for method in HTTP_METHODS if method in methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = error_body(exc.status_code, 4000 if exc.status_code < 500 else 5000, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # RFC 9110: a 405 lists the methods the resource has
        response.headers["Allow"] = allowed_methods(request)
    return response


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unexpected error", exc_info=exc)
    return error_body(500, 5000, "the service failed; the request may not have been applied")


def create_app(settings: Settings | None = None) -> FastAPI:
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

    app = FastAPI(
        title="Laurels",
        version=__version__,
        lifespan=lifespan,
        description="Achievements, compatible with Xbox Live Achievements V2.",
    )
    app.add_exception_handler(LaurelsError, _laurels_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(progress_routes.router)
    app.include_router(title_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(realtime_routes.router)
    app.include_router(activity_routes.router)

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
        body = UpdateBody.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components["UpdateBody"] = body
        app.openapi_schema = publish(schema, settings)
    return app.openapi_schema
