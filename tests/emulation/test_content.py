"""Preparing content for retro_load_game: paths, memory, zips (no core needed)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from treazr.emulation.content import prepare_content
from treazr.emulation.core import SystemInfo
from treazr.errors import InvalidContent

MEMORY = SystemInfo("Mem", "1", ("gba", "gb"), need_fullpath=False, block_extract=False)
FULLPATH = SystemInfo("Path", "1", ("pce", "cue"), need_fullpath=True, block_extract=False)


def test_plain_file_in_memory_or_by_path(tmp_path: Path) -> None:
    rom = tmp_path / "game.gba"
    rom.write_bytes(b"rom bytes")
    loaded = prepare_content(rom, MEMORY, tmp_path / "tmp")
    assert loaded.path == rom.resolve() and loaded.size == 9 and loaded.buffer is not None
    assert loaded.buffer.raw == b"rom bytes"
    by_path = prepare_content(rom, FULLPATH, tmp_path / "tmp")
    assert by_path.path == rom.resolve() and by_path.buffer is None and by_path.address is None


def test_zip_member_goes_to_memory_or_a_private_folder(tmp_path: Path) -> None:
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("../../escape/game.pce", b"pce rom")
        zipped.writestr("small.gb", b"gb")
        zipped.writestr("big.gba", b"gba rom, the largest playable file")
    in_memory = prepare_content(archive, MEMORY, tmp_path / "tmp")
    assert in_memory.buffer is not None and in_memory.buffer.raw == b"gba rom, the largest playable file"
    assert in_memory.path.name == "big.gba" and in_memory.temp_dir is None
    extracted = prepare_content(archive, FULLPATH, tmp_path / "tmp")
    assert extracted.temp_dir is not None and extracted.temp_dir.parent == tmp_path / "tmp"
    assert extracted.path == extracted.temp_dir / "game.pce" and extracted.path.read_bytes() == b"pce rom"
    assert (extracted.temp_dir.stat().st_mode & 0o777) == 0o700
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(("name", "make", "message"), [
    ("missing.gba", None, "no such content file"),
    ("empty.gba", lambda p: p.write_bytes(b""), "is empty"),
    ("docs.zip", lambda p: _zip(p, {"a.txt": b"x"}), "holds no file that Mem can play"),
    ("hollow.zip", lambda p: _zip(p, {"a.gba": b""}), "is empty"),
    ("broken.zip", lambda p: _corrupt(_zip(p, {"a.gba": b"A" * 5000})), "not a readable zip archive"),
])
def test_unusable_content_is_invalid(tmp_path: Path, name: str, make: object, message: str) -> None:
    path = tmp_path / name
    if callable(make):
        make(path)
    with pytest.raises(InvalidContent, match=message):
        prepare_content(path, MEMORY, tmp_path / "tmp")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # inside the compressed member: fails on read, not on open
    path.write_bytes(bytes(data))
