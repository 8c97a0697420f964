"""``treazr import`` makes the missing covers itself when no server makes them, unless told not to."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.support.covers import colours
from treazr.cli import main
from treazr.emulation.auto_covers import CoverLock

AUTO_COVERS_ON = {"TREAZR_LIBRARY_AUTO_COVERS": "1"}  # the tests' default is off (tests/conftest.py)


def _import(data: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), "import", *args], env=AUTO_COVERS_ON)
    return result.exit_code, result.output


def _covers(data: Path) -> list[Path]:
    return sorted((data / "thumbnails").glob("*.png"))


def test_import_makes_the_missing_covers(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    code, output = _import(data, str(roms / "gb"))
    assert code == 0 and "Covers: 2 made, 0 game(s) showed nothing to take one from." in output, output
    made = _covers(data)
    assert len(made) == 2 and all(colours(cover.read_bytes()) > 1 for cover in made)
    code, output = _import(data, str(roms / "gb"))
    assert code == 0 and "Covers" not in output, output  # none missing: nothing to say


def test_no_covers_skips_them(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    code, output = _import(data, str(roms / "gb"), "--no-covers")
    assert code == 0 and "Added 2" in output and "Covers" not in output, output
    assert _covers(data) == []


def test_a_running_server_makes_them_instead(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = CoverLock(data)  # what a running server's cover maker holds
    assert server.take()
    try:
        code, output = _import(data, str(roms / "gb"))
    finally:
        server.release()
    assert code == 0, output
    assert "Covers: the server running on this data directory makes them in the background." in output
    assert _covers(data) == []
