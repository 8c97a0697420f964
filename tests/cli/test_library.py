from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from tests.library import romgen
from tests.support.roms import rom_count
from treazr.cli import main


def _run(data: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), *args])
    return result.exit_code, result.output


def test_import_json_then_list_stats_verify(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    count = rom_count(roms)
    code, output = _run(data, "import", str(roms), "--json")
    assert code == 0, output
    summary = json.loads(output)
    assert set(summary) == {"added", "updated", "unchanged", "missing", "failed"}
    assert (summary["added"], summary["updated"], summary["unchanged"], summary["missing"]) == (count, 0, 0, 0)
    assert summary["failed"] == [{"path": str(roms / "SHA1SUMS"),
                                  "reason": "unknown format (no extension): no platform folder, extension or header"}]
    code, output = _run(data, "library", "list", "--platform", "gb", "--json")
    assert code == 0, output
    assert sorted(game["title"] for game in json.loads(output)) == ["cpu instrs", "dmg sound"]
    code, output = _run(data, "library", "stats")
    assert code == 0 and f"{count} games, {count} files" in output, output
    code, output = _run(data, "library", "verify")
    assert code == 0 and f"{count} files intact, 0 corrupt, 0 missing" in output, output
    code, output = _run(data, "import", str(roms), "--json")
    assert json.loads(output)["unchanged"] == count


def test_human_import_output_and_verify_failure(tmp_path: Path) -> None:
    library = tmp_path / "roms"
    rom = romgen.write(library / "nes" / "Game (USA).nes", romgen.nes())
    romgen.write(library / "nes" / "empty.nes", b"")
    code, output = _run(tmp_path / "data", "import", str(library))
    assert code == 0, output
    assert "Added 1, updated 0, unchanged 0, missing 0, failed 1" in output and "empty file" in output
    rom.unlink()
    code, output = _run(tmp_path / "data", "library", "verify")
    assert code == 1 and f"missing: {rom}" in output, output


def test_dry_run_writes_nothing(tmp_path: Path, roms: Path) -> None:
    shutil.copytree(roms / "gba", tmp_path / "gba")
    code, output = _run(tmp_path / "data", "import", str(tmp_path / "gba"), "--dry-run", "--copy", "--json")
    assert code == 0 and json.loads(output)["added"] == 3, output
    code, output = _run(tmp_path / "data", "library", "list", "--json")
    assert json.loads(output) == []
    assert not any((tmp_path / "data" / "content").iterdir())


def test_user_mistakes_are_one_line(tmp_path: Path, roms: Path) -> None:
    code, output = _run(tmp_path / "data", "import", str(roms), "--platform", "dreamcast")
    assert code != 0 and "unknown platform 'dreamcast'" in output and "Traceback" not in output
    (tmp_path / "bad.dat").write_text("not a dat (")
    code, output = _run(tmp_path / "data", "import", str(roms), "--dat", str(tmp_path / "bad.dat"))
    assert code != 0 and "bad.dat" in output and "Traceback" not in output
    code, output = _run(tmp_path / "data", "library", "list", "--json")
    assert json.loads(output) == []  # the bad DAT stopped the import before anything was read
