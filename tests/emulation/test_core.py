"""CoreHost on the real Debian cores, each in its own child process (one core per process)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.emulation.subprocesses import host_script, treazr, treazr_run
from treazr.emulation.headless import find_core

# Pinned after looking at each screenshot once (they match RetroArch 1.14's pixel for pixel):
# nestopia prints "All 16 tests passed", gambatte "dmg_sound 01:ok 02", mGBA 0.10.1 "Failed test 235"
# (RetroArch shows the same), bsnes the RotZoom mode 7 track, pce_fast the pad test screen; genesis_plus_gx
# (from the stable-retro wheel) Airstriker's title, and the two Master System demos' text.
BOOTS = [
    ("nestopia", "nes/official_only.nes", 2000, (256, 224), "4472abbc9112237432069142c11334e4d70570fd"),
    ("gambatte", "gb/dmg_sound.gb", 600, (160, 144), "62ea5a5bea129e9e86d12fbda6105515c66274b7"),
    ("mgba", "gba/arm.gba", 300, (240, 160), "9c2ee03f0b4325cac3afaf6a4663b89903d0ec38"),
    ("bsnes_mercury_performance", "snes/RotZoom.sfc", 300, (256, 224), "d9ac084812bab2206bbbd39935dc5671dc0d903f"),
    ("mednafen_pce_fast", "pce/padtest.pce", 300, (256, 239), "e49ef3742ca140d114a0a34853dca79717dd96a0"),
    ("genesis_plus_gx", "md/Airstriker.md", 300, (320, 224), "cbef2eb770e3f7d552be725e57bbaf3821948497"),
    ("genesis_plus_gx", "sms/HelloWorld.sms", 300, (256, 192), "cc82b78826208f89099b3d8050d5b88ad85b7c90"),
    ("genesis_plus_gx", "sms/SMSAudio.sms", 300, (256, 192), "74c50d131f251e826734491c883e4733dc03b6d2"),
]
BOOT_IDS = [f"{core}-{Path(rom).stem}" for core, rom, *_ in BOOTS]


@pytest.mark.slow
@pytest.mark.parametrize(("core", "rom", "frames", "size", "expected"), BOOTS, ids=BOOT_IDS)
def test_each_core_boots_its_test_rom(
    tmp_path: Path, roms: Path, core: str, rom: str, frames: int, size: tuple[int, int], expected: str
) -> None:
    report = treazr_run(tmp_path / "data", str(roms / rom), "--core", core, "--frames", str(frames))
    assert (report["width"], report["height"]) == size
    assert report["frame_hash"] == expected
    assert report["audio_frames"] > 0
    assert report["counters"]["input_polls"] >= frames - 10  # bsnes skips a few polls while booting


def test_mgba_save_ram_round_trip(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    save = tmp_path / "sram.srm"
    report = treazr_run(data, str(roms / "gba/sram.gba"), "--core", "mgba", "--frames", "600", "--save-ram", str(save))
    # mGBA reports 128 KiB (flash, undetected) until the game first writes its 32 KiB SRAM: saved at its size now
    assert report["save_ram_bytes"] == 32768
    written = save.read_bytes()
    assert len(written) == 32768 and len(set(written)) > 1
    # the same bytes RetroArch 1.14 writes to sram.srm for this run
    assert hashlib.sha1(written).hexdigest() == "19a00cd27007eee9191c579d18d2bee04baa3aed"
    pattern = bytes((i * 37 + 11) & 0xFF for i in range(32768))
    save.write_bytes(pattern)
    treazr_run(data, str(roms / "gba/sram.gba"), "--core", "mgba", "--frames", "0", "--save-ram", str(save))
    assert save.read_bytes()[:32768] == pattern


def test_state_save_and_load_give_identical_frames(tmp_path: Path, roms: Path) -> None:
    data, state = tmp_path / "data", tmp_path / "gb.state"
    rom = str(roms / "gb/cpu_instrs.gb")
    whole = treazr_run(data, rom, "--core", "gambatte", "--frames", "160", "--frame-hashes")
    treazr_run(data, rom, "--core", "gambatte", "--frames", "100", "--save-state", str(state))
    resumed = treazr_run(data, rom, "--core", "gambatte", "--frames", "60", "--state", str(state), "--frame-hashes")
    assert resumed["frame_hashes"] == whole["frame_hashes"][100:]
    assert len(set(whole["frame_hashes"][100:])) > 1  # the picture moves, so the comparison means something


def test_zipped_content_runs_like_the_plain_file(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    for core, rom in (("mgba", "gba/arm.gba"), ("mednafen_pce_fast", "pce/padtest.pce")):  # memory; full path
        archive = tmp_path / f"{Path(rom).stem}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("readme.txt", "not a game")
            zipped.write(roms / rom, f"game/{Path(rom).name}")
        plain = treazr_run(data, str(roms / rom), "--core", core, "--frames", "120")
        from_zip = treazr_run(data, str(archive), "--core", core, "--frames", "120")
        assert from_zip["frame_hash"] == plain["frame_hash"]
    assert list((data / "tmp").glob("treazr-*")) == []  # the extracted copy is gone


@pytest.mark.parametrize(("name", "content", "message"), [
    ("garbage.gba", bytes(range(256)) * 40, "refused the content"),
    ("empty.gba", b"", "is empty"),
    ("nothing.zip", None, "holds no file that mGBA can play"),
])
def test_bad_content_is_one_clear_error(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as zipped:
            zipped.writestr("notes.txt", "hello")
    else:
        path.write_bytes(content)
    done = treazr(tmp_path / "data", "run", str(path), "--core", "mgba", "--frames", "10")
    assert done.returncode == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_truncated_rom_is_refused(tmp_path: Path, roms: Path) -> None:
    truncated = tmp_path / "cut.nes"
    truncated.write_bytes((roms / "nes/official_only.nes").read_bytes()[:1000])
    done = treazr(tmp_path / "data", "run", str(truncated), "--core", "nestopia", "--frames", "10")
    assert done.returncode == 1 and "refused the content" in done.stderr and "Traceback" not in done.stderr


def test_core_options_reach_the_core_and_undeclared_values_are_ignored(tmp_path: Path, roms: Path) -> None:
    data, nes = tmp_path / "data", str(roms / "nes/official_only.nes")
    shown = treazr_run(data, nes, "--core", "nestopia", "--frames", "5", "--option", "nestopia_overscan_v=disabled")
    assert shown["height"] == 240  # the overscan lines the default (enabled = cropped) hides
    bogus = treazr_run(data, nes, "--core", "nestopia", "--frames", "5", "--option", "nestopia_overscan_v=bogus")
    assert bogus["height"] == 224
    # gambatte 0.5 dereferences a null palette for a name it does not know: the frontend must not pass one on
    gb = str(roms / "gb/dmg_sound.gb")
    plain = treazr_run(data, gb, "--core", "gambatte", "--frames", "60")
    unknown = treazr_run(data, gb, "--core", "gambatte", "--frames", "60",
                         "--option", "gambatte_gb_colorization=internal",
                         "--option", "gambatte_gb_internal_palette=GB - DMG")
    assert unknown["frame_hash"] == plain["frame_hash"]


def test_host_api_on_a_debian_core(roms: Path) -> None:
    report = host_script(f"""
