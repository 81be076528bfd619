"""Titles and drafts in the portal, over HTTP with real forms: create a title, edit
achievements, events and stats with the import's field-path messages, icons and
their previews, revisions, configuration files, and what a viewer may do."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import yaml
from PIL import Image
from sqlalchemy import select

from laurels.errors import InvalidConfig
from laurels.portal.tables import audit_log
from laurels.titles import service as titles
from laurels.titles.tables import media
from tests.helpers.portal import Portal
from tests.helpers.service import TITLE_ID, publish_config, title_config

DRAFT = f"/portal/titles/{TITLE_ID}"


class FormFields(HTMLParser):
    """The fields a browser sends for the form whose action is `action`."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action, self.inside = action, False
        self.fields: dict[str, str] = {}
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside:
            return
        if tag == "input" and a.get("type") not in ("file", "submit"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[a["name"]] = a.get("value", "")
        elif tag == "select":
            self.select = a["name"]
            self.fields.setdefault(self.select, "")
        elif tag == "option" and self.select and "selected" in a:
            self.fields[self.select] = a["value"]
        elif tag == "textarea":
            self.textarea = a["name"]
            self.fields[self.textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


def form_of(html: str, action: str) -> dict[str, str]:
    reader = FormFields(action)
    reader.feed(html)
    assert reader.fields, f"no form posting to {action}"
    return dict(reader.fields)


async def submit(
    client: httpx.AsyncClient,
    page: str,
    action: str,
    changes: dict[str, str] | None = None,
    *,
    drop: tuple[str, ...] = (),
    files: dict[str, Any] | None = None,
) -> httpx.Response:
    """Load `page`, fill in its form for `action` with `changes` (untick `drop`), post it."""
    shown = await client.get(page)
    assert shown.status_code == 200, (page, shown.status_code)
    fields = form_of(shown.text, action) | (changes or {})
    for name in drop:
        fields.pop(name, None)
    return await client.post(action, data=fields, files=files)


async def draft_of(portal: Portal, title_id: int = TITLE_ID) -> titles.Draft:
    async with portal.db.read() as conn:
        return await titles.load_draft_revision(conn, title_id=title_id)


async def audit_details(portal: Portal) -> list[tuple[str, str, str]]:
    async with portal.db.read() as conn:
        rows = await conn.execute(select(audit_log).order_by(audit_log.c.id))
        return [(r.action, r.target, r.detail) for r in rows]


def image_bytes(kind: str, side: int, height: int | None = None) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, height or side), (200, 30, 60)).save(out, format=kind)
    return out.getvalue()


def tied(html: str, field_id: str) -> str:
    """The error message shown with the input `field_id`, checking the input
    points at it."""
    found = re.search(rf'<p class="error" id="{field_id}-error">([^<]*)</p>', html)
    assert found, f"no error shown at {field_id}"
    assert re.search(rf'id="{field_id}"[^>]*aria-invalid="true"', html)
    assert re.search(rf'id="{field_id}"[^>]*aria-describedby="{field_id}-error', html)
    return found.group(1).replace("&#39;", "'")


