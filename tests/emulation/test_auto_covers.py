"""Covers made after imports without anyone asking: the one function that makes the missing ones, what it
remembers of games that gave none, and the server's background maker (its lock, its watch, its stop)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.covers import colours, eventually, refused_nes, silent_nes, workers_of
from treazr.emulation.auto_covers import BACKGROUND_NICE, AutoCovers, CoverLock, CoverTally, make_missing_covers
from treazr.emulation.covers import cover_path, make_cover_async
from treazr.library.scanner import import_paths
from treazr.services import Services

GAMBATTE = Path("/usr/lib/x86_64-linux-gnu/libretro/gambatte_libretro.so")


def _game(services: Services, title: str) -> int:
    row = services.db.query_one("SELECT id FROM games WHERE title = ?", (title,))
    assert row is not None, title
    return int(row["id"])


async def test_missing_covers_are_made_and_a_game_that_gave_none_waits_for_new_content(
        services: Services, roms: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    shutil.copytree(roms / "gb", library / "gb")
    refused = refused_nes(library / "nes" / "refused.nes")
    await asyncio.to_thread(import_paths, services, [library])
    seen: list[tuple[int, int]] = []

    first = await make_missing_covers(services, progress=lambda done, total: seen.append((done, total)))
    assert first == CoverTally(made=2, without=1, skipped=0)
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    for title in ("cpu instrs", "dmg sound"):
        assert colours(cover_path(services, _game(services, title)).read_bytes()) > 1, title
    assert not cover_path(services, _game(services, "refused")).exists()
    assert not services.cover_runs.busy

    assert await make_missing_covers(services) == CoverTally(skipped=1)  # not tried again on its own
    refused.write_bytes(refused.read_bytes() + bytes(16))  # new content: worth another try
    assert await make_missing_covers(services) == CoverTally(without=1)
    assert await make_missing_covers(services, retry=True) == CoverTally(without=1)  # an admin's job tries again


async def test_the_blank_first_frames_of_a_boot_are_skipped(services: Services, roms: Path) -> None:
    # the first frame of any game is one flat colour; asked for a shot at once, the cover is taken later
    made = await make_cover_async(services, 1, roms / "gb" / "cpu_instrs.gb", GAMBATTE, seconds=0)
    assert made is not None and colours(made.read_bytes()) > 1


async def _cli_import(data: Path, folder: Path) -> str:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "treazr", "--data-dir", str(data), "import", str(folder), cwd=REPO,
        env={**os.environ, "TREAZR_LIBRARY_AUTO_COVERS": "1"}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0, output.decode()
    return output.decode()


async def test_the_server_maker_sees_another_process_import_runs_niced_and_its_stop_kills_the_worker(
        services: Services, roms: Path, tmp_path: Path) -> None:
    services.settings.library.auto_covers = True
    library = tmp_path / "library"
    (library / "gb").mkdir(parents=True)
    shutil.copy(roms / "gb" / "cpu_instrs.gb", library / "gb")
    silent_nes(library / "nes" / "silent.nes")  # its screen stays flat: its cover run lasts until its time cap
    maker = AutoCovers(services, poll_s=0.2)
    maker.start()
    try:
        await eventually("the first round", lambda: maker.rounds["start"] == 1, 30)
        assert CoverLock(services.data.root).held_elsewhere()
        output = await _cli_import(services.data.root, library)
        assert "the server running on this data directory makes them in the background" in output, output
        cover = services.data.thumbnails / f"{_game(services, 'cpu instrs')}.png"
        await eventually("the imported game's cover", cover.is_file, 60)
        assert colours(cover.read_bytes()) > 1
        assert maker.rounds["change"] >= 1 and maker.rounds["nudge"] == 0
        running = await eventually("a niced cover worker", lambda: {
            pid: nice for pid, nice in workers_of(os.getpid()).items() if nice == BACKGROUND_NICE}, 30)
    finally:
        await maker.stop()
    assert isinstance(running, dict) and running
    assert workers_of(os.getpid()) == {}  # the silent game's worker, killed mid-run
    assert not CoverLock(services.data.root).held_elsewhere()
    assert not cover_path(services, _game(services, "silent")).exists()


async def test_the_maker_does_nothing_when_auto_covers_are_off(services: Services) -> None:
    maker = AutoCovers(services, poll_s=0.05)
    maker.start()
    try:
        await asyncio.sleep(0.2)
        maker.nudge()
        await asyncio.sleep(0.2)
        assert maker.rounds == {} and not CoverLock(services.data.root).held_elsewhere()
    finally:
        await maker.stop()
