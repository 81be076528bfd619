"""The player page's socket: the browser's session cookie authenticates the
handshake when no header and no `?token=` is sent, and only from a page of this
site (its `Origin`); headers and `?token=` work as before, whatever the Origin."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from laurels.realtime.browser import PLAYER_COOKIE, cookie_token, same_origin
from tests.helpers import Api, token_for
from tests.helpers.rta import SUBPROTOCOL, notify_uri, ws_url


@pytest.mark.parametrize(
    ("origin", "host", "public_url", "expected"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", None, True),
        ("http://LOCALHOST:8000", "localhost:8000", None, True),
        ("https://laurels.example", "10.0.0.5:8000", "https://laurels.example", True),
        ("https://laurels.example", "laurels.example", None, True),  # TLS ends at a proxy
        ("http://127.0.0.1:8001", "127.0.0.1:8000", None, False),  # another port
        ("https://evil.example", "127.0.0.1:8000", None, False),
        ("https://evil.example", "127.0.0.1:8000", "https://laurels.example", False),
        ("http://127.0.0.1:8000.evil.example", "127.0.0.1:8000", None, False),
        (None, "127.0.0.1:8000", None, False),
        ("", "127.0.0.1:8000", None, False),
        ("null", "127.0.0.1:8000", None, False),
        ("127.0.0.1:8000", "127.0.0.1:8000", None, False),  # not a URL
        ("http://127.0.0.1:8000", None, None, False),
    ],
)
def test_same_origin(
    origin: str | None, host: str | None, public_url: str | None, expected: bool
) -> None:
    assert same_origin(origin, host=host, public_url=public_url) is expected


def test_the_cookie_counts_only_from_this_site() -> None:
    cookies = {PLAYER_COOKIE: "t"}
    here = {"origin": "http://h:1", "host": "h:1"}
    assert cookie_token(here, cookies, public_url=None) == "t"
    assert cookie_token({"host": "h:1"}, cookies, public_url=None) is None
    assert cookie_token({**here, "origin": "http://x:1"}, cookies, public_url=None) is None
    assert cookie_token(here, {}, public_url=None) is None
    assert cookie_token(here, {PLAYER_COOKIE: ""}, public_url=None) is None


async def _subscribed_to(url: str, headers: dict[str, str], uri: str) -> list[object]:
    async with connect(
        url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=10,
    ) as ws:
        await ws.send(json.dumps([1, 7, uri]))
        answer: list[object] = json.loads(await ws.recv())
    return answer


async def _subscribed(url: str, headers: dict[str, str]) -> list[object]:
    """Connect with these headers, subscribe to the player's notifications, and
    return the answer."""
    async with connect(
        url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=10,
    ) as ws:
        await ws.send(json.dumps([1, 7, notify_uri()]))
        answer: list[object] = json.loads(await ws.recv())
    return answer


async def _refusal(url: str, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await _subscribed(url, headers)
    return refused.value.response.status_code


def _cookie(token: str) -> str:
    return f"theme=dark; {PLAYER_COOKIE}={token}"


async def test_the_session_cookie_is_accepted_from_this_sites_page(api: Api) -> None:
    headers = {"Cookie": _cookie(api.token), "Origin": api.base_url}
    answer = await _subscribed(ws_url(api.base_url), headers)
    assert answer[:3] == [1, 7, 0]


@pytest.mark.parametrize(
    "origin", [None, "null", "https://evil.example", "http://127.0.0.1:1"], ids=repr
)
async def test_the_session_cookie_is_refused_from_another_origin_or_none(
    api: Api, origin: str | None
) -> None:
    headers = {"Cookie": _cookie(api.token)}
    if origin is not None:
        headers["Origin"] = origin
    assert await _refusal(ws_url(api.base_url), headers) == 403


@pytest.mark.parametrize("case", ["forged", "server token"])
async def test_a_cookie_holding_anything_but_a_player_token_is_refused(api: Api, case: str) -> None:
    token = f"{api.token[:-4]}AAAA" if case == "forged" else await token_for(api.db, server=True)
    headers = {"Cookie": _cookie(token), "Origin": api.base_url}
    assert await _refusal(ws_url(api.base_url), headers) == 403


async def test_the_header_and_the_query_still_work_whatever_the_origin(api: Api) -> None:
    foreign = {"Origin": "https://evil.example"}
    by_header = {**foreign, "Authorization": f"Bearer {api.token}"}
    assert (await _subscribed(ws_url(api.base_url), by_header))[:3] == [1, 7, 0]
    by_query = ws_url(api.base_url) + f"?token={api.token}"
    assert (await _subscribed(by_query, foreign))[:3] == [1, 7, 0]


async def test_a_header_or_query_sent_is_the_token_even_beside_a_good_cookie(api: Api) -> None:
    """The cookie is read only when neither is sent: a bad one is not rescued by it."""
    here = {"Cookie": _cookie(api.token), "Origin": api.base_url}
    bad = f"{api.token[:-4]}AAAA"
    assert await _refusal(ws_url(api.base_url), {**here, "Authorization": f"Bearer {bad}"}) == 403
    assert await _refusal(ws_url(api.base_url) + f"?token={bad}", here) == 403


async def test_the_page_s_session_follows_every_title_a_game_token_its_own(api: Api) -> None:
    """An unlock in any game shows on the player's page: its session may follow the
    player's every title in the sandbox; a game's token only its title's."""
    other = notify_uri(title_id=4321)
    page = {"Cookie": _cookie(api.token), "Origin": api.base_url}
    assert (await _subscribed_to(ws_url(api.base_url), page, other))[:3] == [1, 7, 0]
    game = {"Authorization": f"Bearer {api.token}"}
    assert (await _subscribed_to(ws_url(api.base_url), game, other))[:3] == [1, 7, 3]
    someone_else = notify_uri(xuid="2533274790395905", title_id=4321)
    assert (await _subscribed_to(ws_url(api.base_url), page, someone_else))[:3] == [1, 7, 3]
