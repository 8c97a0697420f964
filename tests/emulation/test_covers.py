"""Covers made by running a game headless in a worker for a few seconds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from treazr.emulation.covers import cover_path, make_cover, make_cover_async
from treazr.emulation.images import read_png_size
from treazr.errors import Conflict
from treazr.services import Services

DEBIAN = Path("/usr/lib/x86_64-linux-gnu/libretro")


def test_cover_of_a_game_boy_rom(services: Services, roms: Path) -> None:
    made = make_cover(services, 5, roms / "gb/cpu_instrs.gb", DEBIAN / "gambatte_libretro.so")
    assert made == cover_path(services, 5) == services.data.thumbnails / "5.png"
    assert read_png_size(made.read_bytes()) == (160, 144)
    assert [p.name for p in made.parent.iterdir()] == ["5.png"]


def test_cover_of_the_demo_core(services: Services) -> None:
    made = make_cover(services, 0, None, services.cores.require_core("demo").path)
    assert made is not None and read_png_size(made.read_bytes()) == (256, 240)


def test_no_cover_for_content_the_core_refuses(services: Services, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.gb"
    garbage.write_bytes(np.random.default_rng(1).bytes(64))
    assert make_cover(services, 9, garbage, DEBIAN / "gambatte_libretro.so") is None
    assert not cover_path(services, 9).exists()


async def test_cover_runs_take_turns_and_one_person_asks_for_one_at_a_time(services: Services, roms: Path) -> None:
    services.settings.emulation.cover_runs = 1
    gambatte = DEBIAN / "gambatte_libretro.so"
    seen_at_once: list[int] = []

    async def cover(game_id: int, who: int | None) -> Path | None:
        made = await make_cover_async(services, game_id, roms / "gb/cpu_instrs.gb", gambatte, requested_by=who)
        return made

    async def watch() -> None:
        while True:
            seen_at_once.append(services.cover_runs.running)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        ada = asyncio.create_task(cover(1, 1))
        await asyncio.sleep(0)  # Ada's ask is counted before her second one
        with pytest.raises(Conflict, match="still being made"):
            await cover(2, 1)
        made = await asyncio.gather(ada, cover(3, 2), cover(4, None))  # Bob and the admin's job wait their turn
    finally:
        watcher.cancel()
    assert made == [cover_path(services, n) for n in (1, 3, 4)]
    assert max(seen_at_once) == 1 and services.cover_runs.running == 0
    assert await cover(5, 1) == cover_path(services, 5)  # Ada's turn is hers again once her cover is made