async def test_create_a_title_then_add_edit_move_and_remove_achievements(portal: Portal) -> None:
    created = await submit(
        portal.client,
        "/portal/titles/new",
        "/portal/titles/new",
        {"title.id": str(TITLE_ID), "title.name": "Portal Game", "title.kind": "title-managed"},
    )
    assert created.status_code == 303, created.text
    draft = await draft_of(portal)
    assert draft.revision == 1
    assert draft.document["title"]["name"] == "Portal Game"
    assert len(draft.document["title"]["scid"]) == 36  # generated
    add = f"{DRAFT}/achievements/1"
    added = await submit(
        portal.client,
        f"{DRAFT}/achievements/new",
        add,
        {
            "achievements[1].id": "boss",
            "achievements[1].name": "Boss",
            "achievements[1].lockedDescription": "Beat the boss.",
            "achievements[1].description": "You beat the boss.",
            "achievements[1].gamerscore": "50",
            "achievements[1].secret": "on",
            "achievements[1].rewards[0].type": "InApp",
            "achievements[1].rewards[0].name": "Golden Skin",
            "achievements[1].rewards[0].description": "Redeem in the Armory.",
            "achievements[1].localized[0].locale": "fr-FR",
            "achievements[1].localized[0].name": "Le boss",
        },
    )
    assert added.status_code == 303, added.text
    boss = (await draft_of(portal)).document["achievements"][1]
    assert boss["gamerscore"] == 50
    assert boss["secret"] is True
    assert boss["rewards"][0]["name"] == "Golden Skin"
    assert boss["localized"] == {
        "fr-FR": {"name": "Le boss", "lockedDescription": None, "description": None}
    }
    edited = await submit(
        portal.client,
        add,
        add,
        {"achievements[1].gamerscore": "60"},
        drop=("achievements[1].secret",),
    )
    assert edited.status_code == 303, edited.text
    moved = await submit(portal.client, DRAFT, f"{DRAFT}/achievements/1/move")
    assert moved.status_code == 303
    draft = await draft_of(portal)
    assert [a["id"] for a in draft.document["achievements"]] == ["boss", "1"]
    assert draft.document["achievements"][0]["secret"] is False
    assert draft.document["achievements"][0]["gamerscore"] == 60
    assert draft.document["achievements"][0]["localized"] == {
        "fr-FR": {"name": "Le boss", "lockedDescription": None, "description": None}
    }
    removed = await submit(portal.client, DRAFT, f"{DRAFT}/achievements/1/remove")
    assert removed.status_code == 303
    draft = await draft_of(portal)
    assert [a["id"] for a in draft.document["achievements"]] == ["boss"]
    assert draft.revision == 5
    audited = await audit_details(portal)
    assert ("title created", f"title {TITLE_ID}", "Portal Game (title-managed)") in audited
    changes = [detail for action, target, detail in audited if action == "draft changed"]
    assert changes == [
        "achievement 'boss' added (revision 2)",
        "achievement 'boss' edited (revision 3)",
        "achievement 'boss' moved up (revision 4)",
        "achievement '1' removed (revision 5)",
    ]


async def test_a_bad_field_shows_the_import_message_at_the_field_and_saves_nothing(
    portal: Portal,
) -> None:
    await publish_config(portal.db, title_config(3))
    before = await draft_of(portal)
    page = f"{DRAFT}/achievements/2"
    answer = await submit(
        portal.client,
        page,
        page,
        {
            "achievements[2].gamerscore": "300",
            "achievements[2].id": "1",
            "achievements[2].name": "",
        },
    )
    assert answer.status_code == 422
    assert tied(answer.text, "achievements-2-gamerscore") == "must be 0..200"
    assert tied(answer.text, "achievements-2-name") == "must not be empty"
    assert 'value="300"' in answer.text  # what they typed is kept
    answer = await submit(portal.client, page, page, {"achievements[2].id": "1"})
    assert answer.status_code == 422
    assert tied(answer.text, "achievements-2-id") == "'1' is already the id of achievements[0]"
    with pytest.raises(InvalidConfig) as raised:  # the import says the same
        titles.parse_config(
            {
                **title_config(3),
                "achievements": [{**title_config(3)["achievements"][0], "gamerscore": 300}],
            }
        )
    assert raised.value.problems == ["achievements[0].gamerscore: must be 0..200"]
    assert await draft_of(portal) == before
    await publish_config(portal.db, title_config(1))
    refused = await submit(portal.client, DRAFT, f"{DRAFT}/achievements/0/remove")
    assert refused.status_code == 422
    assert "achievements: must have at least 1 item(s)" in refused.text


async def test_a_stale_save_is_refused_with_the_difference_and_the_draft_unchanged(
    portal: Portal,
) -> None:
    await publish_config(portal.db, title_config(2))
    other = await portal.person("editor")
    page = f"{DRAFT}/achievements/0"
    mine = form_of((await portal.client.get(page)).text, page)
    theirs = await submit(other, page, page, {"achievements[0].name": "Their name"})
    assert theirs.status_code == 303
    after_theirs = await draft_of(portal)
    refused = await portal.client.post(page, data=mine | {"achievements[0].name": "My name"})
    assert refused.status_code == 409
    assert "Not saved: the draft changed" in refused.text
    row = re.search(
        r"<code>achievements\[0\]\.name</code></th><td><del>([^<]*)</del></td><td><ins>([^<]*)</ins>",
        refused.text,
    )
    assert row
    assert row.groups() == ("Their name", "My name")
    assert await draft_of(portal) == after_theirs
    # `laurels config import` bumps the revision too.
    stale_form = form_of((await portal.client.get(DRAFT)).text, f"{DRAFT}/title")
    await publish_config(portal.db, title_config(2))
    refused = await portal.client.post(
        f"{DRAFT}/title", data=stale_form | {"title.name": "Renamed"}
    )
    assert refused.status_code == 409
    assert "Renamed" in refused.text
    assert (await draft_of(portal)).document["title"]["name"] == "Test Game"


