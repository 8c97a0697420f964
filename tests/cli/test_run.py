"""``treazr run``: runs that load a core happen in a child process (one core per process); argument
errors, which never reach a core, run in-process with CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.emulation.subprocesses import treazr, treazr_run
from treazr.cli import main
from treazr.emulation.demo_strip import decode_strip
from treazr.emulation.images import read_png_size


def test_without_a_rom_it_runs_the_demo_core(tmp_path: Path) -> None:
    shot = tmp_path / "demo.png"
    report = treazr_run(tmp_path / "data", "--frames", "90", "--screenshot", str(shot))
    assert report["core"] == "Treazr Demo" and report["frames"] == 90
    assert report["counters"]["frames"] == 90 and report["audio_frames"] == 90 * 800
    assert read_png_size(shot.read_bytes()) == (256, 240)


def test_core_is_chosen_by_the_content(tmp_path: Path, roms: Path) -> None:
    report = treazr_run(tmp_path / "data", str(roms / "gba/thumb.gba"), "--frames", "2")
    assert report["core"] == "mGBA"


def test_human_output_and_frame_hashes(tmp_path: Path) -> None:
    done = treazr(tmp_path / "data", "run", "--frames", "3", "--frame-hashes")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Treazr Demo 1.0: 3 frames")
    assert [line.split()[0] for line in lines[1:]] == ["0", "1", "2"]
    assert len({line.split()[1] for line in lines[1:]}) == 3  # the frame counter changes the picture


def test_realtime_runs_paced_frames(tmp_path: Path) -> None:
    report = treazr_run(tmp_path / "data", "--frames", "6", "--realtime", "--frame-hashes")
    assert len(report["frame_hashes"]) == 6


def test_screenshot_shows_the_last_frame(tmp_path: Path) -> None:
    import av

    shot = tmp_path / "last.png"
    treazr_run(tmp_path / "data", "--frames", "37", "--screenshot", str(shot))
    with av.open(str(shot)) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert decode_strip(picture) == (36, 0, 0)


@pytest.mark.parametrize(("args", "message"), [
    (["--core", "no_such_core"], "no libretro core named 'no_such_core'"),
    (["--core", "/nowhere/x_libretro.so"], "no libretro core at /nowhere/x_libretro.so"),
    (["--option", "novalue"], "--option wants KEY=VALUE"),
    (["--state", "/nowhere/s.state"], "cannot read the state /nowhere/s.state"),
])
def test_argument_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "run", "--frames", "1", *args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_unknown_content_type_asks_for_a_core(tmp_path: Path) -> None:
    rom = tmp_path / "game.xyz"
    rom.write_bytes(b"\x01" * 64)
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "run", str(rom)])
    assert result.exit_code == 1 and "no core known for .xyz files: pass --core" in result.output


def test_json_flag_works_before_and_after_the_command(tmp_path: Path) -> None:
    done = treazr(tmp_path / "data", "--json", "run", "--frames", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["frames"] == 1


def test_a_library_that_is_not_a_core_is_refused(tmp_path: Path) -> None:
    not_a_core = tmp_path / "libz_libretro.so"
    not_a_core.write_bytes(Path("/lib/x86_64-linux-gnu/libz.so.1").read_bytes())
    done = treazr(tmp_path / "data", "run", "--core", str(not_a_core), "--frames", "1")
    assert done.returncode == 1
    assert "is not a libretro core: it lacks retro_init" in done.stderr and "Traceback" not in done.stderr
    garbage = tmp_path / "junk_libretro.so"
    garbage.write_bytes(b"\x7fELF not really")
    done = treazr(tmp_path / "data", "run", "--core", str(garbage), "--frames", "1")
    assert done.returncode == 1 and "cannot load" in done.stderr and "Traceback" not in done.stderr
