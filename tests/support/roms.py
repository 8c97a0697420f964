"""What the test-ROM folder holds, read from the repository's list ``tests/roms.toml`` (the folder grows as
platforms are added, so tests that import all of it derive their expectations from here instead of a hard-coded
count; ``./dev.sh test`` has checked the folder against the list before the tests run)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.rom_folder import listed_roms

__all__ = ["atari_2600_bars", "platform_counts", "rom_count", "sha1sums"]


def sha1sums(roms: Path) -> dict[str, str]:
    """``{absolute path: sha1}`` of every ROM in the folder."""
    return {f"{roms}/{rom.path}": rom.sha1 for rom in listed_roms()}


def rom_count(roms: Path) -> int:
    return len(sha1sums(roms))


def platform_counts(roms: Path) -> dict[str, int]:
    """Games per platform: each ROM sits in a folder named by its platform's slug (``nes/``, ``md/``)."""
    return dict(Counter(Path(path).parent.name for path in sha1sums(roms)))


# A 4 KB Atari 2600 program of our own (the shared folder has no 2600 ROM): each frame it paints the 192
# visible lines in successive colours starting one colour further on, so the picture moves every frame.
_BARS_6502 = (
    "78D8A2FF9AA9009500CAD0FB"  # sei, cld, stack, clear zero page (TIA and RAM)
    "A9028500850285028502A9008500"  # frame: 3 lines of VSYNC
    "A22585 02CAD0FB8501"  # 37 lines of VBLANK, then VBLANK off
    "E680A480A2C0"  # frame counter +1, Y = first colour, 192 lines
    "8409C88502CAD0F8"  # line: COLUBK = Y, Y + 1, WSYNC
    "A9028501A21E8502CAD0FB"  # 30 lines of overscan
    "4C0CF0"
)  # next frame


def atari_2600_bars(path: Path) -> Path:
    rom = bytearray(b"\xea" * 4096)  # NOP
    code = bytes.fromhex(_BARS_6502.replace(" ", ""))
    rom[: len(code)] = code
    rom[0xFFA:] = bytes([0x00, 0xF0] * 3)  # NMI, reset and IRQ vectors: $F000
    path.write_bytes(bytes(rom))
    return path
