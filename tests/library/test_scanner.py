from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.library import romgen
from tests.library.test_archives import deflate64_zip
from tests.support.roms import platform_counts, rom_count, sha1sums
from treazr.composition import open_treazr
from treazr.errors import InvalidInput
from treazr.library.scanner import ImportReport, identify_file, import_paths
from treazr.services import Services
from treazr.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def _files(services: Services) -> dict[str, dict]:  # type: ignore[type-arg]
    return {row["path"]: row for row in services.db.query("SELECT * FROM files")}


def test_import_real_roms(services: Services, roms: Path) -> None:
    report = import_paths(services, [roms])
    assert (report.added, report.updated, report.unchanged, report.missing) == (rom_count(roms), 0, 0, 0)
    assert [f.path for f in report.failed] == [str(roms / "SHA1SUMS")]  # a text file without extension
    files = _files(services)
    assert {path: row["sha1"] for path, row in files.items()} == sha1sums(roms)
    platforms = {r["platform"]: r["n"] for r in services.db.query(
        "SELECT platform, COUNT(*) AS n FROM games GROUP BY platform")}
    assert platforms == platform_counts(roms)
    assert {"nes": 5, "gb": 2, "gba": 3, "snes": 1, "pce": 1}.items() <= platforms.items()
    nestest = files[str(roms / "nes/nestest.nes")]
    assert nestest["headerless_sha1"] and nestest["headerless_sha1"] != nestest["sha1"]
    assert files[str(roms / "pce/padtest.pce")]["headerless_sha1"]  # 512-byte copier header
    assert files[str(roms / "gb/cpu_instrs.gb")]["headerless_sha1"] is None


def test_unchanged_rescan_reads_nothing(services: Services, roms: Path) -> None:
    import_paths(services, [roms])
    report = import_paths(services, [roms])
    # only the two text files (not ROMs, so never recorded) are read again
    text_bytes = (roms / "SHA1SUMS").stat().st_size + (roms / "SOURCES.md").stat().st_size
    count = rom_count(roms)
    assert (report.added, report.updated, report.unchanged, report.bytes_read) == (0, 0, count, text_bytes)
    runs = services.db.query("SELECT status, added, unchanged FROM imports ORDER BY id")
    assert runs == [{"status": "done", "added": count, "unchanged": 0},
                    {"status": "done", "added": 0, "unchanged": count}]


def test_moved_file_keeps_its_game_and_vanished_file_is_marked_missing(services: Services, tmp_path: Path) -> None:
    library = tmp_path / "roms"
    first = romgen.write(library / "gb" / "Alpha (USA).gb", romgen.gb("ALPHA"))
    second = romgen.write(library / "nes" / "Beta (Europe).nes", romgen.nes())
    import_paths(services, [library])
    before = _files(services)
    moved = library / "gb" / "renamed" / "Alpha Renamed.gb"
    moved.parent.mkdir()
    first.rename(moved)
    second.unlink()
    report = import_paths(services, [library])
    assert (report.added, report.updated, report.missing) == (0, 1, 1)
    after = _files(services)
    assert after[str(moved)]["id"] == before[str(first)]["id"]
    assert after[str(moved)]["game_id"] == before[str(first)]["game_id"]
    assert after[str(second)]["missing"] == 1  # never deleted
    assert services.db.query_one("SELECT COUNT(*) AS n FROM games")["n"] == 2  # type: ignore[index]
    second.write_bytes(romgen.nes())  # a file coming back is no longer missing
    report = import_paths(services, [library])
    assert _files(services)[str(second)]["missing"] == 0 and report.missing == 0


def test_same_content_in_two_places_is_one_game_with_two_files(services: Services, tmp_path: Path) -> None:
    data = romgen.gba("TWIN")
    romgen.write(tmp_path / "a" / "gba" / "Twin.gba", data)
    romgen.write(tmp_path / "b" / "Twin (copy).gba", data)
    report = import_paths(services, [tmp_path / "a", tmp_path / "b"])
    assert report.added == 2
    rows = services.db.query("SELECT DISTINCT game_id FROM files")
    assert [row["game_id"] for row in rows] == report.game_ids


