from __future__ import annotations

import zipfile
from pathlib import Path

from tests.library import romgen
from treazr.library.scanner import import_paths
from treazr.library.verify import verify_library
from treazr.services import Services


def test_verify_reports_corrupt_and_missing(services: Services, tmp_path: Path) -> None:
    good = romgen.write(tmp_path / "roms" / "gb" / "Good.gb", romgen.gb("GOOD"))
    corrupt = romgen.write(tmp_path / "roms" / "gb" / "Bad.gb", romgen.gb("BAD"))
    gone = romgen.write(tmp_path / "roms" / "nes" / "Gone.nes", romgen.nes())
    with zipfile.ZipFile(tmp_path / "roms" / "Zipped.zip", "w") as archive:
        archive.writestr("z.gba", romgen.gba())
    import_paths(services, [tmp_path / "roms"])
    data = bytearray(corrupt.read_bytes())
    data[0x2000] ^= 0xFF  # bit rot: same size, same path
    corrupt.write_bytes(bytes(data))
    gone.unlink()
    report = verify_library(services)
    assert report.ok == 2
    assert [item["path"] for item in report.corrupt] == [str(corrupt)]
    assert "content changed" in report.corrupt[0]["reason"]
    assert report.missing == [str(gone)]
    rows = {row["path"]: row for row in services.db.query("SELECT path, missing, verify_error, verified_at FROM files")}
    assert rows[str(gone)]["missing"] == 1 and rows[str(corrupt)]["verify_error"]
    assert rows[str(good)]["verify_error"] is None and rows[str(good)]["verified_at"]
