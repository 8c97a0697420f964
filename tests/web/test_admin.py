"""Administration: only admins get in; rescans run with progress; cores, server and library overviews."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from tests.support.cores import without_wheel_cores
from tests.web._webapp import Family, sign_up_family
from treazr.services import Services
from treazr.web.app import create_app

ADMIN_PAGES = ("/admin", "/admin/library", "/admin/cores", "/admin/server", "/admin/history")
ADMIN_API = ("/api/admin/library", "/api/admin/library/rescan", "/api/admin/cores", "/api/admin/server",
             "/api/admin/history")


@pytest.fixture
async def client(services: Services) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(services), timeout=60) as test_client:
        yield test_client


@pytest.fixture
async def family(client: AsyncTestClient, services: Services) -> Family:
    return await sign_up_family(client, services)


async def test_only_admins_get_in(client: AsyncTestClient, family: Family) -> None:
    for who in (family.ada, family.kid):
        for path in (*ADMIN_PAGES, *ADMIN_API):
            assert (await client.get(path, headers=who.headers)).status_code == 403, (who.name, path)
        page = await client.get("/admin/library", headers=who.headers)
        assert "Only an admin may open the admin pages." in page.text and "rescan-form" not in page.text
        refused = await client.post("/api/admin/library/rescan", json={}, headers=who.headers)
        assert refused.status_code == 403
    for path in (*ADMIN_PAGES, *ADMIN_API):
        assert (await client.get(path, headers=family.admin.headers)).status_code == 200, path


async def _wait_for(client: AsyncTestClient, family: Family) -> dict:
    for _ in range(600):
        job = (await client.get("/api/admin/library/rescan", headers=family.admin.headers)).json()["job"]
        if job["state"] != "running":
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError("the rescan did not finish")


async def test_rescan_imports_with_progress_then_finds_missing_files(client: AsyncTestClient, family: Family,
                                                                      roms: Path, tmp_path: Path) -> None:
    folder = tmp_path / "roms"
    shutil.copytree(roms / "nes", folder / "nes")
    started = await client.post("/api/admin/library/rescan", json={"paths": [str(folder)]},
                                headers=family.admin.headers)
    assert started.status_code == 202, started.text
    job = await _wait_for(client, family)
    assert job["state"] == "done" and job["report"]["added"] == 5
    assert job["files_done"] == job["files_total"] == 5
    library = (await client.get("/api/admin/library", headers=family.admin.headers)).json()
    assert library["stats"]["games"] == 5 and str(folder) in library["roots"]
    (folder / "nes" / "nestest.nes").unlink()
    again = await client.post("/api/admin/library/rescan", json={}, headers=family.admin.headers)  # every known root
    assert again.status_code == 202
    job = await _wait_for(client, family)
    assert job["report"]["missing"] == 1
    library = (await client.get("/api/admin/library", headers=family.admin.headers)).json()
    assert [f["title"] for f in library["missing_files"]] == ["nestest"]
    page = await client.get("/admin/library", headers=family.admin.headers)
    assert "nestest" in page.text and "Missing files" in page.text


async def test_rescan_refuses_bad_paths_clearly(client: AsyncTestClient, family: Family) -> None:
    nothing = await client.post("/api/admin/library/rescan", json={}, headers=family.admin.headers)
    assert nothing.status_code == 400 and "nothing to rescan" in nothing.json()["error"]
    missing = await client.post("/api/admin/library/rescan", json={"paths": ["/no/such/folder"]},
                                headers=family.admin.headers)
    assert missing.status_code == 400 and "does not exist" in missing.json()["error"]
    wrong = await client.post("/api/admin/library/rescan", json={"paths": "x"}, headers=family.admin.headers)
    assert wrong.status_code == 400


async def test_cores_and_server_overviews(client: AsyncTestClient, family: Family, services: Services) -> None:
    without_wheel_cores(services)
    cores = (await client.get("/api/admin/cores", headers=family.admin.headers)).json()
    playable = {p["platform"]: p for p in cores["platforms"]}
    assert playable["nes"]["playable"] is True and playable["n64"]["playable"] is False
    assert "core" in playable["n64"]["reason"]
    page = await client.get("/admin/cores", headers=family.admin.headers)
    assert "Nintendo Entertainment System" in page.text
    server = (await client.get("/api/admin/server", headers=family.admin.headers)).json()
    assert server["health"]["database"] == "ok" and server["sessions"] == []
    assert server["disk"]["free"] > 0 and server["disk"]["folders"]["database"] > 0
    users_page = await client.get("/admin", headers=family.admin.headers)
    assert 'id="users-table"' in users_page.text and 'id="add-user"' in users_page.text


async def test_openapi_schema_is_for_signed_in_users(client: AsyncTestClient, family: Family) -> None:
    assert (await client.get("/schema")).status_code == 401
    assert (await client.get("/schema/openapi.json")).status_code == 401
    schema = (await client.get("/schema/openapi.json", headers=family.kid.headers)).json()
    for path in ("/api/games", "/api/games/{game_id}", "/api/uploads", "/api/history", "/api/admin/library/rescan",
                 "/api/games/{game_id}/srm", "/api/collections"):
        assert path in schema["paths"], path


async def test_missing_covers_are_made_by_running_each_game(client: AsyncTestClient, family: Family,
                                                            services: Services, roms: Path, tmp_path: Path) -> None:
    folder = tmp_path / "roms"
    shutil.copytree(roms / "gb", folder / "gb")
    await client.post("/api/admin/library/rescan", json={"paths": [str(folder)]}, headers=family.admin.headers)
    await _wait_for(client, family)
    refused = await client.post("/api/admin/library/covers", headers=family.ada.headers)
    assert refused.status_code == 403
    started = await client.post("/api/admin/library/covers", headers=family.admin.headers)
    assert started.status_code == 202 and started.json()["job"]["kind"] == "covers"
    job = await _wait_for(client, family)
    assert job["state"] == "done" and job["report"] == {"made": 2, "without": 0}, job
    games = (await client.get("/api/games", headers=family.ada.headers)).json()["games"]
    for game in games:
        cover = await client.get(game["cover_url"], headers=family.ada.headers)
        assert cover.status_code == 200 and cover.content.startswith(b"\x89PNG")
    again = await client.post("/api/admin/library/covers", headers=family.admin.headers)
    assert again.status_code == 202
    assert (await _wait_for(client, family))["files_total"] == 0  # nothing left to make


async def test_rescan_with_a_dat_names_games_and_lists_the_dat(client: AsyncTestClient, family: Family,
                                                               roms: Path, tmp_path: Path) -> None:
    import hashlib

    folder = tmp_path / "roms"
    shutil.copytree(roms / "nes", folder / "nes")
    data = (folder / "nes" / "nestest.nes").read_bytes()
    dat = tmp_path / "nes.dat"
    dat.write_text(f"""<?xml version="1.0"?>
<datafile><header><name>Test NES</name><description>Test NES</description><version>1</version></header>
<game name="NES Test Cartridge (World)"><rom name="nestest.nes" size="{len(data)}"
 sha1="{hashlib.sha1(data).hexdigest()}"/></game></datafile>""")
    started = await client.post("/api/admin/library/rescan", json={"paths": [str(folder)], "dats": [str(dat)]},
                                headers=family.admin.headers)
    assert started.status_code == 202, started.text
    assert (await _wait_for(client, family))["state"] == "done"
    listed = (await client.get("/api/games?platform=nes", headers=family.ada.headers)).json()["games"]
    titles = [g["title"] for g in listed]
    assert "NES Test Cartridge" in titles and "nestest" not in titles
    library = (await client.get("/api/admin/library", headers=family.admin.headers)).json()
    assert [d["name"] for d in library["dats"]] == ["Test NES"]
    bad = await client.post("/api/admin/library/rescan", json={"dats": [str(tmp_path / "none.dat")]},
                            headers=family.admin.headers)
    assert bad.status_code == 400
