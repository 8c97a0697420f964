from __future__ import annotations

from pathlib import Path

import pytest

from tests.library import romgen
from treazr.errors import InvalidContent
from treazr.library.headers import HEAD_SIZE, identify


def _id(name: str, data: bytes, **kwargs: str | None):  # type: ignore[no-untyped-def]
    return identify(name, len(data), data[:HEAD_SIZE], **kwargs)


@pytest.mark.parametrize(("relative", "platform", "title"), [
    ("nes/nestest.nes", "nes", None),
    ("gb/cpu_instrs.gb", "gb", "CPU_INSTRS"),
    ("gb/dmg_sound.gb", "gb", "DMG_SOUND"),
    ("gba/arm.gba", "gba", "GBA Tests"),
    ("snes/RotZoom.sfc", "snes", "MODE7ROTATE ZOOM DEMO"),
    ("pce/padtest.pce", "pce", None),
])
def test_real_roms(roms: Path, relative: str, platform: str, title: str | None) -> None:
    data = (roms / relative).read_bytes()
    header = _id(Path(relative).name, data, folder=Path(relative).parent.name)
    assert (header.platform, header.title) == (platform, title)


def test_real_nes_and_pce_headers(roms: Path) -> None:
    official = _id("official_only.nes", (roms / "nes/official_only.nes").read_bytes())
    assert official.info["mapper"] == 1 and official.info["prg_rom_kb"] == 256 and official.skip == 16
    buttons = _id("test_buttons.nes", (roms / "nes/test_buttons.nes").read_bytes())
    assert buttons.info["mapper"] == 3 and buttons.info["chr_rom_kb"] == 8
    pce = _id("padtest.pce", (roms / "pce/padtest.pce").read_bytes())
    assert pce.skip == 512 and pce.info["copier_header"] is True
    dmg = _id("dmg_sound.gb", (roms / "gb/dmg_sound.gb").read_bytes())
    assert dmg.info["battery"] is True and dmg.info["header_checksum_valid"] is True


def test_nes2_mapper_and_battery() -> None:
    header = _id("x.nes", romgen.nes(prg_16k=8, chr_8k=0, mapper=0x105, battery=True, nes2=True))
    assert header.info["format"] == "NES 2.0"
    assert header.info["mapper"] == 0x105 and header.info["battery"] is True and header.info["prg_rom_kb"] == 128


def test_snes_lorom_hirom_and_copier_header() -> None:
    lo = _id("a.sfc", romgen.snes("LO GAME"))
    assert (lo.title, lo.info["mapping"], lo.skip, lo.info["checksum_pair_valid"]) == ("LO GAME", "LoROM", 0, True)
    hi = _id("b.smc", romgen.snes("HI GAME", hirom=True, copier=True))
    assert (hi.title, hi.info["mapping"], hi.skip, hi.info["copier_header"]) == ("HI GAME", "HiROM", 512, True)


def test_game_boy_color_flag_decides_gb_or_gbc() -> None:
    assert _id("a.gb", romgen.gb(cgb=0xC0)).platform == "gbc"  # CGB-only, whatever the extension
    assert _id("a.gb", romgen.gb(cgb=0x80)).platform == "gb"
    assert _id("a.gbc", romgen.gb(cgb=0x80)).platform == "gbc"  # dual mode: the extension decides
    plain = _id("a.gbc", romgen.gb(title="PLAIN", cgb=0x00))
    assert (plain.platform, plain.title, plain.info["battery"]) == ("gb", "PLAIN", True)


def test_other_platforms() -> None:
    gba = _id("x.gba", romgen.gba("MYGAME", "AMYE"))
    assert (gba.platform, gba.title, gba.info["game_code"]) == ("gba", "MYGAME", "AMYE")
    md = _id("x.bin", romgen.md("SONIC TEST"))
    assert (md.platform, md.title) == ("md", "SONIC TEST")
    assert _id("x.sms", romgen.sega8()).platform == "sms"
    assert _id("x.sms", romgen.sega8(game_gear=True)).platform == "gg"  # the header's region code wins
    assert _id("x.bin", romgen.body(4096)).platform == "a2600"
    assert _id("x.a26", romgen.body(8192)).platform == "a2600"


@pytest.mark.parametrize("order", ["z64", "v64", "n64"])
def test_n64_byte_orders(order: str) -> None:
    header = _id(f"x.{order}", romgen.n64("MARIO TEST", order=order))
    assert (header.platform, header.title, header.info["byte_order"]) == ("n64", "MARIO TEST", order)


def test_header_wins_over_folder_and_extension() -> None:
    assert _id("game.nes", romgen.gb(), folder="nes").platform == "gb"
    assert _id("game.bin", romgen.nes(), folder="md").platform == "nes"


def test_forced_platform_is_checked() -> None:
    with pytest.raises(InvalidContent, match="iNES"):
        _id("game.rom", romgen.gb(), forced="nes")
    assert _id("game.rom", romgen.body(4096), forced="a2600").platform == "a2600"


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("empty.nes", b"", "empty file"),
    ("short.nes", romgen.nes(truncate=100), "truncated NES ROM"),
    ("tiny.gb", romgen.gb()[:0x120], "truncated Game Boy ROM"),
    ("noise.nes", bytes(romgen.body(40000)), "no iNES header"),
    ("notes.xyz", b"hello world", "unknown format"),
    ("odd.bin", bytes(romgen.body(3000)), "not the size of an Atari 2600"),
    ("garbage.sfc", bytes(0x8000), "no SNES internal header"),
])
def test_bad_files_have_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidContent, match=reason):
        _id(name, data)