async def test_icons_are_checked_reencoded_and_previewed(portal: Portal) -> None:
    await publish_config(portal.db, title_config(2, extra=[]))
    page = f"{DRAFT}/achievements/0"
    shown = await portal.client.get(page)
    assert "PNG or JPEG, at most 1 MiB, square, 64 to 1024 pixels a side" in shown.text
    for kind, side in (("PNG", 64), ("JPEG", 256)):
        data = image_bytes(kind, side)
        answer = await submit(
            portal.client,
            page,
            page,
            files={"achievements[0].iconFile": (f"i.{kind}", data, "image/png")},
        )
        assert answer.status_code == 303, answer.text
        icon = (await draft_of(portal)).document["achievements"][0]["icon"]
        assert icon.startswith("media:")
        async with portal.db.read() as conn:
            stored = await titles.read_media(conn, sha256=icon.removeprefix("media:"))
        assert stored.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(stored)).size == (side, side)
    refusals = {
        "not an image": (b"hello, not a picture", "the file is not a PNG or JPEG image"),
        "too big": (b"\x89PNG" + b"\0" * (1024 * 1024 + 10), "an icon is at most 1 MiB"),
        "not square": (
            image_bytes("PNG", 64, 80),
            "the image is 64×80 pixels; an icon is square, 64 to 1024 pixels a side",
        ),
        "too small": (image_bytes("PNG", 32), "the image is 32×32 pixels"),
        "a GIF": (image_bytes("GIF", 64), "the file is not a PNG or JPEG image"),
    }
    before = await draft_of(portal)
    for data, message in refusals.values():
        answer = await submit(
            portal.client,
            page,
            page,
            files={"achievements[0].iconFile": ("x.png", data, "image/png")},
        )
        assert answer.status_code == 422
        assert message in tied(answer.text, "achievements-0-iconFile")
    assert await draft_of(portal) == before
    # The three looks, with images from this host only.
    await submit(portal.client, page, page, {"achievements[0].secret": "on"})
    preview = (await portal.client.get(page)).text
    sha = before.document["achievements"][0]["icon"].removeprefix("media:")
    locked = preview.split('id="look-locked"')[1].split("</section>")[0]
    unlocked = preview.split('id="look-unlocked"')[1].split("</section>")[0]
    secret = preview.split('id="look-secret"')[1].split("</section>")[0]
    assert f"/portal/titles/{TITLE_ID}/icons/{sha}/locked.png" in locked
    assert "Do thing 1." in locked
    assert f'src="/media/{sha}.png"' in unlocked
    for text in ("Achievement 1", "You did thing 1.", "10 G"):
        assert text in unlocked
    assert "Secret achievement" in secret
    assert "Do thing 1." in secret
    assert "<img" not in secret
    assert "Achievement 1" not in secret
    assert all(src.startswith("/") for src in re.findall(r'src="([^"]+)"', preview))
    grey = await portal.client.get(f"/portal/titles/{TITLE_ID}/icons/{sha}/locked.png")
    assert grey.headers["content-type"] == "image/png"
    pixel = Image.open(io.BytesIO(grey.content)).convert("RGB").getpixel((1, 1))
    assert isinstance(pixel, tuple)
    assert pixel[0] == pixel[1] == pixel[2]  # grey


async def test_an_external_icon_is_a_link_not_an_image(portal: Portal) -> None:
    url = "https://cdn.example/icon.png"
    await publish_config(
        portal.db,
        title_config(1, extra=[])
        | {"achievements": [{**title_config(1)["achievements"][0], "icon": url}]},
    )
    page = (await portal.client.get(f"{DRAFT}/achievements/0")).text
    assert f'<a href="{url}">' in page
    assert f'src="{url}"' not in page


