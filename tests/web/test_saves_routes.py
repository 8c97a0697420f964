"""Your saves and states through the web: list, thumbnail, download, delete, .srm round trip, and
that nobody reaches another person's files (IDOR) with two real signed-in members."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import numpy as np
from litestar.testing import AsyncTestClient

from tests.web._webapp import Family, game_id
from treazr.emulation.images import png_from_bgrx
from treazr.saves.states import state_path
from treazr.services import Services


def _state(services: Services, user_id: int, game: int, slot: int, payload: bytes) -> Path:
    """A state as the worker leaves it: the file, its PNG thumbnail, and the row."""
    path = state_path(services.data, user_id, game, slot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    thumb = path.with_suffix(".png")
    thumb.write_bytes(png_from_bgrx(np.full((8, 8, 4), slot * 20, dtype=np.uint8)))
    services.db.execute(
        "INSERT INTO save_states (user_id, game_id, slot, path, thumbnail, size, frame_no, core_name, core_version,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, 60, 'core', '1', '2026-01-01T10:00:00+00:00')",
        (user_id, game, slot, str(path), str(thumb), len(payload)))
    return path


async def test_list_thumbnail_download_and_delete_own_states(client: AsyncTestClient, family: Family,
                                                             services: Services) -> None:
    game = game_id(services, "nestest")
    _state(services, family.ada.user_id, game, 0, b"continue-bytes")
    slot3 = _state(services, family.ada.user_id, game, 3, b"slot-three")
    saves = (await client.get(f"/api/games/{game}/saves", headers=family.ada.headers)).json()
    assert [s["label"] for s in saves["states"]] == ["Continue", "Slot 3"]
    assert saves["continue"]["slot"] == 0 and saves["save_ram"] is None
    thumb = await client.get(saves["states"][1]["thumbnail_url"], headers=family.ada.headers)
    assert thumb.status_code == 200 and thumb.content.startswith(b"\x89PNG")
    download = await client.get(saves["states"][1]["download_url"], headers=family.ada.headers)
    assert download.content == b"slot-three" and "attachment" in download.headers["content-disposition"]
    deleted = await client.delete(f"/api/games/{game}/states/3", headers=family.ada.headers)
    assert deleted.status_code == 200 and not slot3.exists()
    assert (await client.get(f"/api/games/{game}/states/3/download", headers=family.ada.headers)).status_code == 404
    bad = await client.delete(f"/api/games/{game}/states/42", headers=family.ada.headers)
    assert bad.status_code == 400 and "slot" in bad.json()["error"]


async def test_another_member_never_reaches_your_states_or_save(client: AsyncTestClient, family: Family,
                                                                services: Services) -> None:
    game = game_id(services, "nestest")
    ada_state = _state(services, family.ada.user_id, game, 2, b"ada's state")
    upload = await client.put(f"/api/games/{game}/srm", content=b"ada-battery" * 10,
                              headers={**family.ada.headers, "Content-Type": "application/octet-stream"})
    assert upload.status_code == 200, upload.text
    bob = family.bob.headers
    mine = (await client.get(f"/api/games/{game}/saves", headers=bob)).json()
    assert mine["states"] == [] and mine["save_ram"] is None
    for path in (f"/api/games/{game}/states/2/download", f"/api/games/{game}/states/2/thumbnail",
                 f"/api/games/{game}/srm"):
        response = await client.get(path, headers=bob)
        assert response.status_code == 404, path
        assert b"ada" not in response.content
    assert (await client.delete(f"/api/games/{game}/states/2", headers=bob)).status_code == 404
    assert ada_state.read_bytes() == b"ada's state"
    # Bob's own upload lands in his save, never in Ada's
    await client.put(f"/api/games/{game}/srm", content=b"bob-battery",
                     headers={**bob, "Content-Type": "application/octet-stream"})
    assert (await client.get(f"/api/games/{game}/srm", headers=family.ada.headers)).content == b"ada-battery" * 10
    assert (await client.get(f"/api/games/{game}/srm", headers=bob)).content == b"bob-battery"


async def test_srm_round_trip_is_retroarch_bytes(client: AsyncTestClient, family: Family,
                                                 services: Services) -> None:
    game = game_id(services, "sram")
    data = bytes(range(256)) * 128  # a 32 KiB cartridge save
    response = await client.put(f"/api/games/{game}/srm", content=data,
                                headers={**family.ada.headers, "Content-Type": "application/octet-stream"})
    assert response.status_code == 200
    assert response.json()["save_ram"]["size"] == len(data)
    back = await client.get(f"/api/games/{game}/srm", headers=family.ada.headers)
    assert back.content == data and 'filename="sram.srm"' in back.headers["content-disposition"]
    assert (services.data.saves / str(family.ada.user_id) / f"{game}.srm").read_bytes() == data
    empty = await client.put(f"/api/games/{game}/srm", content=b"",
                             headers={**family.ada.headers, "Content-Type": "application/octet-stream"})
    assert empty.status_code == 422 and "empty" in empty.json()["error"]
    assert (services.data.saves / str(family.ada.user_id) / f"{game}.srm").read_bytes() == data  # nothing lost


async def test_a_save_of_a_title_in_any_script_downloads_under_its_own_name(client: AsyncTestClient, family: Family,
                                                                          services: Services) -> None:
    game = game_id(services, "sram")
    services.db.execute("UPDATE games SET title = ? WHERE id = ?", ("ポケモン 金/銀 (Ü)", game))
    await client.put(f"/api/games/{game}/srm", content=b"gold", headers={**family.ada.headers,
                                                                          "Content-Type": "application/octet-stream"})
    back = await client.get(f"/api/games/{game}/srm", headers=family.ada.headers)
    assert back.status_code == 200 and back.content == b"gold"
    disposition = back.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')  # an ASCII fallback for old clients
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "ポケモン 金_銀 (Ü).srm"  # a slash never reaches a file name


async def test_children_read_but_cannot_delete_or_replace(client: AsyncTestClient, family: Family,
                                                          services: Services) -> None:
    game = game_id(services, "cpu instrs")
    await client.put(f"/api/admin/users/{family.kid.user_id}/grants", json={"platforms": ["gb"]},
                     headers=family.admin.headers)
    path = _state(services, family.kid.user_id, game, 1, b"kid state")
    kid = family.kid.headers
    assert len((await client.get(f"/api/games/{game}/saves", headers=kid)).json()["states"]) == 1
    assert (await client.delete(f"/api/games/{game}/states/1", headers=kid)).status_code == 403
    refused = await client.put(f"/api/games/{game}/srm", content=b"x",
                               headers={**kid, "Content-Type": "application/octet-stream"})
    assert refused.status_code == 403
    assert (await client.delete(f"/api/games/{game}/srm", headers=kid)).status_code == 403
    assert path.exists()
    hidden = game_id(services, "nestest")  # not granted: as if it did not exist
    assert (await client.get(f"/api/games/{hidden}/saves", headers=kid)).status_code == 404