import json
from treazr.emulation.core import CoreHost
from treazr.errors import CoreError, InvalidContent
host = CoreHost('/usr/lib/x86_64-linux-gnu/libretro/nestopia_libretro.so')
options = {{o.key: o.default for o in host.options}}
av = host.load_game({str(roms / "nes/official_only.nes")!r})
host.run_frames(30)
frame, audio = host.video_frame(), host.take_audio()
errors = []
for call in (lambda: host.unserialize(b"junk"), lambda: CoreHost('/usr/lib/x86_64-linux-gnu/libretro/mgba_libretro.so'),
             lambda: host.load_save_ram(b"x" * 100000)):
    try:
        call()
    except (CoreError, InvalidContent) as error:
        errors.append(type(error).__name__ + ": " + str(error))
host.close()
print(json.dumps({{"name": host.system_info.name, "options": options, "fps": av.fps, "shape": frame.shape,
                  "audio": audio.shape, "errors": errors}}))
""")
    assert report["name"] == "Nestopia"
    assert report["options"]["nestopia_palette"] == "cxa2025as"  # declared default, as the core asked
    assert report["fps"] == 60.0 and report["shape"] == [224, 256, 4]
    assert report["audio"][0] == 30 * 800 and report["audio"][1] == 2
    assert report["errors"][0].startswith("CoreError: cannot load the state")
    assert "already open" in report["errors"][1]
    assert report["errors"][2].startswith("InvalidContent")


def test_core_logs_reach_our_logging_and_unknown_commands_are_logged_once(roms: Path) -> None:
    records = host_script(f"""
