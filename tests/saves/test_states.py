"""Save states through real workers and a real database: slots, thumbnails, Continue, incompatible cores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from treazr.emulation.demo_strip import decode_strip
from treazr.emulation.images import read_png_size
from treazr.emulation.protocol import RawFrame
from treazr.emulation.worker import WorkerHandle, WorkerSpec
from treazr.errors import InvalidContent, InvalidInput, NotFound
from treazr.saves import states
from treazr.services import Services
from treazr.streaming.launch import session_spec

DEBIAN = Path("/usr/lib/x86_64-linux-gnu/libretro")
USER, OTHER_USER, GAME = 1, 2, 7


async def next_frame(handle: WorkerHandle, after: int = 0) -> RawFrame:
    while True:
        message = await handle.recv()
        assert message is not None, "the worker ended"
        if isinstance(message, RawFrame) and message.frame_no > after:
            return message


async def start_demo(services: Services, **fields: object) -> WorkerHandle:
    core = services.cores.require_core("demo")
    spec = await session_spec(services, user_id=USER, game_id=GAME, core=core, content_path=None, **fields)  # type: ignore[arg-type]
    return await WorkerHandle.start(spec)


async def test_slots_round_trip_with_thumbnails(services: Services) -> None:
    handle = await start_demo(services)
    try:
        async with asyncio.timeout(30):
            await next_frame(handle, after=20)
            saved = await states.save_state(services.db, services.data, handle, USER, GAME, 3)
            await next_frame(handle, after=saved.frame_no + 30)
            await states.load_state(services.db, handle, USER, GAME, 3)
            after_load = await next_frame(handle, after=handle.frame_no)
    finally:
        await handle.stop()
    # the strip shows the core's own frame counter: back where the state was saved
    assert decode_strip(after_load.array())[0] == saved.frame_no
    assert (saved.slot, saved.core_name, saved.core_version) == (3, "Treazr Demo", "1.0")
    assert saved.path.endswith("states/1/7/slot3.state") and Path(saved.path).stat().st_size == saved.size
    assert saved.thumbnail is not None
    assert read_png_size(Path(saved.thumbnail).read_bytes()) == (256, 240)
    assert saved.created_at


async def test_ten_slots_and_continue(services: Services) -> None:
    handle = await start_demo(services, resume=False)
    try:
        async with asyncio.timeout(30):
            for slot in [*states.SLOTS, states.CONTINUE_SLOT]:
                await states.save_state(services.db, services.data, handle, USER, GAME, slot)
            with pytest.raises(InvalidInput, match="slot 11"):
                await states.save_state(services.db, services.data, handle, USER, GAME, 11)
    finally:
        await handle.stop()
    listed = await states.list_states(services.db, USER, GAME)
    assert [s.slot for s in listed] == list(range(11))
    assert listed[0].label == "Continue" and listed[10].label == "Slot 10"
    assert len({s.path for s in listed}) == 11
    assert await states.list_states(services.db, OTHER_USER, GAME) == []
    with pytest.raises(NotFound):
        await states.get_state(services.db, OTHER_USER, GAME, 3)
    await states.delete_state(services.db, USER, GAME, 4)
    assert not Path(listed[4].path).exists() and not Path(listed[4].thumbnail or "").exists()
    with pytest.raises(NotFound):
        await states.get_state(services.db, USER, GAME, 4)


async def test_a_session_resumes_from_the_continue_state(services: Services) -> None:
    handle = await start_demo(services)
    try:
        async with asyncio.timeout(30):
            await next_frame(handle, after=40)
            saved = await states.save_state(services.db, services.data, handle, USER, GAME, states.CONTINUE_SLOT)
    finally:
        await handle.stop()
    assert await states.continue_state_path(services.db, USER, GAME) == saved.path
    resumed = await start_demo(services)
    try:
        async with asyncio.timeout(30):
            first = await next_frame(resumed)
    finally:
        await resumed.stop()
    assert resumed.info["state"] == {"loaded": True, "path": saved.path, "frame_no": 0,
                                     "saved_frame_no": saved.frame_no}
    assert decode_strip(first.array())[0] == saved.frame_no


async def test_a_continue_state_that_does_not_fit_starts_the_game_fresh_and_is_kept(services: Services) -> None:
    handle = await start_demo(services)
    try:
        async with asyncio.timeout(30):
            await next_frame(handle, after=60)
            saved = await states.save_state(services.db, services.data, handle, USER, GAME, states.CONTINUE_SLOT)
    finally:
        await handle.stop()
    note = Path(saved.path).with_suffix(".json")
    note.write_text(json.dumps({**json.loads(note.read_text()), "core_version": "0.9"}))  # an older build's
    kept = Path(saved.path).read_bytes()
    fresh = await start_demo(services)
    try:
        async with asyncio.timeout(30):
            first = await next_frame(fresh)
    finally:
        await fresh.stop()
    assert fresh.error is None and fresh.info["state"]["loaded"] is False
    assert "made by Treazr Demo 0.9, not Treazr Demo 1.0" in fresh.info["state"]["reason"]
    assert decode_strip(first.array())[0] < saved.frame_no  # from the beginning
    assert Path(saved.path).read_bytes() == kept


async def test_a_state_from_another_core_is_refused_and_the_session_goes_on(services: Services, roms: Path) -> None:
    content = str(roms / "gb/cpu_instrs.gb")
    gambatte = WorkerSpec(core_path=str(DEBIAN / "gambatte_libretro.so"), content_path=content,
                          system_dir=str(services.data.bios), realtime=False)
    handle = await WorkerHandle.start(gambatte)
    try:
        async with asyncio.timeout(30):
            await next_frame(handle, after=30)
            saved = await states.save_state(services.db, services.data, handle, USER, GAME, 1)
    finally:
        await handle.stop()
    assert saved.core_name == "Gambatte"
    mgba = WorkerSpec(core_path=str(DEBIAN / "mgba_libretro.so"), content_path=content,
                      system_dir=str(services.data.bios), realtime=False)
    handle = await WorkerHandle.start(mgba)
    try:
        async with asyncio.timeout(30):
            with pytest.raises(InvalidContent, match=r"saved with Gambatte v0\.5\.0, but this game now runs on mGBA"):
                await states.load_state(services.db, handle, USER, GAME, 1)
            # even without the database's word, the worker refuses it: by the note beside the state...
            with pytest.raises(InvalidContent, match=r"made by Gambatte v0\.5\.0, not mGBA 0\.10\.1"):
                await handle.load_state(saved.path)
            # ... and a state that came without one (from RetroArch) is judged by the core itself
            bare = services.data.tmp / "from-retroarch.state"
            bare.write_bytes(Path(saved.path).read_bytes())
            with pytest.raises(InvalidContent, match="the core refused this state"):
                await handle.load_state(bare)
            await next_frame(handle, after=handle.frame_no + 10)
    finally:
        await handle.stop()
    assert handle.error is None


async def test_ending_play_writes_continue_and_records_the_save(services: Services) -> None:
    from treazr.saves.save_ram import save_ram_info
    from treazr.saves.session_end import end_play

    handle = await start_demo(services)
    handle.fast_forward(True)
    async with asyncio.timeout(30):
        await next_frame(handle, after=130)  # a point has been played: save RAM changed
        ended = await end_play(services.db, services.data, handle, user_id=USER, game_id=GAME)
    state = ended.continue_state
    assert handle.error is None and not handle.running
    assert state is not None and state.slot == states.CONTINUE_SLOT
    assert ended.warning is None
    info = await save_ram_info(services.db, services.data, USER, GAME)
    assert info is not None and info["size"] == 16 and info["core_name"] == "Treazr Demo"
    resumed = await start_demo(services)
    try:
        assert resumed.info["save_ram_loaded"] == 16
        async with asyncio.timeout(30):
            first = await next_frame(resumed)
    finally:
        await resumed.stop()
    assert decode_strip(first.array())[0] == state.frame_no


async def test_a_state_of_another_version_of_the_same_core_is_refused(services: Services) -> None:
    handle = await start_demo(services, resume=False)
    try:
        async with asyncio.timeout(30):
            await next_frame(handle, after=10)
            saved = await states.save_state(services.db, services.data, handle, USER, GAME, 2)
            note = Path(saved.path).with_suffix(".json")
            assert json.loads(note.read_text())["core_version"] == "1.0"
            # the same bytes, as an older build of the demo core would have written them
            note.write_text(json.dumps({"core_name": "Treazr Demo", "core_version": "0.9"}))
            with pytest.raises(InvalidContent, match=r"made by Treazr Demo 0\.9, not Treazr Demo 1\.0"):
                await handle.load_state(saved.path)
            note.write_text("{damaged")
            with pytest.raises(InvalidContent, match="damaged"):
                await handle.load_state(saved.path)
            await next_frame(handle, after=handle.frame_no + 5)  # the session goes on
    finally:
        await handle.stop()
    assert handle.error is None
