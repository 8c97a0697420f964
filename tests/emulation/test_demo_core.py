"""The demo core: no ROM, two players, sound, high score in save RAM, states, marker strip, faults."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.emulation.subprocesses import REPO, host_script, treazr, treazr_run
from treazr.emulation.demo_strip import decode_strip

UP, DOWN, A, START = 1 << 4, 1 << 5, 1 << 8, 1 << 3


def test_strip_reports_frame_and_input_of_every_frame() -> None:
    report = host_script("""
import itertools
import json
from treazr.emulation.core import CoreHost
from treazr.emulation.demo_strip import decode_strip
from treazr.paths import native_dir
host = CoreHost(native_dir() / 'treazr_demo_libretro.so')
av = host.load_game(None)
seen = []
for frame in range(120):
    host.set_input(0, (frame * 2654435761) & 0xFFFF)
    host.set_input(1, (frame * 40503) & 0xFFFF)
    host.run_frame()
    seen.append(decode_strip(host.video_frame()))
audio = host.take_audio()
print(json.dumps({"seen": seen, "av": [av.fps, av.sample_rate, av.base_width, av.base_height],
                  "audio": audio.shape, "peak": int(abs(audio).max()), "no_game": host.supports_no_game}))
""")
    assert report["av"] == [60.0, 48000.0, 256, 240]
    assert report["no_game"] is True
    assert report["audio"] == [120 * 800, 2]
    assert report["peak"] > 0  # the ball hit a wall or a paddle: a beep
    expected = [[f, (f * 2654435761) & 0xFFFF, (f * 40503) & 0xFFFF] for f in range(120)]
    assert report["seen"] == expected


def test_analog_stick_moves_the_paddle_in_proportion() -> None:
    """Axes go through the frontend's RETRO_DEVICE_ANALOG answers to the core, per port, dead zone included."""
    report = host_script("""
import itertools
import json
import numpy as np
from treazr.emulation.core import CoreHost
from treazr.paths import native_dir
host = CoreHost(native_dir() / 'treazr_demo_libretro.so')
host.load_game(None)

def paddle_top():
    column = host.video_frame()[:, 9, :3]  # BGRX: the left paddle is F0C040
    rows = np.flatnonzero((column == (0x40, 0xC0, 0xF0)).all(axis=1))
    return int(rows[0])

host.run_frame()
tops = [paddle_top()]
for mask, axes in [(0, (0, 32767)), (0, (0, -16384)), (0, (0, 2000)), (1 << 5, (0, -32767)), (0, (0, 0, 0, 32767))]:
    host.set_input(0, mask, axes)
    host.set_input(1, 0, (0, -32767))  # the other player's stick moves only their own paddle
    host.run_frames(10)
    tops.append(paddle_top())
print(json.dumps(tops))
""")
    moves = [after - before for before, after in itertools.pairwise(report)]
    # full down: 4 px a frame; half up: 2; inside the dead zone: still; D-pad DOWN wins over the stick: 3;
    # the right stick is not the left stick
    assert moves == [40, -20, 0, 30, 0]


def test_strip_survives_h264() -> None:
    import av

    frames = []
    for n in range(12):
        picture = np.zeros((240, 256, 3), np.uint8)
        picture[20:] = np.random.default_rng(n).integers(0, 255, (220, 256, 3), dtype=np.uint8)  # busy game area
        for bit in range(32):
            if (n * 1234567 >> (31 - bit)) & 1:
                picture[0:8, bit * 8:bit * 8 + 8] = 255
        for bit in range(16):
            if (0xA5C3 >> (15 - bit)) & 1:
                picture[8:16, bit * 8:bit * 8 + 8] = (255, 255, 0)
            if (0x0F0F >> (15 - bit)) & 1:
                picture[8:16, 128 + bit * 8:136 + bit * 8] = (0, 255, 255)
        frames.append(picture)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 256, 240, "yuv420p"
    encoder.options = {"crf": "40", "preset": "ultrafast"}  # harsh on purpose
    decoder = av.CodecContext.create("h264", "r")
    decoded = []
    for picture in [*frames, None]:
        packets = encoder.encode(av.VideoFrame.from_ndarray(picture, format="rgb24") if picture is not None else None)
        for packet in packets:
            decoded += [f.to_ndarray(format="rgb24") for f in decoder.decode(packet)]
    decoded += [f.to_ndarray(format="rgb24") for f in decoder.decode(None)]
    assert [decode_strip(d) for d in decoded] == [((n * 1234567) & 0xFFFFFFFF, 0xA5C3, 0x0F0F) for n in range(12)]


