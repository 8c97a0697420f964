"""The repository says what its tests need: ``tests/roms.toml`` lists the test ROMs, ``$TREAZR_TEST_ROMS`` says
where they are, and ``./dev.sh test`` checks them first (``tests/support/rom_folder.py``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.rom_folder import REPO, ROMS_ENV, ListedRom, Problem, check, describe, listed_roms, rom_folder

CHECKER = REPO / "tests" / "support" / "rom_folder.py"
BOUND_S = 120  # an "eventually" bound for the subprocesses, not a timing check


def _run(args: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in the repository with ``$TREAZR_TEST_ROMS`` set to ``folder``; its whole group is stopped
    if it outlives the bound (so a checker that wrongly passed cannot leave a test suite running)."""
    env = {**os.environ, ROMS_ENV: str(folder)}
    process = subprocess.Popen(args, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def _copy_roms(source: Path, folder: Path) -> Path:
    # Bytes only: the shared files and folders are read-only, and copies with their modes could not be changed
    for rom in listed_roms():
        (folder / rom.path).parent.mkdir(parents=True, exist_ok=True)
        (folder / rom.path).write_bytes((source / rom.path).read_bytes())
    return folder


def test_the_folder_is_treazr_test_roms_or_shared_roms_next_to_the_repository(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert rom_folder({}) == REPO.parent / "shared" / "roms"
    assert rom_folder({ROMS_ENV: ""}) == REPO.parent / "shared" / "roms"
    assert rom_folder({ROMS_ENV: str(tmp_path)}) == tmp_path
    monkeypatch.chdir(tmp_path)
    assert rom_folder({ROMS_ENV: "mine"}) == tmp_path / "mine"


def test_dev_sh_test_stops_before_setup_with_one_message_when_the_roms_are_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run(["bash", "dev.sh", "test"], empty)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("The tests need the test ROMs listed in tests/roms.toml") == 1, result.stderr
    assert f"\n  {empty}, set by {ROMS_ENV};\n" in result.stderr
    assert f"{ROMS_ENV}=/path/to/roms ./dev.sh test" in result.stderr
    for rom in listed_roms():
        assert f"  {rom.path}: missing\n" in result.stderr
        assert f"      by {rom.author}, from {rom.origin}; licence: {rom.licence}\n" in result.stderr
    assert "==> " not in result.stderr and not result.stdout  # neither setup, ruff, mypy nor pytest began


def test_a_folder_of_copies_passes_and_a_changed_or_missing_file_is_named(tmp_path: Path, roms: Path) -> None:
    copies = _copy_roms(roms, tmp_path / "copies")
    assert check(copies) == []
    passed = _run([sys.executable, "-S", str(CHECKER)], copies)  # -S: no site-packages, the standard library only
    assert passed.returncode == 0 and not passed.stderr, passed.stderr
    assert passed.stdout == f"test ROMs: all {len(listed_roms())} listed ROMs are in {copies}\n"

    changed = copies / "gb" / "cpu_instrs.gb"
    changed.write_bytes(changed.read_bytes()[:-1] + b"\xff")
    (copies / "nes" / "nestest.nes").unlink()
    by_path = {problem.rom.path: problem for problem in check(copies)}
    assert set(by_path) == {"gb/cpu_instrs.gb", "nes/nestest.nes"}
    assert by_path["nes/nestest.nes"].found_sha1 == ""
    assert by_path["gb/cpu_instrs.gb"].found_sha1 not in ("", by_path["gb/cpu_instrs.gb"].rom.sha1)

    failed = _run([sys.executable, "-S", str(CHECKER)], copies)
    assert failed.returncode == 1 and not failed.stdout
    assert f"  gb/cpu_instrs.gb: wrong SHA-1: {by_path['gb/cpu_instrs.gb'].found_sha1}, expected " in failed.stderr
    assert "  nes/nestest.nes: missing\n" in failed.stderr
    assert "2 of them are missing or differ" in failed.stderr
    assert "gba/arm.gba" not in failed.stderr


def test_the_message_says_when_the_folder_itself_is_absent(tmp_path: Path) -> None:
    rom = ListedRom(path="nes/x.nes", sha1="0" * 40, what="a test", source="https://example.org/x", author="Someone",
                    licence="MIT", within="bin/")
    message = describe(tmp_path / "nowhere", [Problem(rom)], environ={})
    assert f"  {tmp_path / 'nowhere'}, the default, as {ROMS_ENV} is not set (the folder does not exist);" in message
    assert "  nes/x.nes: missing\n      a test\n      by Someone, from https://example.org/x (bin/); licence: MIT" \
        in message


def test_the_roms_fixture_is_the_checked_folder(roms: Path) -> None:
    assert roms == rom_folder()


def test_the_roms_fixture_follows_treazr_test_roms(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inner = f"{Path(__file__).relative_to(REPO)}::test_the_roms_fixture_is_the_checked_folder"
    result = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", inner], elsewhere)
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr


def test_the_list_names_every_rom_the_tests_and_benchmarks_name() -> None:
    listed = {rom.path for rom in listed_roms()}
    platforms = "|".join(sorted({path.split("/")[0] for path in listed}))
    as_one_string = re.compile(rf'"((?:{platforms})/[^"/\s]+)"')  # "nes/nestest.nes"
    as_parts = re.compile(r'(?:\b(?:roms|ROMS)\s*/\s*"(\w+)"|Path\("(\w+)"\))\s*/\s*"([^"]+)"')  # roms / "nes" / "x"
    named: dict[str, str] = {}
    sources = [*(REPO / "tests").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    for source in sorted(set(sources) - {Path(__file__).resolve()}):  # this file names made-up ROMs
        text = source.read_text("utf-8")
        for path in [match[1] for match in as_one_string.finditer(text)] + \
                [f"{match[1] or match[2]}/{match[3]}" for match in as_parts.finditer(text)]:
            named.setdefault(path, str(source.relative_to(REPO)))
    assert {"pce/padtest.pce", "nes/nestest.nes", "gb/cpu_instrs.gb"} <= set(named)  # the search itself works
    assert {path: where for path, where in named.items() if path not in listed} == {}


def test_the_list_is_the_folder_sha1sums(roms: Path) -> None:
    listed = listed_roms()
    assert len({rom.path for rom in listed}) == len(listed)
    assert all(re.fullmatch("[0-9a-f]{40}", rom.sha1) and rom.source and rom.licence for rom in listed)
    if not (roms / "SHA1SUMS").is_file():
        pytest.skip(f"{roms} has no SHA1SUMS; the check compares the list with the files themselves")
    recorded = {path: sha1 for sha1, path in
                (line.split("  ", 1) for line in (roms / "SHA1SUMS").read_text().splitlines() if line)}
    assert {rom.path: rom.sha1 for rom in listed} == recorded
