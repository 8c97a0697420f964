"""Worker processes with real cores: frames, input, pause/reset/fast-forward, crashes, save RAM."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import struct
import sys
from pathlib import Path

import av
import pytest

from treazr.emulation.demo_strip import decode_strip
from treazr.emulation.protocol import AudioPacket, Event, RawFrame, VideoPacket
from treazr.emulation.worker import WorkerHandle, WorkerSpec
from treazr.errors import CoreCrashed, CoreError, InvalidContent, InvalidInput
from treazr.paths import native_dir

DEBIAN = Path("/usr/lib/x86_64-linux-gnu/libretro")
UP, A = 1 << 4, 1 << 8


@pytest.fixture
def demo_core() -> str:
    path = native_dir() / "treazr_demo_libretro.so"
    assert path.is_file(), "the demo core is not built: run bash emulator_cores/build.sh"
    return str(path)


def demo_spec(core: str, tmp_path: Path, **fields: object) -> WorkerSpec:
    return WorkerSpec(core_path=core, content_path=None, system_dir=str(tmp_path), **fields)  # type: ignore[arg-type]


async def next_frame(handle: WorkerHandle) -> RawFrame:
    while True:
        message = await handle.recv()
        assert message is not None, "the worker ended"
        if isinstance(message, RawFrame):
            return message


async def frame_at_least(handle: WorkerHandle, frame_no: int) -> RawFrame:
    while (frame := await next_frame(handle)).frame_no < frame_no:
        pass
    return frame


async def until_crash(handle: WorkerHandle) -> CoreCrashed:
    with pytest.raises(CoreCrashed) as caught:
        while True:
            message = await handle.recv()
            assert message is not None, "the worker ended cleanly instead of crashing"
    return caught.value


def demo_save(data: bytes) -> tuple[bytes, int, int]:
    magic, best, points, _ = struct.unpack("<4sIII", data)
    return magic, best, points


async def test_streams_raw_frames_and_audio_from_the_demo_core(demo_core: str, tmp_path: Path) -> None:
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path))
    try:
        assert handle.core_name == "Treazr Demo"
        assert handle.av_info["fps"] == pytest.approx(60.0)
        frames: list[RawFrame] = []
        audio = 0
        async with asyncio.timeout(20):
            while len(frames) < 20:
                message = await handle.recv()
                if isinstance(message, RawFrame):
                    frames.append(message)
                elif isinstance(message, AudioPacket):
                    audio += len(message.data)
    finally:
        await handle.stop()
    assert (frames[0].width, frames[0].height) == (256, 240)
    assert [f.frame_no for f in frames] == list(range(1, 21))
    # the strip counts retro_run calls before the frame: frame n of ours shows n - 1
    assert [decode_strip(f.array())[0] for f in frames] == list(range(20))
    assert audio >= 19 * 800 * 4  # 800 stereo int16 samples per frame
    assert handle.error is None


async def test_streams_frames_from_a_debian_core(roms: Path, tmp_path: Path) -> None:
    spec = WorkerSpec(core_path=str(DEBIAN / "gambatte_libretro.so"), content_path=str(roms / "gb/cpu_instrs.gb"),
                      system_dir=str(tmp_path), realtime=False)
    handle = await WorkerHandle.start(spec)
    try:
        async with asyncio.timeout(20):
            frame = await frame_at_least(handle, 60)
    finally:
        await handle.stop()
    assert (frame.width, frame.height) == (160, 144)
    assert handle.core_name == "Gambatte"
    assert len({bytes(frame.array()[y, :, :3]) for y in range(144)}) > 1, "the picture is one flat colour"


async def test_encoded_stream_decodes_back_to_the_frames(demo_core: str, tmp_path: Path) -> None:
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path, video={"chroma": "444", "bitrate_kbps": 3000}))
    decoder = av.CodecContext.create("h264", "r")
    configs: list[dict[str, object]] = []
    packets: list[VideoPacket] = []
    decoded: list[tuple[int, int]] = []
    opus = 0
    try:
        async with asyncio.timeout(20):
            while len(decoded) < 20:
                message = await handle.recv()
                if isinstance(message, Event) and message.name == "video_config":
                    configs.append(message.data)
                elif isinstance(message, VideoPacket):
                    packets.append(message)
                    for picture in decoder.decode(av.Packet(message.data)):
                        decoded.append((message.frame_no, decode_strip(picture.to_ndarray(format="rgb24"))[0]))
                    if len(packets) == 10:
                        handle.request_keyframe()
                elif isinstance(message, AudioPacket):
                    opus += 1
    finally:
        await handle.stop()
    assert (handle.info["video"], handle.info["audio"]) == ("h264", "opus")
    assert len(configs) == 1 and str(configs[0]["codec"]).startswith("avc1.") and configs[0]["width"] == 256
    assert packets[0].key and any(p.key for p in packets[10:])
    assert all(counter == frame_no - 1 for frame_no, counter in decoded)
    assert opus > 0


async def test_input_reaches_the_core_and_shows_in_the_marker_strip(demo_core: str, tmp_path: Path) -> None:
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path))
    try:
        async with asyncio.timeout(20):
            await next_frame(handle)
            handle.set_input(0, UP)
            handle.set_input(1, A | UP)
            while decode_strip((await next_frame(handle)).array())[1:] != (UP, A | UP):
                pass
            shown = [decode_strip((await next_frame(handle)).array())[1:] for _ in range(5)]
            assert shown == [(UP, A | UP)] * 5
            handle.set_input(0, 0)
            while decode_strip((await next_frame(handle)).array())[1:] != (0, A | UP):
                pass
        with pytest.raises(InvalidInput):
            handle.set_input(2, UP)
    finally:
        await handle.stop()


async def test_pause_reset_and_fast_forward(demo_core: str, tmp_path: Path) -> None:
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path))
    try:
        async with asyncio.timeout(30):
            await frame_at_least(handle, 30)
            handle.pause(True)
            while not (isinstance(m := await handle.recv(), Event) and m.name == "paused"):
                pass
            paused_at = m.data["frame_no"]
            await asyncio.sleep(0.3)
            handle.pause(False)
            resumed = await next_frame(handle)
            assert resumed.frame_no == paused_at + 1  # nothing ran while paused
            handle.reset()
            while decode_strip((frame := await next_frame(handle)).array())[0] > 5:
                pass
            assert frame.frame_no > resumed.frame_no  # our count goes on; the core's starts over
            handle.fast_forward(True)
            previous = await next_frame(handle)
            while (current := await next_frame(handle)).frame_no - previous.frame_no != 4:
                previous = current  # fast-forward runs four frames for each one it shows
            handle.fast_forward(False)
            previous = current
            while (current := await next_frame(handle)).frame_no - previous.frame_no != 1:
                previous = current
    finally:
        await handle.stop()


@pytest.mark.parametrize(("fault", "expected"), [("segfault", "SIGSEGV"), ("abort", "SIGABRT")])
async def test_a_crashing_core_ends_only_its_worker(demo_core: str, tmp_path: Path, fault: str,
                                                    expected: str) -> None:
    spec = demo_spec(demo_core, tmp_path, options={"treazr_demo_fault": fault, "treazr_demo_fault_frame": "30"})
    handle = await WorkerHandle.start(spec)
    async with asyncio.timeout(20):
        crash = await until_crash(handle)
    await handle.stop()
    assert expected in str(crash) and "Treazr Demo" in str(crash)
    assert "at frame" in str(crash)
    assert handle.error is crash
    # this process is fine and can start the next session
    again = await WorkerHandle.start(demo_spec(demo_core, tmp_path))
    try:
        async with asyncio.timeout(20):
            await next_frame(again)
    finally:
        await again.stop()


async def test_a_hung_core_is_killed_after_the_hang_timeout(demo_core: str, tmp_path: Path) -> None:
    spec = demo_spec(demo_core, tmp_path, hang_timeout_s=1.0,
                     options={"treazr_demo_fault": "hang", "treazr_demo_fault_frame": "10"})
    handle = await WorkerHandle.start(spec)
    async with asyncio.timeout(20):
        crash = await until_crash(handle)
    await handle.stop()
    assert "hung" in str(crash) and "stopped producing frames for 1 s" in str(crash)
    assert handle._process.returncode is not None


async def test_a_core_that_hangs_as_the_player_pauses_is_still_caught(demo_core: str, tmp_path: Path) -> None:
    spec = demo_spec(demo_core, tmp_path, hang_timeout_s=1.0,
                     options={"treazr_demo_fault": "hang", "treazr_demo_fault_frame": "1"})
    handle = await WorkerHandle.start(spec)
    async with asyncio.timeout(20):
        await next_frame(handle)  # the core hangs in the very next retro_run
        await asyncio.sleep(0.2)
        handle.pause(True)  # never answered: the worker is stuck inside the core
        crash = await until_crash(handle)
    await handle.stop()
    assert "hung" in str(crash)


async def test_a_crash_keeps_the_save_ram_of_the_last_flush(demo_core: str, tmp_path: Path) -> None:
    srm = tmp_path / "saves" / "1.srm"
    # the demo core records a point at frame 118 and the next one at frame 391; it crashes at 300
    spec = demo_spec(demo_core, tmp_path, save_ram_path=str(srm),
                     options={"treazr_demo_fault": "segfault", "treazr_demo_fault_frame": "300"})
    handle = await WorkerHandle.start(spec)
    handle.fast_forward(True)
    async with asyncio.timeout(30):
        await frame_at_least(handle, 125)
        assert await handle.flush_save_ram() is True
        flushed = srm.read_bytes()
        crash = await until_crash(handle)
    await handle.stop()
    assert "SIGSEGV" in str(crash)
    assert srm.read_bytes() == flushed
    assert demo_save(flushed) == (b"TZD1", 0, 1)
    assert list(srm.parent.iterdir()) == [srm], "a temporary file was left behind"


async def test_save_ram_is_flushed_on_pause_and_on_stop_and_loaded_again(demo_core: str, tmp_path: Path) -> None:
    srm = tmp_path / "1.srm"
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path, save_ram_path=str(srm)))
    async with asyncio.timeout(30):
        await frame_at_least(handle, 125)
        handle.pause(True)
        events = []
        while not (isinstance(m := await handle.recv(), Event) and m.name == "paused"):
            if isinstance(m, Event):
                events.append(m)
        assert [e.name for e in events] == ["save_ram_flushed"]
        assert demo_save(srm.read_bytes())[2] == 1
        handle.pause(False)
        await handle.stop()
        while await handle.recv() is not None:  # what was queued, then the clean end (no exception)
            pass
    assert handle.error is None
    # the next session starts from it: the core keeps counting points from the loaded save RAM
    second = await WorkerHandle.start(demo_spec(demo_core, tmp_path, save_ram_path=str(srm), realtime=False,
                                                stream=False))
    assert second.info["save_ram_loaded"] == 16
    async with asyncio.timeout(30):
        while second.frame_no < 130:
            await asyncio.sleep(0.02)
    await second.stop()
    assert demo_save(srm.read_bytes())[2] >= 2


async def test_changed_save_ram_is_flushed_on_its_own(demo_core: str, tmp_path: Path) -> None:
    srm = tmp_path / "1.srm"
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path, save_ram_path=str(srm), saveram_flush_s=0.5))
    handle.fast_forward(True)
    try:
        async with asyncio.timeout(30):
            while not (isinstance(m := await handle.recv(), Event) and m.name == "save_ram_flushed"):
                pass
            assert m.data["size"] == 16 and m.data["frame_no"] >= 118
            assert demo_save(srm.read_bytes())[2] >= 1  # on disk before the event was sent
    finally:
        await handle.stop()


PARENT = """
import asyncio, os, signal, sys
from treazr.emulation.worker import WorkerHandle, WorkerSpec
async def main():
    spec = WorkerSpec(core_path=sys.argv[1], content_path=None, system_dir=sys.argv[2], save_ram_path=sys.argv[3])
    handle = await WorkerHandle.start(spec)
    handle.fast_forward(True)
    while handle.frame_no < 130:
        await handle.recv()
    print(handle.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
asyncio.run(main())
"""


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


async def test_a_worker_whose_web_process_dies_flushes_and_exits(demo_core: str, tmp_path: Path) -> None:
    srm = tmp_path / "1.srm"
    parent = await asyncio.create_subprocess_exec(sys.executable, "-c", PARENT, demo_core, str(tmp_path), str(srm),
                                                  stdout=asyncio.subprocess.PIPE)
    assert parent.stdout is not None
    async with asyncio.timeout(30):
        worker_pid = int(await parent.stdout.readline())
        assert await parent.wait() == -signal.SIGKILL
    try:
        async with asyncio.timeout(10):
            while not _gone(worker_pid):
                await asyncio.sleep(0.05)
    finally:
        if not _gone(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)
    assert demo_save(srm.read_bytes())[2] >= 1


async def test_a_save_that_cannot_be_written_is_reported_and_the_game_goes_on(demo_core: str,
                                                                             tmp_path: Path) -> None:
    blocker = tmp_path / "saves"
    blocker.write_bytes(b"a file where the saves folder should be")
    srm = blocker / "1.srm"
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path, save_ram_path=str(srm)))
    handle.fast_forward(True)
    try:
        async with asyncio.timeout(30):
            await frame_at_least(handle, 125)
            with pytest.raises(CoreError, match=r"the game could not be saved to .*1\.srm"):
                await handle.flush_save_ram()
            with pytest.raises(CoreError, match="could not save state"):
                await handle.save_state(blocker / "slot1.state")
            events = []
            while len(events) < 1:
                if isinstance(m := await handle.recv(), Event):
                    events.append(m)
            assert events[0].name == "save_ram_failed"
            blocker.unlink()  # room again: the next flush succeeds
            assert await handle.flush_save_ram() is True
            await next_frame(handle)
    finally:
        await handle.stop()
    assert handle.error is None
    assert demo_save(srm.read_bytes())[2] >= 1


async def test_gba_sram_round_trip_through_a_worker(roms: Path, tmp_path: Path) -> None:
    srm = tmp_path / "sram.srm"
    spec = WorkerSpec(core_path=str(DEBIAN / "mgba_libretro.so"), content_path=str(roms / "gba/sram.gba"),
                      system_dir=str(tmp_path), save_ram_path=str(srm), realtime=False, stream=False)
    for _session in range(2):
        handle = await WorkerHandle.start(spec)
        async with asyncio.timeout(30):
            while handle.frame_no < 300:
                await asyncio.sleep(0.02)
        await handle.stop()
        assert handle.error is None
        if _session == 0:
            first = srm.read_bytes()
    assert handle.info["save_ram_loaded"] == len(first) == 32768
    assert any(b != 0xFF for b in first), "the game wrote nothing to its save memory"
    assert hashlib.sha256(srm.read_bytes()).digest() == hashlib.sha256(first).digest()


async def test_garbage_content_is_refused_clearly(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gb"
    garbage.write_bytes(b"this is not a game boy cartridge" * 3)
    spec = WorkerSpec(core_path=str(DEBIAN / "gambatte_libretro.so"), content_path=str(garbage),
                      system_dir=str(tmp_path))
    with pytest.raises(InvalidContent, match=r"garbage\.gb"):
        await WorkerHandle.start(spec)


async def test_a_file_that_is_not_a_core_is_refused_clearly(tmp_path: Path) -> None:
    fake = tmp_path / "fake_libretro.so"
    fake.write_bytes(b"\x7fELF but not really")
    with pytest.raises(CoreError, match=r"fake_libretro\.so"):
        await WorkerHandle.start(WorkerSpec(core_path=str(fake), content_path=None, system_dir=str(tmp_path)))


async def test_encoder_stats_come_up_and_the_chroma_can_switch(demo_core: str, tmp_path: Path) -> None:
    handle = await WorkerHandle.start(demo_spec(demo_core, tmp_path, video={"chroma": "444", "bitrate_kbps": 3000}))
    decoder = av.CodecContext.create("h264", "r")
    configs: list[dict[str, object]] = []
    encode_ms: list[float] = []
    sizes: list[tuple[int, int]] = []
    try:
        with pytest.raises(InvalidInput):
            handle.set_chroma("422")
        async with asyncio.timeout(30):
            while not encode_ms or len(configs) < 2 or sizes[-1] != (480, 512):
                message = await handle.recv()
                if isinstance(message, Event) and message.name == "video_config":
                    configs.append(message.data)
                elif isinstance(message, Event) and message.name == "encoder_stats":
                    encode_ms += message.data["encode_ms"]
                elif isinstance(message, VideoPacket):
                    for picture in decoder.decode(av.Packet(message.data)):
                        sizes.append((picture.height, picture.width))
                    if len(sizes) == 10:
                        handle.set_chroma("420")
    finally:
        await handle.stop()
    assert [c["chroma"] for c in configs] == ["444", "420"]
    assert encode_ms and all(0 < value < 1000 for value in encode_ms)
    assert sizes[0] == (240, 256) and sizes[-1] == (480, 512)