def test_high_score_lives_in_save_ram(tmp_path: Path) -> None:
    data, save = tmp_path / "data", tmp_path / "demo.srm"
    first = treazr_run(data, "--frames", "1500", "--save-ram", str(save))
    assert first["core"] == "Treazr Demo" and first["save_ram_bytes"] == 16
    ram = save.read_bytes()
    played = int.from_bytes(ram[8:12], "little")
    assert ram[:4] == b"TZD1" and played > 0
    treazr_run(data, "--frames", "1500", "--save-ram", str(save))
    assert int.from_bytes(save.read_bytes()[8:12], "little") > played  # counted on from the loaded save


def test_runs_are_deterministic_and_states_resume_exactly(tmp_path: Path) -> None:
    data, inputs, state = tmp_path / "data", tmp_path / "input.json", tmp_path / "demo.state"
    inputs.write_text(json.dumps({"events": [[0, 0, UP], [40, 1, DOWN | A], [90, 0, 0], [150, 1, UP]]}))
    one = treazr_run(data, "--frames", "200", "--input", str(inputs), "--frame-hashes")
    two = treazr_run(data, "--frames", "200", "--input", str(inputs), "--frame-hashes")
    assert one["frame_hashes"] == two["frame_hashes"] and one["audio_hash"] == two["audio_hash"]
    treazr_run(data, "--frames", "120", "--input", str(inputs), "--save-state", str(state))
    rest = tmp_path / "rest.json"
    rest.write_text(json.dumps({"events": [[0, 0, 0], [0, 1, DOWN | A], [30, 1, UP]]}))
    resumed = treazr_run(data, "--frames", "80", "--state", str(state), "--input", str(rest), "--frame-hashes")
    assert resumed["frame_hashes"] == one["frame_hashes"][120:]


def test_a_state_from_something_else_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.state"
    junk.write_bytes(b"\x00" * 17)
    done = treazr(tmp_path / "data", "run", "--frames", "5", "--state", str(junk))
    assert done.returncode == 1 and "refused the state" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("fault", "died_by"), [("segfault", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_fault_option_makes_the_core_fail_at_the_frame(tmp_path: Path, fault: str, died_by: int) -> None:
    done = treazr(tmp_path / "data", "run", "--frames", "30", "--frame-hashes", "--option",
                  f"treazr_demo_fault={fault}", "--option", "treazr_demo_fault_frame=10")
    crashed = f"Error: the core crashed ({signal.Signals(died_by).name}) treazr_demo_libretro.so running no content"
    assert done.returncode == 1 and done.stderr.strip() == crashed, done
    healthy = treazr(tmp_path / "data", "run", "--frames", "9", "--option", f"treazr_demo_fault={fault}",
                     "--option", "treazr_demo_fault_frame=10")
    assert healthy.returncode == 0, healthy.stderr


def test_fault_option_can_hang_the_core(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "treazr", "--data-dir", str(tmp_path / "data"), "run", "--frames", "30",
               "--option", "treazr_demo_fault=hang", "--option", "treazr_demo_fault_frame=5"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=4)
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 1  # the core runs in a child, so a crash can be reported in one line
    finally:
        process.kill()
        process.wait()
    # killing `treazr run` takes the hung core with it
    core = int(children[0])
    for _ in range(100):
        if not _alive(core):
            break
        time.sleep(0.05)
    assert not _alive(core)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_geometry_changes_and_dupes_reach_the_host() -> None:
    report = host_script("""
import itertools
import json
from treazr.emulation.core import CoreHost
from treazr.emulation.demo_strip import decode_strip
from treazr.paths import native_dir
host = CoreHost(native_dir() / 'treazr_demo_libretro.so',
                options={'treazr_demo_video': 'switching', 'treazr_demo_dupes': 'every_4th'})
first = host.load_game(None)
serial = host.av_info_serial
seen = []
for frame in range(126):
    host.run_frame()
    picture = host.video_frame()
    seen.append([picture.shape[1], picture.shape[0], decode_strip(picture)[0], host.av_info.base_width])
print(json.dumps({"first": [first.base_width, first.base_height, first.max_width, first.max_height],
                  "changes": host.av_info_serial - serial, "seen": seen, "dupes": host.counters["dupes"]}))
""")
    assert report["first"] == [256, 240, 512, 480]
    assert report["changes"] == 1
    expected = [[256, 240, f - (f % 4 == 3), 256] for f in range(120)]
    expected += [[512, 480, f, 512] for f in (120, 121, 122)] + [[512, 480, 122, 512]]
    expected += [[512, 480, f, 512] for f in (124, 125)]
    assert report["seen"] == expected
    assert report["dupes"] == 31
