"""The pages: the titles (the API's title history), a title's achievements (progress,
unlock date, rarity, secrets), filter and sort, the live fragment, the languages and
the development banner."""

import re

from laurels.player.messages import FRENCH
from tests.helpers.service import (
    OTHER_XUID,
    SCID,
    TITLE_ID,
    XUID,
    publish_config,
    title_config,
    token_for,
)
from tests.helpers.waiting import eventually
from tests.player.conftest import Player

PAGE = f"/play/{XUID}/titles/{TITLE_ID}"
SECRET_NAME, SECRET_TEXT = "Hidden Grove", "You found the grove behind the waterfall."


def item(html: str, achievement_id: str) -> str:
    """The list item of one achievement."""
    found = re.search(
        rf'<li [^>]*data-achievement-id="{achievement_id}">(.*?)</li>'
        r'\s*(?=<li class="achievement|</ul>)',
        html,
        re.S,
    )
    assert found, achievement_id
    return found.group(1)


def listed(html: str) -> list[str]:
    return re.findall(r'data-achievement-id="([^"]+)"', html)


async def test_the_titles_page_shows_the_api_title_history(player: Player) -> None:
    assert (await player.api.update([("1", 100), ("2", 100), ("3", 75)])).status_code == 200
    history = await player.api.client.get(
        f"/users/xuid({XUID})/history/titles", headers=player.api.auth()
    )
    (title,) = history.json()["titles"]
    page = await player.get(f"/play/{XUID}/")
    assert page.status_code == 200
    row = re.search(rf'<tr data-title-id="{TITLE_ID}">(.*?)</tr>', page.text, re.S)
    assert row
    cells = row.group(1)
    assert title["name"] in cells
    assert f"{title['currentGamerscore']} / {title['maxGamerscore']} G" in cells
    assert f"{title['earnedAchievements']} / 7" in cells
    assert f"{round(100 * title['earnedAchievements'] / 7)}%" in cells
    assert title["lastUnlock"] in cells
    assert f'data-title-ids="{TITLE_ID}"' in page.text
    assert f'data-scids="{SCID}"' in page.text
    assert "data-fragment" not in page.text


async def test_another_players_page_is_refused(player: Player) -> None:
    for path in (f"/play/{OTHER_XUID}/", f"/play/{OTHER_XUID}/titles/{TITLE_ID}"):
        answer = await player.get(path)
        assert answer.status_code == 403
        assert "Not your page" in answer.text
    fragment = await player.get(f"/play/{OTHER_XUID}/titles/{TITLE_ID}/fragment")
    assert fragment.status_code == 403


async def test_a_title_page_shows_progress_unlocks_and_rarity(player: Player) -> None:
    server = await token_for(player.api.db, server=True)
    # Ten other players unlock 1: achievement 2, unlocked by XUID alone, is rare (1 of 11).
    for n in range(10):
        other = str(int(OTHER_XUID) + n)
        answer = await player.api.update([("1", 100)], xuid=other, token=server)
        assert answer.status_code == 200
    assert (await player.api.update([("1", 100), ("2", 100), ("3", 75)])).status_code == 200
    page = await player.get(PAGE)
    assert page.status_code == 200
    assert 'value="75"' in item(page.text, "3")
    assert "75%" in item(page.text, "3")
    achieved = item(page.text, "2")
    assert "Achieved" in achieved
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', achieved)
    assert "10 G" in achieved
    assert "You did thing 2." in achieved
    assert "Do thing 5." in item(page.text, "5")  # the locked description before unlock
    assert "You did thing 5." not in page.text
    assert '<span class="badge rare">Rare</span>' in achieved
    assert "Rare</span>" not in item(page.text, "1")
    assert "3 of 7 achievements" not in page.text  # two are achieved, one in progress
    assert "2 of 7 achievements, 20 of 70 G" in page.text
    assert f'data-fragment="{PAGE}/fragment?show=all&amp;sort=title"' in page.text
    assert '<div id="toasts" class="toasts" data-title-text="Achievement Unlocked"' in page.text
    assert 'data-gamerscore-text="G"' in page.text
    assert "unlocked Achievement 2" in page.text  # the feed


