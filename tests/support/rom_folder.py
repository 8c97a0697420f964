"""The test-ROM folder: where it is, what it must hold, and the check ``./dev.sh test`` runs before anything else.

The ROMs are not in the repository (they are other people's work, and only test data): ``tests/roms.toml``
lists each one with its SHA-1, where it comes from and its licence. The tests and the benchmarks read them
from one folder, ``$TREAZR_TEST_ROMS``, by default ``../shared/roms`` next to the repository.

    python3 tests/support/rom_folder.py    # one short line and exit 0 when every listed ROM is there

Standard library only: ``dev.sh`` runs this file with the system ``python3`` before the virtual environment
(or anything else) is set up, so a clone without the ROMs stops at once with one message.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROMS_ENV", "ROM_LIST", "ListedRom", "Problem", "check", "describe", "listed_roms", "main", "rom_folder"]

REPO = Path(__file__).resolve().parent.parent.parent
ROMS_ENV = "TREAZR_TEST_ROMS"
ROM_LIST = REPO / "tests" / "roms.toml"
_DEFAULT_FOLDER = REPO.parent / "shared" / "roms"


@dataclass(frozen=True)
class ListedRom:
    """One entry of ``tests/roms.toml``."""

    path: str  # relative to the ROM folder, with forward slashes
    sha1: str
    what: str
    source: str
    author: str
    licence: str
    within: str = ""  # where in ``source`` the file is, when the source holds many

    @property
    def origin(self) -> str:
        return f"{self.source} ({self.within})" if self.within else self.source


@dataclass(frozen=True)
class Problem:
    """A listed ROM that is not in the folder (``found_sha1`` empty) or whose bytes differ."""

    rom: ListedRom
    found_sha1: str = ""


def rom_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder the tests read ROMs from: ``$TREAZR_TEST_ROMS`` if set, else ``<repo>/../shared/roms``."""
    configured = environ.get(ROMS_ENV, "")
    return Path(configured).expanduser().absolute() if configured else _DEFAULT_FOLDER


def listed_roms(rom_list: Path = ROM_LIST) -> list[ListedRom]:
    with rom_list.open("rb") as handle:
        return [ListedRom(**entry) for entry in tomllib.load(handle)["rom"]]


def _sha1(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha1").hexdigest()


def check(folder: Path, roms: list[ListedRom] | None = None) -> list[Problem]:
    """Every listed ROM that is missing from ``folder`` or has other bytes, in the list's order."""
    problems = []
    for rom in listed_roms() if roms is None else roms:
        path = folder / rom.path
        if not path.is_file():
            problems.append(Problem(rom))
        elif (found := _sha1(path)) != rom.sha1:
            problems.append(Problem(rom, found))
    return problems


def describe(folder: Path, problems: list[Problem], environ: Mapping[str, str] = os.environ) -> str:
    """The one message for a folder that lacks ROMs: where we looked, how to look elsewhere, what each file is."""
    where = f"set by {ROMS_ENV}" if environ.get(ROMS_ENV) else f"the default, as {ROMS_ENV} is not set"
    absent = "" if folder.is_dir() else " (the folder does not exist)"
    lines = [f"The tests need the test ROMs listed in {ROM_LIST.relative_to(REPO)}, looked for in",
             f"  {folder}, {where}{absent};",
             f"{len(problems)} of them are missing or differ:"]
    for problem in problems:
        rom = problem.rom
        state = (f"wrong SHA-1: {problem.found_sha1}, expected {rom.sha1}" if problem.found_sha1 else "missing")
        lines += [f"  {rom.path}: {state}",
                  f"      {rom.what}",
                  f"      by {rom.author}, from {rom.origin}; licence: {rom.licence}"]
    lines += ["Put each file at its path under that folder, or point the tests at a folder that has them:",
              f"  {ROMS_ENV}=/path/to/roms ./dev.sh test"]
    return "\n".join(lines)


def main(environ: Mapping[str, str] = os.environ) -> int:
    folder = rom_folder(environ)
    roms = listed_roms()
    problems = check(folder, roms)
    if problems:
        print(describe(folder, problems, environ), file=sys.stderr)
        return 1
    print(f"test ROMs: all {len(roms)} listed ROMs are in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
