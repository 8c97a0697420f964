"""Two hundred malformed ROMs (random bodies behind every platform's header, truncations, odd names) go
through the real ``treazr import`` and a sample through ``treazr run``: every file is imported or reported
with a reason, the database stays whole, and a core that crashes or refuses ends in one ``Error:`` line
naming it, never a traceback or a dead CLI."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from treazr.library.headers import _GB_LOGO
from treazr.library.scanner import import_paths
from treazr.services import Services


def _body(rng: random.Random, size: int, magic: bytes, at: int) -> bytes:
    data = bytearray(rng.randbytes(size))
    data[at:at + len(magic)] = magic[:max(size - at, 0)]
    return bytes(data)


def _text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\0" not in head


KINDS = [("nes", b"NES\x1a", 0), ("gb", _GB_LOGO, 0x104), ("gba", b"\x96", 0xB2), ("md", b"SEGA", 0x100),
         ("sms", b"TMR SEGA", 0x7FF0), ("pce", b"", 0), ("snes", b"", 0), ("z64", b"\x80\x37\x12\x40", 0)]


def malformed(folder: Path, count: int, rng: random.Random) -> list[Path]:
    folder.mkdir()
    files = []
    for n in range(count):
        extension, magic, at = KINDS[n % len(KINDS)]
        size = rng.choice([0, 3, 16, 300, 0x200, 0x8000, 0x20000 + rng.randrange(4096)])
        name = rng.choice([f"bad {n}.{extension}", f"{n}.{extension.upper()}", f"ünïcode {n}.{extension}",
                           f"{n}..{extension}", f"-{n}.{extension}"])
        path = folder / name
        path.write_bytes(_body(rng, size, magic, at))
        files.append(path)
    return files


@pytest.mark.slow
def test_malformed_roms_are_imported_or_refused_with_a_reason_and_runs_end_in_one_line(
        services: Services, tmp_path: Path) -> None:
    rng = random.Random(21)
    files = malformed(tmp_path / "bad", 200, rng)
    report = import_paths(services, [tmp_path / "bad"])
    documents = [f for f in files if f.suffix.lower() == ".md" and f.stat().st_size and _text(f.read_bytes()[:4096])]
    assert report.added + len(report.failed) == len(files) - len(documents), report.as_json()
    assert all(failure.reason for failure in report.failed)
    assert services.db.query_one("PRAGMA integrity_check") == {"integrity_check": "ok"}
    imported = [Path(row["path"]) for row in services.db.query("SELECT path FROM files ORDER BY id")]
    sample = rng.sample(imported, min(12, len(imported)))
    for rom in sample:
        run = subprocess.run([sys.executable, "-m", "treazr", "--data-dir", str(services.data.root), "run", str(rom),
                              "--frames", "30"], capture_output=True, text=True, timeout=120, cwd=REPO)
        assert "Traceback" not in run.stderr + run.stdout, (rom, run.stderr)
        if run.returncode != 0:
            errors = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
            assert len(errors) == 1, (rom, run.stderr)