async def test_a_secret_achievement_is_not_named_until_unlocked(player: Player) -> None:
    for path in (PAGE, f"{PAGE}/fragment", f"/play/{XUID}/"):
        answer = await player.get(path)
        assert answer.status_code == 200
        assert SECRET_NAME not in answer.text
        assert SECRET_TEXT not in answer.text
    page = await player.get(PAGE)
    assert "Secret achievement" in item(page.text, "secret")
    assert (await player.api.update([("secret", 100)])).status_code == 200
    page = await player.get(PAGE)
    assert SECRET_NAME in item(page.text, "secret")
    assert SECRET_TEXT in page.text
    assert f"unlocked {SECRET_NAME}" in page.text


async def test_the_fragment_is_the_two_live_sections(player: Player) -> None:
    answer = await player.get(f"{PAGE}/fragment?show=unlocked")
    assert answer.status_code == 200
    text = answer.text.strip()
    assert text.startswith('<section id="achievements"')
    assert text.endswith("</section>")
    assert text.count("<section") == 2
    assert '<section id="feed"' in text
    assert "<body" not in text


async def test_filter_and_sort(player: Player) -> None:
    server = await token_for(player.api.db, server=True)
    assert (await player.api.update([("4", 100)], xuid=OTHER_XUID, token=server)).status_code == 200
    assert (await player.api.update([("2", 100)])).status_code == 200
    assert (await player.api.update([("4", 100)])).status_code == 200
    assert (await player.api.update([("3", 50)])).status_code == 200
    every = ["1", "2", "3", "4", "5", "secret", "server"]
    assert listed((await player.get(PAGE)).text) == every
    assert listed((await player.get(f"{PAGE}?show=unlocked")).text) == ["2", "4"]
    locked = listed((await player.get(f"{PAGE}?show=locked")).text)
    assert locked == ["1", "3", "5", "secret", "server"]
    by_time = listed((await player.get(f"{PAGE}?sort=unlocktime")).text)
    assert by_time[:2] == ["4", "2"]
    assert sorted(by_time) == sorted(every)
    # 2 is the rarest unlocked (1 of 2 players), 4 is everyone's; the locked are at 0 %.
    by_rarity = listed((await player.get(f"{PAGE}?sort=rarity&show=unlocked")).text)
    assert by_rarity == ["2", "4"]
    fragment = await player.get(f"{PAGE}/fragment?show=unlocked&sort=unlocktime")
    assert listed(fragment.text) == ["4", "2"]
    odd = await player.get(f"{PAGE}?show=nonsense&sort=nonsense")
    assert odd.status_code == 200
    assert listed(odd.text) == every


async def test_french_strings_for_a_french_browser(player: Player) -> None:
    assert (await player.api.update([("1", 100), ("3", 75)])).status_code == 200
    page = await player.get(PAGE, language="fr-FR,fr;q=0.9,en;q=0.5")
    assert '<html lang="fr">' in page.text
    for key in ("secret_name", "achieved", "show", "sort", "feed", "achievement_unlocked"):
        assert FRENCH[key] in page.text, key
    assert "Secret achievement" not in page.text
    assert "Achievement Unlocked" not in page.text
    titles = await player.get(f"/play/{XUID}/", language="fr-FR")
    assert FRENCH["titles_heading"] in titles.text
    refused = await player.get(f"/play/{OTHER_XUID}/", language="fr-FR")
    assert FRENCH["forbidden"] in refused.text


async def test_a_development_sandbox_has_a_banner_and_retail_none(player: Player) -> None:
    for path in (f"/play/{XUID}/", PAGE):
        assert "Development sandbox DEV.1" in (await player.get(path)).text
    await publish_config(player.api.db, title_config(3), sandbox="RETAIL")
    retail = await player.session_for(sandbox="RETAIL")

    async def published() -> bool:  # the service's catalog refreshes every 0.2 s
        return (await player.get(PAGE, session=retail)).status_code == 200

    await eventually(published, what="the RETAIL title in the service's catalog")
    for path in (f"/play/{XUID}/", PAGE):
        answer = await player.get(path, session=retail)
        assert answer.status_code == 200
        assert "Development sandbox" not in answer.text
        assert "dev-banner" not in answer.text


async def test_an_unknown_title_is_not_found(player: Player) -> None:
    for title in ("999", "abc", "99999999999"):
        answer = await player.get(f"/play/{XUID}/titles/{title}")
        assert answer.status_code == 404
        assert "There is no such game here." in answer.text