def test_bad_files_never_stop_an_import(services: Services, tmp_path: Path) -> None:
    library = tmp_path / "roms"
    romgen.write(library / "nes" / "good.nes", romgen.nes())
    romgen.write(library / "nes" / "empty.nes", b"")
    romgen.write(library / "nes" / "short.nes", romgen.nes(truncate=500))
    romgen.write(library / "misc" / "mystery.xyz", b"what is this")
    romgen.write(library / "misc" / "readme.txt", b"ignored, not a failure")
    (library / "misc" / "broken.zip").write_bytes(b"PK\x03\x04 nope")
    with zipfile.ZipFile(library / "misc" / "evil.zip", "w") as archive:
        archive.writestr("../../escape.nes", romgen.nes())
    deflate64_zip(library / "misc" / "deflate64.zip", romgen.nes())
    vanishing = romgen.write(library / "nes" / "vanishing.nes", romgen.nes())

    def delete_before_reading(done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        vanishing.unlink(missing_ok=True)  # found by the walk, gone before it is read

    report = import_paths(services, [library], progress=delete_before_reading)
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert report.added == 1
    assert reasons.keys() == {"empty.nes", "short.nes", "mystery.xyz", "broken.zip", "evil.zip", "deflate64.zip",
                              "vanishing.nes"}
    assert "Deflate64" in reasons["deflate64.zip"]
    assert "empty file" in reasons["empty.nes"] and "truncated" in reasons["short.nes"]
    assert "unknown format" in reasons["mystery.xyz"] and "broken archive" in reasons["broken.zip"]
    assert "climbs out" in reasons["evil.zip"] and "unreadable" in reasons["vanishing.nes"]
    assert services.db.query_one("SELECT COUNT(*) AS n FROM files")["n"] == 1  # type: ignore[index]


def test_archives_multi_file_game_and_changed_archive(services: Services, tmp_path: Path) -> None:
    archive_path = tmp_path / "roms" / "Double Pack (USA).zip"
    archive_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("disk1.gb", romgen.gb("DISK ONE"))
        archive.writestr("disk2.gb", romgen.gb("DISK TWO"))
        archive.writestr("readme.txt", "hello")
    report = import_paths(services, [tmp_path / "roms"])
    assert report.added == 2 and not report.failed
    games = services.db.query("SELECT title, region FROM games")
    assert games == [{"title": "Double Pack", "region": "USA"}]
    assert import_paths(services, [tmp_path / "roms"]).unchanged == 2
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("disk1.gb", romgen.gb("DISK ONE"))
    os.utime(archive_path, ns=(1, 1))
    report = import_paths(services, [tmp_path / "roms"])
    assert (report.added, report.updated, report.missing) == (0, 1, 1)
    assert _files(services)[f"{archive_path}#disk2.gb"]["missing"] == 1


def test_copy_into_the_content_store_deduplicates(services: Services, tmp_path: Path) -> None:
    data = romgen.snes("STORED")
    romgen.write(tmp_path / "one" / "snes" / "Stored.sfc", data)
    romgen.write(tmp_path / "two" / "snes" / "Stored again.sfc", data)
    with zipfile.ZipFile(tmp_path / "two" / "zipped.zip", "w") as archive:
        archive.writestr("inner.sfc", data)
    import_paths(services, [tmp_path / "one", tmp_path / "two"], copy=True)
    rows = services.db.query("SELECT store_path, sha256 FROM files")
    assert len(rows) == 3 and len({row["store_path"] for row in rows}) == 1
    stored = services.data.content / rows[0]["store_path"]
    assert stored.read_bytes() == data and stored.name == rows[0]["sha256"]
    assert [p for p in services.data.content.rglob("*") if p.is_file()] == [stored]  # no stray temp files


def test_copy_after_an_in_place_import_copies_unchanged_files(services: Services, roms: Path) -> None:
    import_paths(services, [roms / "gb"])
    assert services.db.query("SELECT store_path FROM files WHERE store_path IS NOT NULL") == []
    report = import_paths(services, [roms / "gb"], copy=True)
    assert (report.added, report.updated) == (0, 2)
    for row in services.db.query("SELECT store_path, sha256 FROM files"):
        assert (services.data.content / row["store_path"]).is_file()
    assert import_paths(services, [roms / "gb"], copy=True).unchanged == 2


def test_dry_run_writes_nothing(services: Services, roms: Path, tmp_path: Path) -> None:
    shutil.copytree(roms, tmp_path / "copy")
    report = import_paths(services, [tmp_path / "copy"], dry_run=True, copy=True)
    assert report.added == rom_count(roms)
    for table in ("games", "files", "imports", "dat_files"):
        assert services.db.query_one(f"SELECT COUNT(*) AS n FROM {table}")["n"] == 0  # type: ignore[index]
    assert not any(services.data.content.iterdir())


def test_forced_platform(services: Services, tmp_path: Path) -> None:
    romgen.write(tmp_path / "stuff" / "game.rom", bytes(romgen.body(4096)))
    report = import_paths(services, [tmp_path / "stuff"], platform="atari2600")
    assert report.added == 1
    assert services.db.query("SELECT platform FROM games") == [{"platform": "a2600"}]


def test_identify_file(roms: Path, tmp_path: Path) -> None:
    probe = identify_file(roms / "gba" / "sram.gba")
    assert probe.header.platform == "gba" and probe.hashes.sha1 == "4fc95dc85cb68fdbc04c6689c9d62329582a1856"
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as archive:
        archive.write(roms / "nes" / "nestest.nes", "Nestest.nes")
    assert identify_file(tmp_path / "x.zip").hashes.sha1 == "5b608f023b41399c34dfc6c847d8af084e0f7aeb"


def _start_import(data: Path, library: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "treazr", "--data-dir", str(data), "import", str(library), "--json"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _recorded(database: Path) -> int:
    if not database.exists():
        return 0
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the tables are not created yet
    finally:
        conn.close()


def _interrupt_midway(data: Path, library: Path, total: int, sig: int, before: int = 0) -> int:
    """Start an import, wait until it has committed more files than ``before``, then send ``sig``."""
    process = _start_import(data, library)
    try:
        deadline = time.monotonic() + 60
        while _recorded(data / "treazr.db") <= before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(sig)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0, "the import finished before it could be interrupted"
    recorded = _recorded(data / "treazr.db")
    assert before < recorded < total
    return recorded


def _check_consistent(database: Path) -> None:
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute("SELECT COUNT(*) FROM files WHERE game_id NOT IN (SELECT id FROM games)").fetchone()
        assert orphans[0] == 0
        duplicates = conn.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM files").fetchone()
        assert duplicates[0] == 0
    finally:
        conn.close()


@pytest.mark.slow
def test_interrupted_import_is_consistent_and_a_rerun_continues(tmp_path: Path) -> None:
    library, data, total = tmp_path / "roms", tmp_path / "data", 1500
    for index in range(total):
        romgen.write(library / "gba" / f"{index // 100:02d}" / f"Game {index:04d}.gba",
                     romgen.gba(f"G{index}", size=512 * 1024))
    after_ctrl_c = _interrupt_midway(data, library, total, signal.SIGINT)
    _check_consistent(data / "treazr.db")
    after_kill = _interrupt_midway(data, library, total, signal.SIGKILL, before=after_ctrl_c)
    _check_consistent(data / "treazr.db")
    finished = subprocess.run([sys.executable, "-m", "treazr", "--data-dir", str(data), "import", str(library),
                               "--json"], cwd=REPO, capture_output=True, check=True, timeout=300)
    summary = json.loads(finished.stdout)
    assert summary["unchanged"] == after_kill and summary["added"] == total - after_kill
    assert summary["failed"] == [] and _recorded(data / "treazr.db") == total
    _check_consistent(data / "treazr.db")
    statuses = [row[0] for row in sqlite3.connect(data / "treazr.db").execute("SELECT status FROM imports")]
    assert statuses == ["interrupted", "interrupted", "done"]  # the killed run's row is closed by the rerun


def test_7z_archive_import(services: Services, roms: Path, tmp_path: Path) -> None:
    import py7zr

    (tmp_path / "roms").mkdir()
    with py7zr.SevenZipFile(tmp_path / "roms" / "Padtest (Japan).7z", "w") as archive:
        archive.write(roms / "pce" / "padtest.pce", "padtest.pce")
    report = import_paths(services, [tmp_path / "roms"])
    assert report.added == 1 and not report.failed
    row = services.db.query_one("SELECT f.sha1, g.platform, g.title, g.region FROM files f JOIN games g"
                                " ON g.id = f.game_id")
    assert row == {"sha1": "fbc93e0a0edd0a538ab87138e87925be343115d6", "platform": "pce", "title": "Padtest",
                   "region": "Japan"}


def test_two_imports_of_the_same_folder_at_once(services: Services, tmp_path: Path) -> None:
    for index in range(300):
        romgen.write(tmp_path / "roms" / "gb" / f"Game {index}.gb", romgen.gb(f"G{index}"))
    reports: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            report = import_paths(services, [tmp_path / "roms"])
            reports.append(report.added + report.updated)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(reports) == 2
    assert services.db.query_one("SELECT COUNT(*) AS n FROM files")["n"] == 300  # type: ignore[index]
    assert import_paths(services, [tmp_path / "roms"]).unchanged == 300


def test_same_new_content_from_two_imports_at_once_is_one_game(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Import B has loaded what the library holds (its first batch is committed) when import A, with its own
    database writer as a second process would have, commits the same content; B then meets that content."""
    shared = romgen.gb("SHARED")
    romgen.write(tmp_path / "b" / "gb" / "1 First.gb", romgen.gb("FIRST"))
    romgen.write(tmp_path / "b" / "gb" / "2 Shared.gb", shared)
    romgen.write(tmp_path / "a" / "gb" / "Shared elsewhere.gb", shared)
    monkeypatch.setattr("treazr.library.scanner._BATCH_FILES", 1)  # one file per batch, so B has two batches
    settings = load_settings(overrides={"data_dir": str(tmp_path / "data"), "library": {"hash_workers": 1}},
                             environ={})
    first = str(tmp_path / "b" / "gb" / "1 First.gb")
    importer_a, importer_b = open_treazr(settings), open_treazr(settings)
    reports: list[ImportReport] = []

    def between(done: int, total: int, done_bytes: int, total_bytes: int) -> None:
        if done != 1 or reports:
            return
        deadline = time.monotonic() + 30
        while importer_a.db.query_one("SELECT id FROM files WHERE path = ?", (first,)) is None:
            assert time.monotonic() < deadline, "import B's first batch was never committed"
            time.sleep(0.01)
        reports.append(import_paths(importer_a, [tmp_path / "a"]))

    try:
        report_b = import_paths(importer_b, [tmp_path / "b"], progress=between)
    finally:
        importer_a.close()
        importer_b.close()
    assert reports[0].added == 1 and report_b.added == 2
    games = _files_at(tmp_path / "data" / "treazr.db")
    assert games[str(tmp_path / "a" / "gb" / "Shared elsewhere.gb")] == games[str(tmp_path / "b/gb/2 Shared.gb")]
    assert len(set(games.values())) == 2


def _files_at(database: Path) -> dict[str, int]:
    conn = sqlite3.connect(database)
    try:
        return {path: game_id for path, game_id in conn.execute("SELECT path, game_id FROM files")}
    finally:
        conn.close()


def test_hashing_in_worker_processes_gives_the_same_library(tmp_path: Path, roms: Path) -> None:
    # in a child interpreter: the forkserver and its workers end with it
    script = ("import json, sys\n"
              "from treazr.library.scanner import import_paths\n"
              "from treazr.composition import open_treazr\n"
              "from treazr.settings import load_settings\n"
              "services = open_treazr(load_settings(overrides={'data_dir': sys.argv[1]}, environ={}))\n"
              "try:\n"
              "    print(json.dumps(import_paths(services, [sys.argv[2]], hashing='processes').as_json()))\n"
              "finally:\n"
              "    services.close()\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "data"), str(roms)], cwd=REPO,
                          capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(done.stdout)["added"] == rom_count(roms)
    conn = sqlite3.connect(tmp_path / "data" / "treazr.db")
    try:
        sha1s = {path: sha1 for path, sha1 in conn.execute("SELECT path, sha1 FROM files")}
    finally:
        conn.close()
    assert sha1s == sha1sums(roms)


def test_unknown_hashing_mode_is_refused(services: Services, roms: Path) -> None:
    with pytest.raises(InvalidInput, match="threads"):
        import_paths(services, [roms / "gb"], hashing="fibers")


def test_title_index_stays_in_sync_with_batched_imports_and_other_writers(services: Services, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("treazr.library.scanner._BATCH_FILES", 3)  # several batches, each indexing its games
    for index, word in enumerate(["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf"]):
        romgen.write(tmp_path / "roms" / "gb" / f"{word} Quest (USA).gb", romgen.gb(f"T{index}"))
    import_paths(services, [tmp_path / "roms"])
    later = services.db.execute("INSERT INTO games (platform, title, added_at, updated_at)"
                                " VALUES ('nes', 'Hotel Mario', '', '')")  # another writer: the trigger indexes it
    services.db.execute("UPDATE games SET title = 'Zulu Quest' WHERE title = 'Golf Quest'")

    def found(word: str) -> list[str]:
        return [row["title"] for row in services.db.query(
            "SELECT g.title FROM games_fts JOIN games g ON g.id = games_fts.rowid WHERE games_fts MATCH ?"
            " ORDER BY g.title", (word,))]

    assert found("quest") == ["Alpha Quest", "Bravo Quest", "Charlie Quest", "Delta Quest", "Echo Quest",
                              "Foxtrot Quest", "Zulu Quest"]
    assert found("golf") == [] and found("hotel") == ["Hotel Mario"] and later
    assert services.db.query("SELECT * FROM games_fts_deferred") == []  # the flag never outlives a batch
    # FTS5 compares its index with the games table itself, row by row
    services.db.execute("INSERT INTO games_fts (games_fts, rank) VALUES ('integrity-check', 1)")
