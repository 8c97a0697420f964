from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.library import romgen
from treazr.errors import InvalidInput
from treazr.library.dat import load_dat
from treazr.library.repository import list_games
from treazr.library.scanner import import_paths
from treazr.services import Services

LOGIQX = """<?xml version="1.0"?>
<!DOCTYPE datafile PUBLIC "-//Logiqx//DTD ROM Management Datafile//EN" "http://www.logiqx.com/dtds/datafile.dtd">
<datafile>
  <header><name>Nintendo - Nintendo Entertainment System (Headered)</name><version>20240101</version></header>
  <game name="Nestest (World) (Rev 1)">
    <description>Nestest (World) (Rev 1)</description>
    <rom name="Nestest (World) (Rev 1).nes" size="24592" crc="00000000"
         sha1="5b608f023b41399c34dfc6c847d8af084e0f7aeb"/>
  </game>
  <game name="Fifteen (Europe) (En,Fr,De)">
    <rom name="Fifteen (Europe) (En,Fr,De).nes" size="28688" sha1="8fcc5798252370c63a98e7421131abf3eb22bfcf"/>
  </game>
</datafile>
"""

CLRMAMEPRO = """clrmamepro (
\tname "Nintendo - Nintendo Entertainment System (Headerless)"
\tdescription "Nintendo - Nintendo Entertainment System"
\tversion 20240102
)

game (
\tname "Homebrew Quest (USA) (Rev 2)"
\tdescription "Homebrew Quest (USA) (Rev 2)"
\trom ( name "Homebrew Quest (USA) (Rev 2).nes" size {size} crc {crc} sha1 {sha1} )
)
"""


def test_logiqx_parse(tmp_path: Path) -> None:
    (tmp_path / "nes.dat").write_text(LOGIQX)
    dat = load_dat(tmp_path / "nes.dat")
    assert dat.format == "logiqx" and dat.name.startswith("Nintendo - Nintendo Entertainment System")
    assert [(e.game_name, e.size, e.sha1) for e in dat.entries] == [
        ("Nestest (World) (Rev 1)", 24592, "5b608f023b41399c34dfc6c847d8af084e0f7aeb"),
        ("Fifteen (Europe) (En,Fr,De)", 28688, "8fcc5798252370c63a98e7421131abf3eb22bfcf")]


def test_clrmamepro_parse(tmp_path: Path) -> None:
    (tmp_path / "nes.dat").write_text(CLRMAMEPRO.format(size=100, crc="ABCD1234", sha1="AA" * 20))
    dat = load_dat(tmp_path / "nes.dat")
    assert (dat.format, dat.version) == ("clrmamepro", "20240102")
    entry = dat.entries[0]
    assert (entry.game_name, entry.rom_name, entry.size, entry.crc32, entry.sha1) == (
        "Homebrew Quest (USA) (Rev 2)", "Homebrew Quest (USA) (Rev 2).nes", 100, "abcd1234", "aa" * 20)


@pytest.mark.parametrize("text", ["<datafile><game name='x'>", "clrmamepro ( name \"x\" ", "game ( name x )"])
def test_bad_dats_are_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.dat").write_text(text)
    with pytest.raises(InvalidInput, match=r"bad\.dat"):
        load_dat(tmp_path / "bad.dat")


def test_import_names_games_from_dats_and_keeps_them(services: Services, roms: Path, tmp_path: Path) -> None:
    (tmp_path / "nes.dat").write_text(LOGIQX)
    rom = romgen.nes(prg_16k=1)
    bare = rom[16:]
    (tmp_path / "headerless.dat").write_text(CLRMAMEPRO.format(
        size=len(bare), crc=f"{zlib.crc32(bare):08X}", sha1=hashlib.sha1(bare).hexdigest().upper()))
    import_paths(services, [roms / "nes"], dats=[tmp_path / "nes.dat"])
    games = {game["title"]: game for game in list_games(services.db, platform="nes")}
    assert games["Nestest"]["revision"] == "Rev 1" and games["Nestest"]["region"] == "World"
    assert games["Nestest"]["dat_name"] == "Nestest (World) (Rev 1)"
    assert games["Fifteen"]["languages"] == "En,Fr,De" and games["Fifteen"]["region"] == "Europe"
    assert "official only" in games  # no DAT entry: named from the file
    # the DAT is kept: a later import without --dat still matches (here through the headerless hash)
    import_paths(services, [], dats=[tmp_path / "headerless.dat"])
    kept = services.db.query("SELECT path FROM dat_files ORDER BY id")
    assert len(kept) == 2 and all(Path(row["path"]).parent == services.data.dats for row in kept)
    romgen.write(tmp_path / "later" / "nes" / "hq.nes", rom)
    import_paths(services, [tmp_path / "later"])
    quest = list_games(services.db, search="homebrew quest")
    assert [(g["title"], g["region"], g["revision"]) for g in quest] == [("Homebrew Quest", "USA", "Rev 2")]


def test_a_dat_loaded_later_renames_games_already_in_the_library(services: Services, roms: Path,
                                                                  tmp_path: Path) -> None:
    import_paths(services, [roms / "nes"])
    assert not list_games(services.db, search="nestest world")
    (tmp_path / "nes.dat").write_text(LOGIQX)
    report = import_paths(services, [roms / "nes"], dats=[tmp_path / "nes.dat"])
    assert report.unchanged == 5
    assert [g["dat_name"] for g in list_games(services.db, search="nestest")] == ["Nestest (World) (Rev 1)"]


def _n64_dat(z64: bytes) -> str:
    return CLRMAMEPRO.replace("Entertainment System", "64").replace(".nes", ".z64").format(
        size=len(z64), crc=f"{zlib.crc32(z64):08X}", sha1=hashlib.sha1(z64).hexdigest())


def test_n64_roms_in_every_byte_order_match_the_dats_z64_hash(services: Services, roms: Path,
                                                               tmp_path: Path) -> None:
    z64 = (roms / "n64" / "InputCPU.N64").read_bytes()
    assert z64[:4] == bytes.fromhex("80371240")  # the console's own big-endian order
    v64 = b"".join(z64[i:i + 2][::-1] for i in range(0, len(z64), 2))  # 16-bit words byte-swapped
    n64 = b"".join(z64[i:i + 4][::-1] for i in range(0, len(z64), 4))  # 32-bit words reversed
    (tmp_path / "n64.dat").write_text(_n64_dat(z64))
    romgen.write(tmp_path / "lib" / "n64" / "swapped.v64", v64)
    romgen.write(tmp_path / "lib" / "n64" / "reversed.n64", n64)
    zipped = tmp_path / "lib" / "n64" / "zipped.zip"
    with zipfile.ZipFile(zipped, "w") as archive:  # stored: the test ROM is mostly zeros, a "bomb"
        archive.writestr("inside.v64", v64)
    romgen.write(tmp_path / "lib" / "n64" / "native.z64", z64)
    report = import_paths(services, [tmp_path / "lib"], dats=[tmp_path / "n64.dat"])
    assert report.added == 4 and not report.failed
    files = {Path(row["path"]).name: row for row in services.db.query("SELECT * FROM files")}
    sha1 = hashlib.sha1(z64).hexdigest()
    assert files["native.z64"]["sha1"] == sha1 and files["native.z64"]["headerless_sha1"] is None
    for name in ("swapped.v64", "reversed.n64", "zipped.zip#inside.v64"):
        assert files[name]["sha1"] != sha1 and files[name]["headerless_sha1"] == sha1, name
    named = {game["dat_name"] for game in list_games(services.db, platform="n64")}
    assert named == {"Homebrew Quest (USA) (Rev 2)"}
