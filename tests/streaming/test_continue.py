"""Start, end, come back, Continue: for every installed core, through the server as a player uses it.

Each case plays a real ROM in a real worker behind the real app (HTTP to start, the WebSocket to save a
slot and to end), comes back with Continue and then with the slot, and checks the game picks up exactly
where it was left: the state's thumbnail is the core's own frame at the saved frame number, the first
frame streamed after Continue matches the frame that follows it, and a state saved a little later holds
exactly the frame an uninterrupted run shows at that point (the core's frames without input, computed in
a separate process).
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest
import websockets

from tests.streaming.client import PlayServer, StreamClient, core_frames, play_server, psnr
from tests.support.identity import Identity, sign_up
from tests.support.roms import atari_2600_bars
from treazr.emulation.registry import core_options
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.web.app import create_app

# core id -> (platform, test ROM under the shared folder; None: the demo core, game 0)
CASES: dict[str, tuple[str, str | None]] = {
    "treazr_demo": ("demo", None),
    "nestopia": ("nes", "nes/nes15-NTSC.nes"),
    "gambatte": ("gb", "gb/cpu_instrs.gb"),
    "mgba": ("gba", "gba/sram.gba"),  # its state grows once the game touches save RAM
    "bsnes_mercury_performance": ("snes", "snes/RotZoom.sfc"),
    "mednafen_pce_fast": ("pce", "pce/padtest.pce"),
    "genesis_plus_gx": ("md", "md/Airstriker.md"),  # from the stable-retro wheel, like parallel_n64
    "parallel_n64": ("n64", "n64/InputCPU.N64"),
    "stella": ("a2600", "made:bars.a26"),  # written by tests.support.roms.atari_2600_bars
}
PLAYED = 90  # frames played before ending, at least


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


def test_every_core_a_platform_plays_with_has_a_continue_case(services: Services) -> None:
    """Every core the server would start for some platform (the others installed are never started)."""
    chosen = {core.id for slug in services.cores.manifests if (core := services.cores.core_for(slug)) is not None}
    assert chosen <= set(CASES), f"add a Continue case for {sorted(chosen - set(CASES))}"


async def _start(server: PlayServer, who: Identity, game_id: int, slot: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {"game_id": game_id} if slot is None else {"game_id": game_id, "slot": slot}
    async with server.client() as client:
        response = await client.post("/api/play/sessions", json=body, headers=who.headers)
    assert response.status_code in (200, 201), response.text
    session: dict[str, object] = response.json()["session"]
    return session


async def _play_save_and_end(server: PlayServer, who: Identity, session: dict[str, object], slot: int,
                             frames: int) -> StreamClient:
    """Watch ``frames`` frames, save into ``slot``, watch a few more, then end the game from the player."""
    async with StreamClient.connect(server, str(session["token"]), who) as viewer:
        await viewer.receive(frames=1)
        while viewer.frames[-1].frame_no < frames:
            await viewer.receive(frames=1)
        await viewer.command("save_state", slot=slot)
        await viewer.receive(until="saved")
        await viewer.receive(frames=10)
        await viewer.command("end")
        with pytest.raises(websockets.ConnectionClosed):
            await viewer.receive(until="never")
    return viewer


async def _ended(services: Services, session: dict[str, object]) -> None:
    async with asyncio.timeout(30):  # the socket closes before the session's last rows are written
        while services.db.query_one("SELECT 1 AS done FROM play_sessions WHERE id = ? AND ended_at IS NOT NULL",
                                    (session["id"],)) is None:
            await asyncio.sleep(0.05)


def _png_rgb(data: bytes) -> np.ndarray:
    """A thumbnail decoded by FFmpeg's PNG decoder (not by our own writer's inverse)."""
    with av.open(io.BytesIO(data), format="png_pipe") as container:
        frame = next(container.decode(video=0))
        rgb: np.ndarray = frame.to_ndarray(format="rgb24")
    return rgb


def _state(services: Services, who: Identity, game_id: int, slot: int) -> tuple[int, np.ndarray]:
    row = services.db.query_one("SELECT frame_no, thumbnail, path FROM save_states WHERE user_id = ? AND game_id = ?"
                                " AND slot = ?", (who.user_id, game_id, slot))
    assert row is not None, f"no state in slot {slot}"
    note = json.loads(Path(row["path"]).with_suffix(".json").read_text())
    assert note["frame_no"] == row["frame_no"]  # the note and the row agree
    return int(row["frame_no"]), _png_rgb(Path(row["thumbnail"]).read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("core_id", sorted(CASES))
async def test_end_then_continue_and_load_a_slot_pick_up_exactly_where_the_game_was(
        server: PlayServer, services: Services, roms: Path, tmp_path: Path, core_id: str) -> None:
    if core_id not in services.cores.cores:
        pytest.skip(f"the core {core_id} is not installed here")  # the guard test above keeps this honest
    platform, rom = CASES[core_id]
    core = services.cores.core(core_id)
    assert services.cores.core_for(platform) == core
    game_id = 0
    content = None if rom is None else atari_2600_bars(tmp_path / rom[5:]) if rom.startswith("made:") else roms / rom
    if content is not None:
        report = import_paths(services, [content])
        assert report.added == 1, report.failed
        game_id = report.game_ids[0]
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada")

    first = await _start(server, ada, game_id)
    assert first["started_from"] == "new"
    await _play_save_and_end(server, ada, first, 3, PLAYED)
    await _ended(services, first)
    slot3_at, slot3_picture = _state(services, ada, game_id, 3)
    continue_at, continue_picture = _state(services, ada, game_id, 0)
    assert continue_at > slot3_at >= PLAYED

    # Continue: the game starts where it ended; then the slot, where it was saved
    for slot, saved_at in ((None, continue_at), (3, slot3_at)):
        session = await _start(server, ada, game_id, slot)
        assert session["started_from"] == ("continue" if slot is None else "slot 3"), json.dumps(session)
        assert session["notice"] is None
        viewer = await _play_save_and_end(server, ada, session, 5, 20)
        await _ended(services, session)
        later_at, later_picture = _state(services, ada, game_id, 5)
        first_shown, last_shown = viewer.frames[0], viewer.frames[-1]
        reference = core_frames(
            Path(core.path),
            content,
            saved_at + max(later_at, last_shown.frame_no),
            tmp_path,
            core_options(services.cores.manifests, core.id),
        )
        # frame n of the core is reference[n - 1]; a session counts its frames from 1 after loading the state
        assert np.array_equal(continue_picture if slot is None else slot3_picture, reference[saved_at - 1])
        assert np.array_equal(later_picture, reference[saved_at + later_at - 1])
        # the stream is H.264: the first frame shown (a first key frame, still coarse) is closer to the expected
        # frame than to any other of the core's run (animated pictures tell frames apart; a still one ties), and
        # the last one is close to its expected frame
        height, width = reference[-1].shape[:2]  # H.264 wants even sizes: the stream may carry a padding row
        likeness = [
            psnr(first_shown.rgb[:height, :width], frame) if frame.shape[:2] == (height, width) else 0.0
            for frame in reference
        ]
        expected = likeness[saved_at + first_shown.frame_no - 1]
        assert expected > 20 and expected >= max(likeness) - 0.5, (slot, first_shown.frame_no, expected)
        last = psnr(last_shown.rgb[:height, :width], reference[saved_at + last_shown.frame_no - 1])
        assert last > 30, (slot, last_shown.frame_no, last)
    assert continue_picture.shape == later_picture.shape


@pytest.mark.slow
async def test_a_continue_state_of_another_core_version_starts_fresh_with_a_notice(
        server: PlayServer, services: Services) -> None:
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada")
    first = await _start(server, ada, 0)
    await _play_save_and_end(server, ada, first, 3, 30)
    await _ended(services, first)
    row = services.db.query_one("SELECT path FROM save_states WHERE user_id = ? AND slot = 0", (ada.user_id,))
    assert row is not None
    state, note = Path(row["path"]), Path(row["path"]).with_suffix(".json")
    note.write_text(json.dumps({**json.loads(note.read_text()), "core_version": "0.9"}))  # an older build's
    kept = state.read_bytes()
    again = await _start(server, ada, 0)
    assert again["started_from"] == "new"
    assert again["notice"] == ("Your Continue state could not be loaded: this state was made by Treazr Demo 0.9, "
                               "not Treazr Demo 1.0 (another core or core version), so it was not loaded. Starting "
                               "from the beginning; the state is kept.")
    async with StreamClient.connect(server, str(again["token"]), ada) as viewer:
        await viewer.receive(frames=5)
    assert state.read_bytes() == kept
    started = services.db.query_one("SELECT started_from FROM play_sessions WHERE id = ?", (again["id"],))
    assert started == {"started_from": "new"}


@pytest.mark.slow
async def test_a_file_its_core_refuses_is_marked_not_playable_with_the_cores_reason(
        server: PlayServer, services: Services, roms: Path, tmp_path: Path) -> None:
    rom = tmp_path / "Broken Game.nes"
    # a whole iNES file of mapper 98, which no board uses: the importer finds nothing wrong, nestopia refuses it
    rom.write_bytes(b"NES\x1a" + bytes([2, 1, 0x20, 0x60]) + bytes(8) + bytes(2 * 16384 + 8192))
    report = import_paths(services, [rom])
    assert report.added == 1, report.failed  # the importer cannot tell: only the core can
    game_id = report.game_ids[0]
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada")
        listed = (await client.get("/api/games", headers=ada.headers)).json()
        assert [g["playable"] for g in listed["games"]] == [True]
        refused = await client.post("/api/play/sessions", json={"game_id": game_id}, headers=ada.headers)
        assert refused.status_code == 422
        assert refused.json()["error"] == "cannot load Broken Game.nes with Nestopia: the core refused the content"
        listed = (await client.get("/api/games", headers=ada.headers)).json()
        assert [g["playable"] for g in listed["games"]] == [False]
        page = (await client.get(f"/games/{game_id}", headers=ada.headers)).text
        assert "refused its file (cannot load Broken Game.nes with Nestopia: the core refused the content)" in page
        assert 'id="retry-button"' in page and 'id="play-button"' not in page
    # a start that works (a BIOS added, a core updated since) clears the mark: here a good game marked as refused
    good = import_paths(services, [roms / "nes/nes15-NTSC.nes"]).game_ids[0]
    services.db.execute("UPDATE games SET refused_reason = 'an old reason', refused_core = 'Nestopia 0.1'"
                        " WHERE id = ?", (good,))
    session = await _start(server, ada, good)
    assert session["started_from"] == "new"
    row = services.db.query_one("SELECT refused_reason, refused_core FROM games WHERE id = ?", (good,))
    assert row == {"refused_reason": None, "refused_core": None}
