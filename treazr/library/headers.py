"""Per-platform header parsing, and the decision of which platform a ROM belongs to.

Folder name, extension and the file's own header are weighed together: a header with a magic number
(iNES, the Game Boy logo, GBA's fixed 0x96 byte, "SEGA" at 0x100, "TMR SEGA", N64 byte-order magics)
wins over a folder or an extension that says otherwise; platforms without a magic (PC Engine, Atari
2600, SNES) are taken from the folder or the extension and checked for plausibility.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from treazr.errors import InvalidContent
from treazr.library.platforms import PLATFORMS, platforms_for_extension

__all__ = ["HEAD_SIZE", "Header", "identify", "sniff"]

HEAD_SIZE = 0x10200  # covers a copier header plus the SNES HiROM header at 0xFFC0
_GB_LOGO = bytes.fromhex("ceed6666cc0d000b03730083000c000d0008111f8889000e"
                         "dccc6ee6ddddd999bbbb67636e0eecccdddc999fbbb9333e")
_GB_BATTERY = {0x03, 0x06, 0x09, 0x0D, 0x0F, 0x10, 0x13, 0x1B, 0x1E, 0x22, 0xFF}
_N64_ORDERS = {b"\x80\x37\x12\x40": "z64", b"\x37\x80\x40\x12": "v64", b"\x40\x12\x37\x80": "n64"}
_A2600_MAX = 512 * 1024


@dataclass(frozen=True)
class Header:
    """What a ROM's header says. ``skip`` is where the ROM proper starts (after an iNES or copier header);
    ``word_swap`` is the size of the words whose bytes the file holds reversed (an N64 ``.v64``: 2, ``.n64``:
    4), which DATs hash in the console's own big-endian order, as a ``.z64``."""

    platform: str
    title: str | None = None
    skip: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    word_swap: int = 0


class _NotThis(Exception):
    """The content does not look like the platform tried; the next candidate gets a chance."""


_UNPRINTABLE = re.compile(rb"[^\x20-\x7e]")


def _text(raw: bytes) -> str | None:
    """Printable ASCII up to the first NUL, runs of anything else (controls, high bytes) as one space."""
    printable = _UNPRINTABLE.sub(b" ", raw.split(b"\0", 1)[0]).decode("ascii")
    return " ".join(printable.split()) or None


def _need(size: int, minimum: int, what: str) -> None:
    if size < minimum:
        raise InvalidContent(f"truncated {what}: {size} bytes, the header alone needs {minimum}")


def sniff(head: bytes) -> str | None:
    """The platform a magic number proves, or None."""
    if head[:4] == b"NES\x1a":
        return "nes"
    if head[:4] in _N64_ORDERS:
        return "n64"
    if len(head) >= 0x134 and head[0x104:0x134] == _GB_LOGO:
        return "gb"
    if len(head) >= 0xC0 and head[0xB2] == 0x96 and head[3] == 0xEA:
        return "gba"
    if head[0x100:0x104] == b"SEGA":
        return "md"
    if any(head[offset:offset + 8] == b"TMR SEGA" for offset in (0x7FF0, 0x3FF0, 0x1FF0)):
        return "sms"
    return None


def _nes(head: bytes, size: int, hint: str | None) -> Header:
    if head[:4] != b"NES\x1a":
        raise _NotThis("no iNES header (a .nes file starts with 'NES' 0x1A)")
    _need(size, 16, "iNES file")
    flags6, flags7 = head[6], head[7]
    nes2 = (flags7 & 0x0C) == 0x08
    mapper = (flags6 >> 4) | (flags7 & 0xF0)
    prg_units, chr_units = head[4], head[5]
    info: dict[str, Any] = {"format": "NES 2.0" if nes2 else "iNES"}
    if nes2:
        mapper |= (head[8] & 0x0F) << 8
        info["submapper"] = head[8] >> 4
        prg_units |= (head[9] & 0x0F) << 8
        chr_units |= (head[9] >> 4) << 8
    trainer = 512 if flags6 & 0x04 else 0
    prg, chr_ = prg_units * 16384, chr_units * 8192
    info.update(mapper=mapper, prg_rom_kb=prg // 1024, chr_rom_kb=chr_ // 1024, battery=bool(flags6 & 0x02),
                trainer=bool(trainer), mirroring="four-screen" if flags6 & 0x08 else
                ("vertical" if flags6 & 0x01 else "horizontal"))
    expected = 16 + trainer + prg + chr_
    if size < expected:
        raise InvalidContent(f"truncated NES ROM: {size} bytes, its iNES header announces {expected}")
    return Header("nes", None, 16, info)


