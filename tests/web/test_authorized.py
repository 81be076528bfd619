"""Every route that takes a token goes through the one `Authorized` dependency
(web.auth): the same refusals in the same order on each: 401 (no token) before 400
(contract version, path XUID) before the route's own checks."""

from __future__ import annotations

import pytest

from tests.helpers import OTHER_XUID, SCID, TITLE_ID, Api, assert_error

XUID_PATH = "/users/xuid({xuid})"
ROUTES = [
    ("GET", f"{XUID_PATH}/achievements?titleId={TITLE_ID}"),
    ("GET", f"{XUID_PATH}/achievements/{SCID}/1"),
    ("DELETE", f"{XUID_PATH}/achievements/{SCID}"),
    ("POST", f"{XUID_PATH}/achievements/{SCID}/update"),
    ("GET", f"{XUID_PATH}/activity"),
    ("GET", f"{XUID_PATH}/history/titles"),
    ("POST", f"{XUID_PATH}/delivery-credentials"),
]
# (token?, contract version, path xuid) -> status, words of the description
CASES = [
    (False, "2", "1", 401, "Authorization"),
    (False, "3", "x", 401, "Authorization"),
    (True, "3", "x", 400, "x-xbl-contract-version"),
    (True, "2", "x", 400, "not a XUID"),
    (True, "2", "18446744073709551616", 400, "not a XUID"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_the_same_refusals_in_the_same_order_on_every_route(
    api: Api, method: str, path: str
) -> None:
    for with_token, version, xuid, status, words in CASES:
        headers = {"x-xbl-contract-version": version}
        if with_token:
            headers["Authorization"] = f"Bearer {api.token}"
        response = await api.client.request(method, path.format(xuid=xuid), headers=headers)
        assert_error(response, status, f"{method} {path} {xuid} {version}", contains=words)


async def test_a_refused_token_comes_before_the_routes_own_parameters(api: Api) -> None:
    """The dependency runs before the route's parameters are checked: no token and
    no titleId is a 401, a token and no titleId the 400 naming it."""
    path = f"/users/xuid({OTHER_XUID})/achievements"
    assert_error(await api.client.get(path), 401, contains="Authorization")
    assert_error(await api.client.get(path, headers=api.auth()), 400, contains="titleId")
