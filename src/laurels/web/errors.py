"""The JSON error body of every refusal, the handlers that answer with it, and the
OpenAPI declarations of the errors an operation answers.

A LaurelsError is answered with its status and code; a 429 with the rate-limit body
and Retry-After; FastAPI's validation errors with 400 (never 422); an HTTP error of
the framework (404, 405 with Allow) with the same body; anything unexpected with a
500 that says the request may not have been applied (the traceback goes to the log)."""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from laurels.errors import LaurelsError, RateLimited

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: int
    source: Literal["achievements"] = "achievements"
    description: str


class RateLimitBody(BaseModel):
    version: int = 1
    currentRequests: int
    maxRequests: int
    periodInSeconds: int
    limitType: Literal["rate"] = "rate"


ERROR_DESCRIPTIONS = {
    400: "Bad request; the description names the field",
    401: "Missing, malformed, expired or revoked token",
    403: "The token may not do this (another player, title or sandbox)",
    404: "No such title, achievement or image",
    409: "The title's achievements are driven by events",
    413: "The body is too large",
    415: "The body is not sent as application/json",
    503: "The database is unavailable; try again",
}
RATE_LIMITED: dict[str, Any] = {
    "model": RateLimitBody,
    "description": "Rate limited",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the errors an operation answers: the JSON error body,
    or for 429 the rate-limit body with its Retry-After header."""
    return {
        status: RATE_LIMITED
        if status == 429
        else {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def _json(content: dict[str, Any]) -> bytes:
    """`content` as JSONResponse renders it (compact, UTF-8)."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def error_bytes(code: int, description: str) -> bytes:
    """The service's JSON error body (spec/wire.md)."""
    return _json({"code": code, "source": "achievements", "description": description})


def error_body(status: int, code: int, description: str) -> Response:
    """The service's JSON error body (spec/wire.md), with `status`."""
    return Response(error_bytes(code, description), status, media_type="application/json")


UNEXPECTED = error_bytes(5000, "the service failed; the request may not have been applied")


def refusal(exc: LaurelsError) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """How `exc` is answered: its status, its headers besides Content-Type (JSON) and
    its body. A 429 has the rate-limit body and Retry-After."""
    if isinstance(exc, RateLimited):
        info = exc.info
        body = {
            "version": 1,
            "currentRequests": info.current_requests,
            "maxRequests": info.max_requests,
            "periodInSeconds": info.period_seconds,
            "limitType": "rate",
        }
        return 429, [(b"retry-after", str(info.retry_after).encode())], _json(body)
    return exc.status, [], error_bytes(exc.code, exc.description)


async def _laurels_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, LaurelsError)
    status, headers, body = refusal(exc)
    response = Response(body, status, media_type="application/json")
    response.raw_headers.extend(headers)
    return response


async def validation_error(_: Request, exc: Exception) -> Response:
    """FastAPI's validation errors: a 400 naming the first bad parameter."""
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
    return Response(UNEXPECTED, 500, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` with the JSON error body."""
    app.add_exception_handler(LaurelsError, _laurels_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
