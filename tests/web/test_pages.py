"""The server-rendered pages: welcome for strangers, the home grid (first page, filters, Continue,
running sessions), the game page, and what a child's pages leave out."""

from __future__ import annotations

import re
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.conftest import ROMS
from tests.support.cores import without_wheel_cores
from tests.support.roms import rom_count
from tests.web._webapp import Family, game_id
from treazr.services import Services


def _cards(page: str) -> list[str]:
    grid = page.split('id="game-grid"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r'<span class="game-title">([^<]*)</span>', grid)


async def test_strangers_get_the_welcome_and_pages_send_them_to_sign_in(client: AsyncTestClient) -> None:
    home = await client.get("/")
    assert home.status_code == 200 and "Welcome to Treazr" in home.text and 'href="/signin"' in home.text
    assert "game-grid" not in home.text
    for path in ("/games/1", "/history", "/upload", "/admin"):
        page = await client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/signin?next="), path


async def test_home_renders_the_first_page_with_filters(client: AsyncTestClient, family: Family) -> None:
    home = await client.get("/", headers=family.ada.headers)
    assert home.status_code == 200
    cards, count = _cards(home.text), rom_count(ROMS)
    assert len(cards) == count and cards == sorted(cards, key=str.lower)
    assert f"{count} games" in home.text and 'id="tenfoot-toggle"' in home.text
    for label in ("Search titles", "Platform", "Sort by", "Favourites only"):
        assert label in home.text
    assert 'aria-current="page">Games' in home.text and 'href="/upload"' in home.text
    assert 'href="/admin"' not in home.text
    filtered = await client.get("/?platform=gb&q=cpu", headers=family.ada.headers)
    assert _cards(filtered.text) == ["cpu instrs"]
    assert '<option value="gb" selected>' in filtered.text
    paged = await client.get("/?page=99", headers=family.ada.headers)
    assert paged.status_code == 200 and _cards(paged.text) == []
    junk = await client.get("/?sort=nonsense&platform=psx", headers=family.ada.headers)
    assert junk.status_code == 200 and len(_cards(junk.text)) == count  # a bad link still shows the library


async def test_continue_row_shows_what_you_played(client: AsyncTestClient, family: Family,
                                                  services: Services) -> None:
    pad = game_id(services, "padtest")
    session = services.db.execute("INSERT INTO play_sessions (token, user_id, game_id, core, started_at)"
                                  " VALUES ('t', ?, ?, 'c', '2026-01-01T10:00:00Z')", (family.ada.user_id, pad))
    services.db.execute("INSERT INTO play_events (session_id, kind, user_id, game_id, device_id, at) VALUES"
                        " (?, 'joined', ?, ?, 1, '2026-01-01T10:00:00Z')", (session, family.ada.user_id, pad))
    mine = await client.get("/", headers=family.ada.headers)
    assert "Continue playing" in mine.text and f'href="/play/game/{pad}"' in mine.text
    assert "Continue playing" not in (await client.get("/", headers=family.bob.headers)).text


async def test_game_page_shows_details_saves_and_play(client: AsyncTestClient, family: Family,
                                                      services: Services, roms: Path) -> None:
    game = game_id(services, "nestest")
    page = await client.get(f"/games/{game}", headers=family.ada.headers)
    assert page.status_code == 200
    text = page.text
    assert "<h1>nestest</h1>" in text and "Nintendo Entertainment System" in text
    assert "nestest.nes" in text and str(roms) not in text  # a member sees the name, not where it lives
    sha1 = services.db.query_one("SELECT sha1 FROM files WHERE game_id = ?", (game,))["sha1"]  # type: ignore[index]
    assert sha1 in text
    assert f'href="/play/game/{game}"' in text and 'id="play-button"' in text
    assert "No saved states yet" in text and 'id="srm-form"' in text and 'id="make-cover"' in text
    missing = await client.get("/games/9999", headers=family.ada.headers)
    assert missing.status_code == 404 and "<h1>Not here</h1>" in missing.text and "no game 9999" in missing.text


async def test_a_game_without_a_core_explains_instead_of_play(client: AsyncTestClient, family: Family,
                                                              services: Services) -> None:
    game = game_id(services, "padtest")
    without_wheel_cores(services)
    services.db.execute("UPDATE games SET platform = 'gg' WHERE id = ?", (game,))
    page = await client.get(f"/games/{game}", headers=family.ada.headers)
    assert 'id="not-playable"' in page.text and "play-button" not in page.text and "core" in page.text


async def test_childs_pages_show_only_granted_games_and_no_upload(client: AsyncTestClient, family: Family,
                                                                  services: Services) -> None:
    await client.put(f"/api/admin/users/{family.kid.user_id}/grants", json={"platforms": ["gba"]},
                     headers=family.admin.headers)
    home = await client.get("/", headers=family.kid.headers)
    assert sorted(_cards(home.text)) == ["arm", "sram", "thumb"]
    assert 'href="/upload"' not in home.text and 'href="/admin"' not in home.text
    assert (await client.get(f"/games/{game_id(services, 'nestest')}", headers=family.kid.headers)).status_code == 404
    game = await client.get(f"/games/{game_id(services, 'arm')}", headers=family.kid.headers)
    assert game.status_code == 200 and 'id="srm-form"' not in game.text and "make-cover" not in game.text


async def test_admin_sees_the_admin_link_and_collection_boxes(client: AsyncTestClient, family: Family,
                                                              services: Services) -> None:
    await client.post("/api/collections", json={"name": "Party"}, headers=family.admin.headers)
    home = await client.get("/", headers=family.admin.headers)
    assert 'href="/admin"' in home.text and "Party" in home.text
    game = await client.get(f"/games/{game_id(services, 'arm')}", headers=family.admin.headers)
    assert 'id="collection-boxes"' in game.text


async def test_pages_have_no_inline_scripts(client: AsyncTestClient, family: Family) -> None:
    for path in ("/", "/games/1", "/history", "/upload", "/admin", "/admin/library"):
        page = await client.get(path, headers=family.admin.headers)
        inline = [s for s in re.findall(r"<script([^>]*)>", page.text) if "src=" not in s and "importmap" not in s]
        assert inline == [], path
        assert '<html lang="en">' in page.text and "<main" in page.text


async def test_running_games_show_on_home_and_the_server_page(client: AsyncTestClient, family: Family) -> None:
    started = await client.post("/api/play/sessions", json={"game_id": 0, "chroma": "420"}, headers=family.ada.headers)
    assert started.status_code == 201, started.text
    token = started.json()["session"]["token"]
    try:
        mine = await client.get("/", headers=family.ada.headers)
        assert "Playing now in the house" in mine.text and f'href="/play/{token}"' in mine.text
        theirs = await client.get("/", headers=family.bob.headers)
        assert "Ada</strong> is playing" in theirs.text and f'href="/play/{token}"' in theirs.text  # Bob may join
        assert "— join</a>" in theirs.text and "— rejoin</a>" in mine.text
        kid = await client.get("/", headers=family.kid.headers)
        assert "Playing now" in kid.text  # the demo is for everyone
        server = await client.get("/admin/server", headers=family.admin.headers)
        assert server.status_code == 200 and "Treazr Demo" in server.text and "started by Ada" in server.text
        listed = (await client.get("/api/admin/server", headers=family.admin.headers)).json()["sessions"]
        assert listed[0]["started_at"].endswith("Z") and listed[0]["viewer_list"] == []
    finally:
        ended = await client.post(f"/api/play/sessions/{token}/end", headers=family.ada.headers)
        assert ended.status_code == 200
    assert "Playing now" not in (await client.get("/", headers=family.ada.headers)).text


async def test_home_offers_the_built_in_demo_to_everyone(client: AsyncTestClient, family: Family) -> None:
    for who in (family.ada, family.kid):
        home = await client.get("/", headers=who.headers)
        assert home.status_code == 200
        card = home.text.split('id="demo-card"', 1)[1].split("</aside>", 1)[0]
        assert "Treazr Demo" in card and 'href="/play/game/0"' in card