async def test_a_file_replaces_the_draft_and_the_download_imports_to_the_same_draft(
    portal: Portal,
) -> None:
    await publish_config(portal.db, title_config(2, kind="event-based"))
    exported = await portal.client.get(f"{DRAFT}/export.yaml")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    before = await draft_of(portal)
    same = await submit(
        portal.client,
        DRAFT,
        f"{DRAFT}/upload",
        files={"file": ("t.yaml", exported.content, "application/yaml")},
    )
    assert same.status_code == 303, same.text
    after = await draft_of(portal)
    assert after.document == before.document
    assert after.revision == before.revision + 1
    changed = yaml.safe_load(exported.text)
    changed["achievements"][0]["gamerscore"] = 300
    refused = await submit(
        portal.client,
        DRAFT,
        f"{DRAFT}/upload",
        files={"file": ("bad.yaml", yaml.safe_dump(changed).encode(), "application/yaml")},
    )
    assert refused.status_code == 422
    assert "achievements[0].gamerscore: must be 0..200" in refused.text
    assert await draft_of(portal) == after
    sneaky = yaml.safe_load(exported.text)
    sneaky["achievements"][0]["icon"] = "../../etc/passwd"
    refused = await submit(
        portal.client,
        DRAFT,
        f"{DRAFT}/upload",
        files={"file": ("s.yaml", yaml.safe_dump(sneaky).encode(), "application/yaml")},
    )
    assert refused.status_code == 422
    assert (
        "achievements[0].icon: upload the image, or give an http(s) URL or media:&lt;sha256&gt;"
        in refused.text
    )
    changed["achievements"][0]["gamerscore"] = 77
    taken = await submit(
        portal.client,
        DRAFT,
        f"{DRAFT}/upload",
        files={"file": ("ok.yaml", yaml.safe_dump(changed).encode(), "application/yaml")},
    )
    assert taken.status_code == 303
    assert (await draft_of(portal)).document["achievements"][0]["gamerscore"] == 77
    assert ("draft imported", f"title {TITLE_ID}") in [
        (a, t) for a, t, _ in await audit_details(portal)
    ]


async def test_a_viewer_reads_everything_and_changes_nothing(portal: Portal) -> None:
    await publish_config(portal.db, title_config(2, kind="event-based"))
    viewer = await portal.person("viewer")
    editor_page = (await portal.client.get(DRAFT)).text
    before = await draft_of(portal)
    for page in (DRAFT, f"{DRAFT}/achievements/0", f"{DRAFT}/events/0", f"{DRAFT}/stats/0"):
        shown = await viewer.get(page)
        assert shown.status_code == 200
        assert 'method="post" action="/portal/titles' not in shown.text
        assert ">Save" not in shown.text
        assert "Remove" not in shown.text
    assert (await viewer.get(f"{DRAFT}/export.yaml")).status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await viewer.get(DRAFT)).text)
    assert token
    posts = {
        f"{DRAFT}/title": form_of(editor_page, f"{DRAFT}/title"),
        f"{DRAFT}/achievements/0/remove": form_of(editor_page, f"{DRAFT}/achievements/0/remove"),
        f"{DRAFT}/achievements/1/move": form_of(editor_page, f"{DRAFT}/achievements/1/move"),
        f"{DRAFT}/achievements/0": {"revision": str(before.revision)},
        f"{DRAFT}/stats/0": {"revision": str(before.revision)},
        "/portal/titles/new": {"title.id": "99", "title.name": "X", "title.kind": "title-managed"},
    }
    for path, data in posts.items():
        answer = await viewer.post(path, data=data | {"csrf_token": token.group(1)})
        assert answer.status_code == 403, path
    assert (await viewer.get("/portal/titles/new")).status_code == 403
    assert await draft_of(portal) == before