def _snes_score(block: bytes, hirom: bool) -> int:
    if len(block) < 0x40:
        return -1
    mode, checksum_complement, checksum = block[0x15], *struct.unpack_from("<HH", block, 0x1C)
    score = 0
    if checksum ^ checksum_complement == 0xFFFF:
        score += 4
    if mode & 0xE0 == 0x20 and bool(mode & 0x01) == hirom:
        score += 2
    if all(0x20 <= b < 0x7F for b in block[:21]):
        score += 1
    return score


def _snes(head: bytes, size: int, hint: str | None) -> Header:
    base = 512 if size % 1024 == 512 else 0
    _need(size, base + 0x8000, "SNES ROM")
    lo = head[base + 0x7FC0:base + 0x8000]
    hi = head[base + 0xFFC0:base + 0x10000]
    scores = {"LoROM": _snes_score(lo, False), "HiROM": _snes_score(hi, True)}
    mapping = max(scores, key=lambda key: scores[key])
    if scores[mapping] < 2:
        raise _NotThis("no SNES internal header found (LoROM 0x7FC0 / HiROM 0xFFC0)")
    block = lo if mapping == "LoROM" else hi
    complement, checksum = struct.unpack_from("<HH", block, 0x1C)
    info = {"mapping": mapping, "copier_header": bool(base), "checksum": f"{checksum:04x}",
            "checksum_complement": f"{complement:04x}", "checksum_pair_valid": checksum ^ complement == 0xFFFF,
            "rom_size_kb": 1 << block[0x17] if block[0x17] < 16 else None, "sram_kb": (1 << block[0x18]) if
            block[0x18] else 0, "region_code": block[0x19], "version": block[0x1B]}
    return Header("snes", _text(block[:21]), base, info)


def _gb(head: bytes, size: int, hint: str | None) -> Header:
    if len(head) < 0x134 or head[0x104:0x134] != _GB_LOGO:
        if size < 0x150 and hint in ("gb", "gbc"):
            _need(size, 0x150, "Game Boy ROM")
        raise _NotThis("no Game Boy header (the Nintendo logo at 0x104 is missing)")
    _need(size, 0x150, "Game Boy ROM")
    cgb_flag = head[0x143]
    checksum = 0
    for byte in head[0x134:0x14D]:
        checksum = (checksum - byte - 1) & 0xFF
    title_end = 0x143 if cgb_flag & 0x80 else 0x144
    platform = "gbc" if cgb_flag == 0xC0 or (cgb_flag == 0x80 and hint == "gbc") else "gb"
    info = {"cgb_flag": f"{cgb_flag:02x}", "cgb": {0x80: "dual", 0xC0: "only"}.get(cgb_flag, "no"),
            "sgb": head[0x146] == 0x03, "cartridge_type": f"{head[0x147]:02x}", "battery": head[0x147] in _GB_BATTERY,
            "rom_size_kb": 32 << head[0x148] if head[0x148] < 9 else None,
            "header_checksum": f"{head[0x14D]:02x}", "header_checksum_valid": checksum == head[0x14D]}
    return Header(platform, _text(head[0x134:title_end]), 0, info)


def _gba(head: bytes, size: int, hint: str | None) -> Header:
    _need(size, 0xC0, "GBA ROM")
    if head[0xB2] != 0x96:
        raise _NotThis("no GBA header (the fixed 0x96 byte at 0xB2 is missing)")
    check = (-sum(head[0xA0:0xBD]) - 0x19) & 0xFF
    info = {"game_code": _text(head[0xAC:0xB0]), "maker": _text(head[0xB0:0xB2]), "version": head[0xBC],
            "header_checksum_valid": check == head[0xBD]}
    return Header("gba", _text(head[0xA0:0xAC]), 0, info)


