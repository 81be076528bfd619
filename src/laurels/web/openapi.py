"""The published OpenAPI document, made to say what the service does.

FastAPI's generator describes a typical FastAPI app: it declares a 422 on every
operation with parameters (this service answers bad input with 400 and the JSON
error body instead, app.py) and knows nothing of the bearer token or the contract
version header that `web.auth.authorize` reads. `publish` corrects that in
the generated document; the routes declare their own statuses and bounds.
"""

from __future__ import annotations

from typing import Any

from laurels.settings import Settings

BEARER = "bearer"
CONTRACT_VERSION: dict[str, Any] = {
    "name": "x-xbl-contract-version",
    "in": "header",
    "required": False,
    "description": "Xbox Live contract version; absent means 2, anything else is a 400",
    "schema": {"type": "string", "enum": ["2"]},
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
# `laurels serve` refuses a request head over LAURELS_MAX_HEADER_BYTES before routing.
HEAD_TOO_LARGE: dict[str, Any] = {
    "description": "The request head is too large (LAURELS_MAX_HEADER_BYTES)",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}


def operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation object of the document."""
    return [
        operation
        for item in schema.get("paths", {}).values()
        for method, operation in item.items()
        if method in METHODS
    ]


def _authorized(operation: dict[str, Any]) -> None:
    """An operation that answers 401 takes a token (`Bearer`, or Xbox's `XBL3.0
    x=<hash>;<token>`) and the contract version header."""
    operation["security"] = [{BEARER: []}]
    parameters = operation.setdefault("parameters", [])
    if all(p.get("name") != CONTRACT_VERSION["name"] for p in parameters):
        parameters.append(dict(CONTRACT_VERSION))


def publish(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """`schema` (FastAPI's generated document) corrected in place and returned: no
    422s, the 431 of an oversized request head, the bearer scheme and the contract
    version on authorized operations, and the update body's item cap from `settings`."""
    for operation in operations(schema):
        operation.get("responses", {}).pop("422", None)
        operation.setdefault("responses", {})["431"] = HEAD_TOO_LARGE
        if "401" in operation.get("responses", {}):
            _authorized(operation)
    components = schema.setdefault("components", {})
    for name in FASTAPI_VALIDATION:
        components.get("schemas", {}).pop(name, None)
    components.setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A player, game-server or delivery token; `XBL3.0 x=<hash>;<token>` "
        "is accepted too",
    }
    body = components.get("schemas", {}).get("UpdateBody")
    if body is not None:
        body["properties"]["achievements"]["maxItems"] = settings.max_achievements_per_update
    return schema