async def test_event_based_titles_edit_events_stats_and_requirements(portal: Portal) -> None:
    created = await submit(
        portal.client,
        "/portal/titles/new",
        "/portal/titles/new",
        {"title.id": str(TITLE_ID), "title.name": "Arena", "title.kind": "event-based"},
    )
    assert created.status_code == 303, created.text
    event = f"{DRAFT}/events/1"
    answer = await submit(
        portal.client,
        f"{DRAFT}/events/new",
        event,
        {
            "events[1].name": "EnemyDefeated",
            "events[1].dimensions": "weapon, difficulty",
            "events[1].measurements": "count, weapon",
        },
    )
    assert answer.status_code == 422
    assert tied(answer.text, "events-1-measurements") == "'weapon' is already dimensions[0]"
    answer = await submit(
        portal.client,
        f"{DRAFT}/events/new",
        event,
        {
            "events[1].name": "EnemyDefeated",
            "events[1].dimensions": "weapon, difficulty",
            "events[1].measurements": "count",
            "events[1].sentBy": "server",
        },
    )
    assert answer.status_code == 303, answer.text
    stat = f"{DRAFT}/stats/1"
    fields = {
        "stats[1].name": "HardKills",
        "stats[1].event": "EnemyDefeated",
        "stats[1].aggregate": "max",
        "stats[1].maxChange": "5",
    }
    answer = await submit(portal.client, f"{DRAFT}/stats/new", stat, fields)
    assert answer.status_code == 422
    message = tied(answer.text, "stats-1-maxChange")
    assert message == "only a sum stat has a maxChange (this one is max)"
    fields |= {
        "stats[1].aggregate": "sum",
        "stats[1].measurement": "damage",
        "stats[1].where": "mode=Hard",
    }
    answer = await submit(portal.client, f"{DRAFT}/stats/new", stat, fields)
    assert answer.status_code == 422
    message = tied(answer.text, "stats-1-measurement")
    assert message == "event 'EnemyDefeated' has no measurement 'damage'"
    assert tied(answer.text, "stats-1-where") == "event 'EnemyDefeated' has no dimension 'mode'"
    answer = await submit(
        portal.client,
        f"{DRAFT}/stats/new",
        stat,
        {
            "stats[1].name": "HardKills",
            "stats[1].event": "EnemyDefeated",
            "stats[1].measurement": "count",
            "stats[1].aggregate": "sum",
            "stats[1].where": "difficulty=Hard",
            "stats[1].maxChange": "5",
        },
    )
    assert answer.status_code == 303, answer.text
    achievement = f"{DRAFT}/achievements/0"
    answer = await submit(
        portal.client,
        achievement,
        achievement,
        {
            "achievements[0].requirements[1].stat": "Nope",
            "achievements[0].requirements[1].target": "x",
        },
    )
    assert answer.status_code == 422
    assert tied(answer.text, "achievements-0-requirements-1-target") == "must be a whole number"
    answer = await submit(
        portal.client,
        achievement,
        achievement,
        {
            "achievements[0].requirements[0].stat": "",
            "achievements[0].requirements[0].target": "",
            "achievements[0].requirements[2].stat": "HardKills",
            "achievements[0].requirements[2].target": "10",
        },
    )
    assert answer.status_code == 303, answer.text
    document = (await draft_of(portal)).document
    assert document["events"][1] == {
        "name": "EnemyDefeated",
        "dimensions": ["weapon", "difficulty"],
        "measurements": ["count"],
        "sentBy": "server",
    }
    assert document["stats"][1] == {
        "name": "HardKills",
        "event": "EnemyDefeated",
        "measurement": "count",
        "aggregate": "sum",
        "where": {"difficulty": "Hard"},
        "maxChange": 5,
    }
    assert document["achievements"][0]["requirements"] == [{"stat": "HardKills", "target": 10}]
    # A problem another part of the draft has goes in the summary.
    answer = await submit(
        portal.client, f"{DRAFT}/stats/1", f"{DRAFT}/stats/1", {"stats[1].name": "Renamed"}
    )
    assert answer.status_code == 422
    assert "achievements[0].requirements[0].stat: no stat &#39;HardKills&#39;" in answer.text
    missing = await submit(
        portal.client,
        achievement,
        achievement,
        {"achievements[0].requirements[0].stat": "", "achievements[0].requirements[0].target": ""},
    )
    assert missing.status_code == 422
    assert (
        tied(missing.text, "achievements-0-requirements-0-stat")
        == "is required on an event-based title (1..5 stats to reach)"
    )
    async with portal.db.read() as conn:
        assert (await conn.execute(select(media.c.sha256))).first() is None
