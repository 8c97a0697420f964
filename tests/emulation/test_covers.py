"""Covers made by running a game headless in a worker for a few seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from treazr.emulation.covers import cover_path, make_cover
from treazr.emulation.images import read_png_size
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
