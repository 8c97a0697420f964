"""A battery save that does not fit its game, as a person meets it: an ``.srm`` from another emulator
uploaded, the game started, played, ended, a better file uploaded, the save deleted. The game is never
locked out by a file, and the file is never thrown away."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.streaming.client import PlayServer, StreamClient, play_server
from tests.support.identity import Identity, sign_up
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.web.app import create_app

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


async def _start(server: PlayServer, who: Identity, game_id: int) -> dict[str, object]:
    async with server.client() as client:
        response = await client.post("/api/play/sessions", json={"game_id": game_id}, headers=who.headers)
    assert response.status_code == 201, response.text
    session: dict[str, object] = response.json()["session"]
    return session


async def _play_and_end(server: PlayServer, who: Identity, session: dict[str, object]) -> None:
    async with StreamClient.connect(server, str(session["token"]), who) as viewer:
        await viewer.receive(frames=30)
    async with server.client() as client:
        ended = await client.post(f"/api/play/sessions/{session['token']}/end", headers=who.headers)
    assert ended.status_code == 200, ended.text


@pytest.mark.slow
async def test_a_battery_save_too_big_for_its_game_is_set_aside_and_the_game_still_plays(
        server: PlayServer, services: Services, roms: Path) -> None:
    game = import_paths(services, [roms / "gba/sram.gba"]).game_ids[0]
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada")
        bob = await sign_up(client, services, "Bob")
        foreign = bytes(range(256)) * 2048  # 512 KiB: no GBA cartridge's save is this big
        uploaded = await client.put(f"/api/games/{game}/srm", content=foreign, headers={**ada.headers, **OCTETS})
        assert uploaded.status_code == 200, uploaded.text  # nothing has told the server this game's size yet

    session = await _start(server, ada, game)
    saves = services.data.saves / str(ada.user_id)
    [kept] = saves.glob(f"{game}.unused-*.srm")
    assert kept.read_bytes() == foreign
    assert session["notice"] == (
        f"Your battery save could not be used (the save is {len(foreign)} bytes but this game's save RAM holds "
        f"131072), so the game started with an empty save; the file is kept on the server as {kept.name}.")
    await _play_and_end(server, ada, session)
    async with asyncio.timeout(30):
        while services.db.query_one("SELECT size FROM save_ram WHERE user_id = ? AND core_name != ''",
                                    (ada.user_id,)) is None:
            await asyncio.sleep(0.05)

    async with server.client() as client:
        listed = (await client.get("/api/games", headers=ada.headers)).json()["games"]
        assert [g["playable"] for g in listed] == [True]  # a person's file never marks the game unplayable
        # now the server knows the game's save RAM (mGBA offers 128 KiB before the game runs, then the 32 KiB
        # of SRAM the game uses): the same file is refused at upload, with the sizes
        again = await client.put(f"/api/games/{game}/srm", content=foreign, headers={**ada.headers, **OCTETS})
        assert again.status_code == 422
        assert again.json()["error"] == (f"the save file is {len(foreign)} bytes, but this game's save RAM holds "
                                         "32768: is it from another game or emulator?")
        fitting = bytes(range(256)) * 128
        assert (await client.put(f"/api/games/{game}/srm", content=fitting,
                                 headers={**ada.headers, **OCTETS})).status_code == 200
    session = await _start(server, ada, game)
    assert session["notice"] is None
    await _play_and_end(server, ada, session)

    async with server.client() as client:
        assert (await client.delete(f"/api/games/{game}/srm", headers=bob.headers)).status_code == 404
        assert (saves / f"{game}.srm").is_file()  # Bob's delete never reaches Ada's save
        deleted = await client.delete(f"/api/games/{game}/srm", headers=ada.headers)
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["save_ram"] is None and not (saves / f"{game}.srm").exists()
        assert (await client.get(f"/api/games/{game}/srm", headers=ada.headers)).status_code == 404
    assert kept.read_bytes() == foreign  # the set-aside file is still there
