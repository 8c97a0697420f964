"""The library JSON API against the real app on the imported test ROMs: pages, filters, search, sorts,
favourites, collections, and what a child may see."""

from __future__ import annotations

import asyncio
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.conftest import ROMS
from tests.streaming.client import play_server
from tests.support.cores import without_wheel_cores
from tests.support.identity import Identity, sign_up
from tests.support.roms import platform_counts, rom_count
from tests.web._webapp import Family, game_id
from treazr.services import Services
from treazr.web.app import create_app


async def _titles(client: AsyncTestClient, who: Identity, query: str = "") -> list[str]:
    response = await client.get(f"/api/games?{query}", headers=who.headers)
    assert response.status_code == 200, response.text
    return [g["title"] for g in response.json()["games"]]


async def test_list_filters_searches_and_pages(client: AsyncTestClient, family: Family) -> None:
    everything = await client.get("/api/games", headers=family.ada.headers)
    body = everything.json()
    assert body["total"] == rom_count(ROMS) and body["pages"] == 1
    titles = [g["title"] for g in body["games"]]
    assert titles == sorted(titles, key=str.lower)
    nes = await _titles(client, family.ada, "platform=nes")
    assert len(nes) == 5 and "nestest" in nes and "RotZoom" not in nes
    assert await _titles(client, family.ada, "q=nest") == ["nestest"]  # FTS prefix match
    assert await _titles(client, family.ada, "q=cpu%20instr") == ["cpu instrs"]
    assert await _titles(client, family.ada, "q=zzzz") == []
    count = rom_count(ROMS)
    pages = -(-count // 5)
    first = (await client.get("/api/games?per_page=5&page=1", headers=family.ada.headers)).json()
    last = (await client.get(f"/api/games?per_page=5&page={pages}", headers=family.ada.headers)).json()
    assert first["pages"] == pages and len(first["games"]) == 5 and len(last["games"]) == count - 5 * (pages - 1)
    seen = {g["id"] for g in first["games"]} | {g["id"] for g in last["games"]}
    assert len(seen) == 5 + len(last["games"])
    game = next(g for g in body["games"] if g["platform"] == "nes")
    assert game["url"] == f"/games/{game['id']}" and game["platform_name"] and game["playable"] is True


async def test_bad_queries_get_one_clear_error(client: AsyncTestClient, family: Family) -> None:
    for query, words in (("sort=price", "sort must be"), ("platform=psx", "unknown platform"),
                         ("page=0", "page starts at 1"), ("per_page=5000", "per_page")):
        response = await client.get(f"/api/games?{query}", headers=family.ada.headers)
        assert response.status_code == 400, query
        assert words in response.json()["error"]


async def test_sort_by_recently_played_and_added(client: AsyncTestClient, family: Family,
                                                 services: Services) -> None:
    pad = game_id(services, "padtest")
    arm = game_id(services, "arm")
    for minute, game in ((1, arm), (5, pad)):
        services.db.execute("INSERT INTO play_sessions (token, user_id, game_id, core, started_at) VALUES (?,?,?,?,?)",
                            (f"t{game}", family.ada.user_id, game, "x", f"2026-01-01T10:0{minute}:00Z"))
    recent = await _titles(client, family.ada, "sort=recent")
    assert recent[:2] == ["padtest", "arm"]
    assert (await _titles(client, family.bob, "sort=recent"))[:2] != ["padtest", "arm"]  # Ada's plays are hers
    services.db.execute("UPDATE games SET added_at = '2030-01-01T00:00:00+00:00' WHERE id = ?", (arm,))
    assert (await _titles(client, family.ada, "sort=added"))[0] == "arm"


async def test_game_detail_has_files_hashes_and_core(client: AsyncTestClient, family: Family,
                                                     services: Services, roms: Path) -> None:
    nestest = game_id(services, "nestest")
    response = await client.get(f"/api/games/{nestest}", headers=family.ada.headers)
    game = response.json()["game"]
    assert game["platform"] == "nes" and game["playable"] is True and game["why_not_playable"] is None
    assert game["core"]["name"]  # the registry's core for the NES
    (file,) = game["files"]
    rom = roms / "nes" / "nestest.nes"
    assert file["path"] == "nestest.nes" and file["size"] == rom.stat().st_size  # where it lives: admins only
    assert len(file["sha1"]) == 40 and len(file["crc32"]) == 8
    (seen_by_admin,) = (await client.get(f"/api/games/{nestest}", headers=family.admin.headers)).json()["game"]["files"]
    assert seen_by_admin["path"] == str(rom) and seen_by_admin["sha1"] == file["sha1"]
    page = await client.get(f"/games/{nestest}", headers=family.ada.headers)
    assert page.status_code == 200 and str(roms) not in page.text and "nestest.nes" in page.text
    assert (await client.get("/api/games/9999", headers=family.ada.headers)).status_code == 404


async def test_a_platform_without_a_core_says_why(client: AsyncTestClient, family: Family,
                                                  services: Services) -> None:
    pad = game_id(services, "padtest")
    without_wheel_cores(services)
    services.db.execute("UPDATE games SET platform = 'n64' WHERE id = ?", (pad,))
    game = (await client.get(f"/api/games/{pad}", headers=family.ada.headers)).json()["game"]
    assert game["playable"] is False and game["core"] is None
    assert "core" in game["why_not_playable"]


async def test_favourites_are_each_persons_own(client: AsyncTestClient, family: Family,
                                               services: Services) -> None:
    arm = game_id(services, "arm")
    assert (await client.put(f"/api/games/{arm}/favourite", headers=family.ada.headers)).status_code == 200
    assert await _titles(client, family.ada, "favourites=true") == ["arm"]
    assert await _titles(client, family.bob, "favourites=true") == []
    detail = (await client.get(f"/api/games/{arm}", headers=family.bob.headers)).json()["game"]
    assert detail["favourite"] is False
    assert (await client.delete(f"/api/games/{arm}/favourite", headers=family.ada.headers)).status_code == 200
    assert await _titles(client, family.ada, "favourites=true") == []


async def test_collections_are_made_by_admins_and_grant_children(client: AsyncTestClient, family: Family,
                                                                  services: Services) -> None:
    arm, pad = game_id(services, "arm"), game_id(services, "padtest")
    refused = await client.post("/api/collections", json={"name": "Kids"}, headers=family.ada.headers)
    assert refused.status_code == 403
    made = await client.post("/api/collections", json={"name": "Kids", "game_ids": [arm]}, headers=family.admin.headers)
    assert made.status_code == 201, made.text
    cid = made.json()["collection"]["id"]
    again = await client.post("/api/collections", json={"name": "kids"}, headers=family.admin.headers)
    assert again.status_code == 409
    missing = await client.put(f"/api/collections/{cid}/games/9999", headers=family.admin.headers)
    assert missing.status_code == 404
    assert (await client.put(f"/api/collections/{cid}/games/{pad}", headers=family.admin.headers)).status_code == 200
    assert await _titles(client, family.ada, f"collection={cid}") == ["arm", "padtest"]

    # the child sees nothing until granted, then exactly the collection plus granted platforms
    assert await _titles(client, family.kid) == []
    assert (await client.get(f"/api/games/{arm}", headers=family.kid.headers)).status_code == 404
    grant = await client.put(f"/api/admin/users/{family.kid.user_id}/grants",
                             json={"platforms": ["gb"], "collections": [cid]}, headers=family.admin.headers)
    assert grant.status_code == 200, grant.text
    assert sorted(await _titles(client, family.kid)) == ["arm", "cpu instrs", "dmg sound", "padtest"]
    assert (await client.get(f"/api/games/{arm}", headers=family.kid.headers)).status_code == 200
    nestest = game_id(services, "nestest")
    for path in (f"/api/games/{nestest}", f"/api/games/{nestest}/cover", f"/api/games/{nestest}/saves"):
        assert (await client.get(path, headers=family.kid.headers)).status_code == 404, path
    assert (await client.put(f"/api/games/{nestest}/favourite", headers=family.kid.headers)).status_code == 404
    kid_collections = (await client.get("/api/collections", headers=family.kid.headers)).json()["collections"]
    assert [c["name"] for c in kid_collections] == ["Kids"]
    platforms = (await client.get("/api/platforms", headers=family.kid.headers)).json()["platforms"]
    assert {p["platform"] for p in platforms} == {"gb", "gba", "pce"}

    assert (await client.delete(f"/api/collections/{cid}/games/{pad}", headers=family.admin.headers)).status_code == 200
    assert "padtest" not in await _titles(client, family.kid)
    assert (await client.delete(f"/api/collections/{cid}", headers=family.admin.headers)).status_code == 200
    assert sorted(await _titles(client, family.kid)) == ["cpu instrs", "dmg sound"]  # the grant went with it


async def test_cover_is_404_until_one_exists_then_served(client: AsyncTestClient, family: Family,
                                                         services: Services) -> None:
    arm = game_id(services, "arm")
    assert (await client.get(f"/api/games/{arm}/cover", headers=family.ada.headers)).status_code == 404
    png = (services.data.thumbnails / f"{arm}.png")
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    listed = (await client.get("/api/games?q=arm", headers=family.ada.headers)).json()["games"][0]
    assert listed["cover_url"] == f"/api/games/{arm}/cover"
    cover = await client.get(listed["cover_url"], headers=family.ada.headers)
    assert cover.status_code == 200 and cover.content.startswith(b"\x89PNG")
    refused = await client.post(f"/api/games/{arm}/cover", headers=family.kid.headers)
    assert refused.status_code == 403


async def test_a_member_asks_for_one_new_cover_at_a_time(family: Family, services: Services) -> None:
    cpu = game_id(services, "cpu instrs")
    async with play_server(create_app(services)) as server, server.client() as client:  # requests really overlap
        cy = await sign_up(client, services, "Cy")
        asked = [client.post(f"/api/games/{cpu}/cover", headers=cy.headers) for _ in range(3)]
        answers = sorted((r.status_code, r.json()) for r in await asyncio.gather(*asked))
        assert answers[0] == (200, {"cover_url": f"/api/games/{cpu}/cover"}), answers
        assert [(status, body["error"]) for status, body in answers[1:]] == \
            [(409, "a new cover you asked for is still being made; wait for it to finish")] * 2
        again = await client.post(f"/api/games/{cpu}/cover", headers=cy.headers)  # hers to ask again
        assert again.status_code == 200, again.text


async def test_home_json_has_continue_sessions_and_filters(client: AsyncTestClient, family: Family,
                                                           services: Services) -> None:
    pad = game_id(services, "padtest")
    session = services.db.execute("INSERT INTO play_sessions (token, user_id, game_id, core, started_at)"
                                  " VALUES ('x', ?, ?, 'core', '2026-01-01T10:00:00Z')", (family.ada.user_id, pad))
    services.db.execute("INSERT INTO play_events (session_id, kind, user_id, game_id, device_id, at)"
                        " VALUES (?, 'joined', ?, ?, 1, '2026-01-01T10:00:00Z')", (session, family.ada.user_id, pad))
    home = (await client.get("/api/home", headers=family.ada.headers)).json()
    assert [g["title"] for g in home["continue"]] == ["padtest"] and home["continue"][0]["has_continue"] is False
    assert home["sessions"] == []
    assert {p["platform"] for p in home["platforms"]} == set(platform_counts(ROMS))
    assert (await client.get("/api/home", headers=family.bob.headers)).json()["continue"] == []
