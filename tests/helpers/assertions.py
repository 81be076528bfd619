"""The one check of an error answer: status, the JSON error body of spec/wire.md."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers.wire import check_error_body

# The code wire.md gives each status family that has one.
ERROR_CODES = {400: 4000, 401: 4500, 403: 4500}


def assert_error(
    response: httpx.Response, status: int, what: str = "", *, contains: str = ""
) -> dict[str, Any]:
    """Fails unless `response` has `status` and a JSON error body
    `{"code", "source": "achievements", "description"}` (the published ErrorBody, a
    non-empty description containing `contains`, the code of its status); `what`
    names the case in the failure. Returns the body."""
    assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json"), what
    body = check_error_body(response.json(), what)
    assert body["description"], what
    assert contains in body["description"], f"{what}: {body}"
    if status in ERROR_CODES:
        assert body["code"] == ERROR_CODES[status], f"{what}: {body}"
    return body
