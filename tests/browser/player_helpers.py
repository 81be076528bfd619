"""What the player page's browser tests share: a published title (one achievement
secret, icons, French names), a player's link from `laurels player link`, unlocks
through the V2 API, a record of everything a page loaded, and a log of the toasts a
page showed (in the order it showed them)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw
from playwright.async_api import BrowserContext, Page, Response, WebSocket

from laurels.auth.service import ensure_signing_key
from laurels.player.links import link_url, mint_link
from tests.browser.helpers import Served
from tests.helpers.cli import laurels
from tests.helpers.service import publish_config, token_for, update_body

TITLE_ID = 4343
TITLE_NAME = "Lantern Keep"
SCID = "6a2e0100-0000-0000-0000-0000000010f3"
XUID = "2533274790395904"
OTHER_XUID = "2533274790395905"
SANDBOX = "DEV.1"
HEADERS = {"x-xbl-contract-version": "2"}
# The secret achievement: neither its name nor its description may reach the page
# before the player unlocks it.
SECRET_ID = "3"
SECRET = "The Hidden Door"
SECRET_TEXT = "You opened the door behind the tapestry."


@dataclass(frozen=True)
class Medal:
    id: str
    name: str
    french: str
    gamerscore: int
    colour: str


MEDALS = [
    Medal("1", "First Light", "Première lueur", 10, "#e0b040"),
    Medal("2", "Lamplighter", "Allumeur de réverbères", 20, "#5fa8d3"),
    Medal(SECRET_ID, SECRET, "La porte cachée", 50, "#b05fd3"),
    Medal("4", "Night Watch", "Veille de nuit", 15, "#62c370"),
    Medal("5", "Keeper of Flames", "Gardien des flammes", 30, "#e06c5f"),
]
BY_ID = {m.id: m for m in MEDALS}


def icon(path: Path, colour: str) -> Path:
    """A 128x128 PNG: a coloured lantern medal on a dark square."""
    image = Image.new("RGB", (128, 128), "#1d2433")
    draw = ImageDraw.Draw(image)
    draw.ellipse((16, 16, 112, 112), fill=colour, outline="#f5f0e1", width=6)
    draw.rectangle((50, 40, 78, 88), fill="#f5f0e1")
    draw.rectangle((56, 48, 72, 80), fill=colour)
    draw.rectangle((46, 88, 82, 94), fill="#f5f0e1")
    image.save(path)
    return path


def title_config(folder: Path) -> dict[str, Any]:
    achievements = []
    for medal in MEDALS:
        secret = medal.id == SECRET_ID
        achievements.append(
            {
                "id": medal.id,
                "name": medal.name,
                "lockedDescription": "Keep exploring." if secret else f"Earn {medal.name}.",
                "description": SECRET_TEXT if secret else f"You earned {medal.name}.",
                "gamerscore": medal.gamerscore,
                "secret": secret,
                "icon": str(icon(folder / f"medal-{medal.id}.png", medal.colour).name),
                "localized": {"fr-FR": {"name": medal.french}},
            }
        )
    return {
        "title": {"id": TITLE_ID, "name": TITLE_NAME, "scid": SCID, "kind": "title-managed"},
        "achievements": achievements,
    }


async def publish_title(served: Served, folder: Path) -> None:
    """The title, published to DEV.1, its icons made in `folder`."""
    await publish_config(served.db, title_config(folder), SANDBOX, base_dir=folder)


async def player_link(served: Served, database_url: str, xuid: str = XUID) -> str:
    """The link `laurels player link` prints for `xuid` on the served service."""
    done = await asyncio.to_thread(
        laurels,
        database_url,
        "player",
        "link",
        "--xuid",
        xuid,
        "--title-id",
        str(TITLE_ID),
        "--sandbox",
        SANDBOX,
        "--base-url",
        served.url,
    )
    assert done.returncode == 0, done.stderr
    found = re.search(r"\S+/play/enter\?link=\S+", done.stdout)
    assert found, done.stdout
    return found.group(0)


async def minted_link(served: Served, xuid: str = XUID) -> str:
    """A link minted by the service function the command calls (no process start)."""
    key = await ensure_signing_key(served.db)
    token = mint_link(key, xuid=xuid, title_id=TITLE_ID, sandbox=SANDBOX)
    return link_url(served.url, token)


async def unlock(served: Served, *ids: str, xuid: str = XUID, percent: int = 100) -> None:
    """Sets the achievements' progress through the V2 update API, as a game does."""
    token = await token_for(served.db, xuid=xuid, title_id=TITLE_ID, sandbox=SANDBOX)
    body = update_body([(i, percent) for i in ids], xuid=xuid, scid=SCID, title_id=TITLE_ID)
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        answer = await client.post(
            f"/users/xuid({xuid})/achievements/{SCID}/update",
            json=body,
            headers={**HEADERS, "Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text


@dataclass
class Loaded:
    """Every HTTP response body and WebSocket frame a browser context received."""

    bodies: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    _reads: list[asyncio.Task[None]] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.on("response", self._response)
        context.on("page", self._page)
        for page in context.pages:
            self._page(page)

    def watch_page(self, page: Page) -> None:
        self._page(page)

    def _page(self, page: Page) -> None:
        page.on("websocket", self._socket)

    def _socket(self, socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: self.frames.append(str(payload)))

    def _response(self, response: Response) -> None:
        self._reads.append(asyncio.ensure_future(self._read(response)))

    async def _read(self, response: Response) -> None:
        if 300 <= response.status < 400:
            return  # a redirect has no body to read
        try:
            self.bodies.append((await response.body()).decode("utf-8", "replace"))
        except Exception as failure:  # a body the browser no longer keeps
            self.bodies.append(f"<unread {response.url}: {failure}>")

    async def everything(self) -> str:
        await asyncio.gather(*self._reads)
        return "\n".join([*self.bodies, *self.frames])


# Runs in the page (through the DevTools protocol, which the page's CSP does not
# govern): notes the text of every toast added to #toasts, in order, and the most
# toasts ever shown at once.
TOAST_LOG = """() => {
  if (window.__toastLog) return;
  window.__toastLog = [];
  window.__toastsAtOnce = 0;
  const box = document.getElementById('toasts');
  const note = node => {
    if (node.nodeType !== 1 || !node.matches('[role="status"]')) return;
    window.__toastLog.push(node.textContent.replace(/\\s+/g, ' ').trim());
    const now = box.querySelectorAll('[role="status"]').length;
    window.__toastsAtOnce = Math.max(window.__toastsAtOnce, now);
  };
  new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(note)))
    .observe(box, {childList: true, subtree: true});
}"""


async def log_toasts(page: Page) -> None:
    await page.evaluate(TOAST_LOG)


async def toasts_shown(page: Page) -> list[str]:
    shown: list[str] = await page.evaluate("() => window.__toastLog.slice()")
    return shown


async def most_toasts_at_once(page: Page) -> int:
    most: int = await page.evaluate("() => window.__toastsAtOnce")
    return most


def named(shown: list[str], name: str) -> int:
    return sum(name in text for text in shown)