import json, logging
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append([record.name, record.levelname, record.getMessage()])
logging.getLogger('treazr.core').addHandler(Keep())
logging.getLogger('treazr.core').setLevel(logging.DEBUG)
from treazr.emulation.core import CoreHost
host = CoreHost('/usr/lib/x86_64-linux-gnu/libretro/mednafen_pce_fast_libretro.so')
host.load_game({str(roms / "pce/padtest.pce")!r})
host.run_frames(5)
host.close()
print(json.dumps(records))
""")
    messages = [message for _, _, message in records]
    assert all(name == "treazr.core.mednafen_pce_fast" for name, _, _ in records)
    assert any("ROM CRC32: 0xaccd3fc" in message for message in messages)  # formatted by vsnprintf in C
    unknown = [m for m in messages if "not supported" in m]
    assert unknown == ["treazr: environment command 28 (0x1c) is not supported"]  # GET_PERF_INTERFACE, once


CORES_AND_ROMS = [(b[0], b[1]) for b in BOOTS]


@pytest.mark.slow
@pytest.mark.parametrize(("core", "rom"), CORES_AND_ROMS, ids=BOOT_IDS)
def test_garbage_and_truncated_content_never_crash_a_core(tmp_path: Path, roms: Path, core: str, rom: str) -> None:
    """Each core either refuses the file with one clear line or runs it as hardware would; genesis_plus_gx
    segfaults on 3000 bytes of a Mega Drive ROM, and ``treazr run`` says so in one line (the core runs in a
    child of the command, as it does in a worker of the server)."""
    suffix = Path(rom).suffix
    noise = tmp_path / f"noise{suffix}"
    noise.write_bytes(hashlib.sha256(b"seed").digest() * 2200)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes((roms / rom).read_bytes()[:3000])
    for content in (noise, cut):
        done = treazr(tmp_path / "data", "run", str(content), "--core", core, "--frames", "120")
        assert done.returncode in (0, 1), (content.name, done.returncode, done.stderr[-500:])
        if done.returncode == 1:
            last = done.stderr.strip().splitlines()[-1]
            assert last.startswith(("Error: cannot load", "Error: the core crashed (SIGSEGV)")), last
            assert "Traceback" not in done.stderr


def _retroarch_screenshot(tmp_path: Path, core: str, rom: Path, frames: int) -> np.ndarray:
    import av

    home = tmp_path / "retroarch"
    home.mkdir()
    config = home / "retroarch.cfg"
    config.write_text("\n".join(f'{key} = "{value}"' for key, value in {
        "video_driver": "null", "audio_driver": "null", "input_driver": "null", "joypad_driver": "null",
        "menu_driver": "null", "config_save_on_exit": "false", "savefile_directory": home,
        "savestate_directory": home, "system_directory": home, "screenshot_directory": home}.items()))
    shot = home / "shot.png"
    subprocess.run(["retroarch", "-c", str(config), "-L", str(find_core(core)), str(rom), f"--max-frames={frames}",
                    "--max-frames-ss", f"--max-frames-ss-path={shot}"],
                   env={**os.environ, "HOME": str(home), "DBUS_FATAL_WARNINGS": "0"}, capture_output=True,
                   timeout=120, check=False)
    with av.open(str(shot)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.mark.slow
@pytest.mark.parametrize(("core", "rom", "frames", "size", "expected"), BOOTS, ids=BOOT_IDS)
def test_frames_match_retroarch_pixel_for_pixel(
    tmp_path: Path, roms: Path, core: str, rom: str, frames: int, size: tuple[int, int], expected: str
) -> None:
    import av

    ours = tmp_path / "ours.png"
    treazr_run(tmp_path / "data", str(roms / rom), "--core", core, "--frames", str(frames), "--screenshot", str(ours))
    with av.open(str(ours)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    reference = _retroarch_screenshot(tmp_path, core, roms / rom, frames)
    assert picture.shape == reference.shape == (size[1], size[0], 3)
    assert np.array_equal(picture, reference)


def test_the_master_system_psg_demo_is_heard(roms: Path) -> None:
    """SMSAudio is a PSG player: silent until its menu enables tone generator 1 (right), sets a frequency
    (down, down, right x4) and plays it (button 1). The samples genesis_plus_gx then hands over are not silence."""
    loudest = host_script(f"""
import json
import numpy as np
from treazr.emulation.core import CoreHost
from treazr.emulation.headless import find_core
host = CoreHost(str(find_core("genesis_plus_gx")))
host.load_game({str(roms / "sms/SMSAudio.sms")!r})
B, DOWN, RIGHT = 0, 5, 7
def run(frames, held=None):
    peak = 0
    for _ in range(frames):
        host.set_input(0, 0 if held is None else 1 << held)
        host.run_frames(1)
        peak = max(peak, int(np.abs(host.take_audio().astype(np.int32)).max(initial=0)))
    return peak
before = run(120)
for button in (RIGHT, DOWN, DOWN, RIGHT, RIGHT, RIGHT, RIGHT):
    before = max(before, run(6, button), run(10))
print(json.dumps([before, max(run(6, B), run(300))]))
""")
    assert loudest[0] == 0, "the player should be silent before a tone is played"
    assert loudest[1] > 1000, f"the loudest sample after playing tone 1 is {loudest[1]}"
