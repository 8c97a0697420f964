"""What ``treazr run`` reads of its content before choosing a core."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from treazr.emulation.headless import content_extension
from treazr.errors import InvalidContent


def test_a_zip_says_what_it_is_by_its_largest_known_member(tmp_path: Path) -> None:
    archive = tmp_path / "game.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("readme.txt", b"x" * 4096)
        zipped.writestr("small.gb", b"x" * 16)
        zipped.writestr("game.nes", b"x" * 1024)
    assert content_extension(archive, {"nes", "gb"}) == "nes"
    assert content_extension(archive, {"gb"}) == "gb"
    assert content_extension(archive, set()) == "zip"
    plain = tmp_path / "Game.SFC"
    plain.write_bytes(b"x")
    assert content_extension(plain, {"nes"}) == "sfc"
    with pytest.raises(InvalidContent, match="no such content file"):
        content_extension(tmp_path / "missing.nes", {"nes"})