def _md(head: bytes, size: int, hint: str | None) -> Header:
    _need(size, 0x200, "Mega Drive ROM")
    if head[0x100:0x104] != b"SEGA":
        raise _NotThis("no Mega Drive header ('SEGA' at 0x100 is missing)")
    title = _text(head[0x150:0x180]) or _text(head[0x120:0x150])
    info = {"system": _text(head[0x100:0x110]), "serial": _text(head[0x180:0x18E]),
            "checksum": f"{struct.unpack_from('>H', head, 0x18E)[0]:04x}", "regions": _text(head[0x1F0:0x1F3])}
    return Header("md", title, 0, info)


def _sega8(head: bytes, size: int, hint: str | None) -> Header:
    for offset in (0x7FF0, 0x3FF0, 0x1FF0):
        if head[offset:offset + 8] == b"TMR SEGA":
            region = head[offset + 0xF] >> 4
            platform = "gg" if region in (5, 6, 7) else "sms"
            info = {"region_code": region, "checksum": f"{struct.unpack_from('<H', head, offset + 0xA)[0]:04x}",
                    "header_offset": offset}
            return Header(platform, None, 0, info)
    if hint not in ("sms", "gg"):
        raise _NotThis("no 'TMR SEGA' header")
    _need(size, 0x2000, "Master System / Game Gear ROM")
    return Header(hint, None, 0, {"region_code": None})


def _pce(head: bytes, size: int, hint: str | None) -> Header:
    base = 512 if size % 8192 == 512 else 0
    _need(size, base + 0x2000, "PC Engine ROM")
    return Header("pce", None, base, {"copier_header": bool(base)})


def _a2600(head: bytes, size: int, hint: str | None) -> Header:
    if size > _A2600_MAX or size % 1024 or size < 2048:
        raise _NotThis(f"{size} bytes is not the size of an Atari 2600 image")
    return Header("a2600", None, 0, {"size_kb": size // 1024})


def _n64(head: bytes, size: int, hint: str | None) -> Header:
    order = _N64_ORDERS.get(head[:4])
    if order is None:
        raise _NotThis("no N64 header (none of the .z64/.v64/.n64 byte-order magics)")
    _need(size, 0x1000, "N64 ROM")
    native = head[:0x40]
    if order == "v64":
        native = bytes(b for pair in zip(native[1::2], native[0::2], strict=True) for b in pair)
    elif order == "n64":
        native = b"".join(native[i:i + 4][::-1] for i in range(0, 0x40, 4))
    info = {"byte_order": order, "game_code": _text(native[0x3B:0x3F]), "version": native[0x3F]}
    return Header("n64", _text(native[0x20:0x34]), 0, info, word_swap={"v64": 2, "n64": 4}.get(order, 0))


_PARSERS: dict[str, Callable[[bytes, int, str | None], Header]] = {
    "nes": _nes, "snes": _snes, "gb": _gb, "gbc": _gb, "gba": _gba, "md": _md, "sms": _sega8, "gg": _sega8,
    "pce": _pce, "a2600": _a2600, "n64": _n64,
}


def identify(name: str, size: int, head: bytes, *, folder: str | None = None, forced: str | None = None) -> Header:
    """Decide the platform of one ROM and parse its header.

    Raises :class:`InvalidContent` with the reason when the file is empty, truncated or of no known format.
    """
    if size == 0:
        raise InvalidContent("empty file (0 bytes)")
    head = bytes(head)
    if forced is not None and forced not in PLATFORMS:
        raise InvalidContent(f"unknown platform {forced!r}; use one of: {', '.join(PLATFORMS)}")
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if forced:
        candidates = [forced]
    else:
        candidates = [slug for slug in (sniff(head), folder, *platforms_for_extension(extension)) if slug]
    hint = forced or folder or next(iter(platforms_for_extension(extension)), None)
    reasons: list[str] = []
    for slug in dict.fromkeys(candidates):
        try:
            return _PARSERS[slug](head, size, hint)
        except _NotThis as error:
            reasons.append(f"{slug}: {error}")
    if reasons:
        raise InvalidContent("not a recognised ROM (" + "; ".join(reasons) + ")")
    raise InvalidContent(f"unknown format ({extension or 'no extension'}): no platform folder, extension or header")
