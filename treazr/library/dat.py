"""No-Intro / Redump DAT files: Logiqx XML and clrmamepro text, parsed into (game, rom, hashes) entries.

A loaded DAT is copied into the data directory and its entries go into ``dat_entries``, so later imports
(and games already in the library) are named by hash match.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from treazr.errors import InvalidInput
from treazr.library.naming import parse_name

__all__ = ["DatEntry", "DatFile", "apply_dats_to_games", "load_dat", "match_dat", "store_dat"]


@dataclass(frozen=True)
class DatEntry:
    game_name: str
    rom_name: str
    size: int | None
    crc32: str | None
    md5: str | None
    sha1: str | None


@dataclass
class DatFile:
    name: str
    description: str
    version: str
    format: str
    entries: list[DatEntry] = field(default_factory=list)


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _entry(game_name: str, rom: dict[str, str]) -> DatEntry:
    return DatEntry(game_name, rom.get("name") or "", _int(rom.get("size")), _lower(rom.get("crc")),
                    _lower(rom.get("md5")), _lower(rom.get("sha1")))


def _logiqx(path: Path) -> DatFile:
    dat = DatFile("", "", "", "logiqx")
    for _event, element in ElementTree.iterparse(path, events=("end",)):
        if element.tag == "header":
            dat.name = element.findtext("name") or ""
            dat.description = element.findtext("description") or ""
            dat.version = element.findtext("version") or ""
        elif element.tag in ("game", "machine"):
            game_name = element.get("name") or element.findtext("description") or ""
            for rom in element.iter("rom"):
                dat.entries.append(_entry(game_name, dict(rom.attrib)))
            element.clear()
    return dat


_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([()])|([^\s()"]+)')


def _tokens(text: str) -> Iterator[tuple[str, bool]]:
    for match in _TOKEN.finditer(text):
        if match[1] is not None:
            yield match[1], True
        else:
            yield match[2] or match[3], False


def _blocks(text: str) -> list[tuple[str, list[object]]]:
    """clrmamepro text as ``[(keyword, [key, value, key, (sub-block), ...]), ...]``."""
    stack: list[list[object]] = [[]]
    for token, quoted in _tokens(text):
        if token == "(" and not quoted:
            stack.append([])
        elif token == ")" and not quoted:
            if len(stack) < 2:
                raise ValueError("unbalanced ')'")
            block = stack.pop()
            stack[-1].append(block)
        else:
            stack[-1].append(token)
    if len(stack) != 1:
        raise ValueError("unbalanced '('")
    top = stack[0]
    return [(str(top[i]), top[i + 1]) for i in range(0, len(top) - 1, 2)  # type: ignore[misc]
            if isinstance(top[i + 1], list)]


def _fields(block: list[object]) -> dict[str, object]:
    return {str(block[i]): block[i + 1] for i in range(0, len(block) - 1, 2)}


def _clrmamepro(text: str) -> DatFile:
    dat = DatFile("", "", "", "clrmamepro")
    for keyword, block in _blocks(text):
        values = _fields(block)
        if keyword == "clrmamepro":
            dat.name, dat.description, dat.version = (str(values.get(k, "")) for k in ("name", "description",
                                                                                      "version"))
        elif keyword in ("game", "resource", "machine"):
            game_name = str(values.get("name", ""))
            for i in range(0, len(block) - 1):
                if block[i] == "rom" and isinstance(block[i + 1], list):
                    rom = {k: str(v) for k, v in _fields(block[i + 1]).items()}  # type: ignore[arg-type]
                    dat.entries.append(_entry(game_name, rom))
    return dat


def load_dat(path: Path) -> DatFile:
    """Parse a DAT file; raises :class:`InvalidInput` naming the file when it is neither format."""
    path = Path(path)
    try:
        start = path.read_bytes()[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
        if start.startswith(b"<"):
            if b"<!ENTITY" in start:
                raise InvalidInput(f"DAT file {path} declares XML entities; refusing it")
            dat = _logiqx(path)
        else:
            dat = _clrmamepro(path.read_text("utf-8", errors="replace"))
    except OSError as error:
        raise InvalidInput(f"cannot read DAT file {path}: {error.strerror or error}") from None
    except (ElementTree.ParseError, ValueError) as error:
        raise InvalidInput(f"DAT file {path} is not Logiqx XML or clrmamepro text: {error}") from None
    if not dat.entries:
        raise InvalidInput(f"DAT file {path} lists no ROMs")
    dat.name = dat.name or path.stem
    return dat


def store_dat(conn: sqlite3.Connection, path: Path, dat: DatFile, dats_dir: Path) -> int | None:
    """Keep a copy of the DAT and its entries (runs on the writer); None when it was already loaded."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if conn.execute("SELECT 1 FROM dat_files WHERE sha256 = ?", (digest,)).fetchone():
        return None
    kept = dats_dir / f"{digest[:16]}-{Path(path).name}"
    if not kept.exists():
        shutil.copyfile(path, kept)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    dat_id = conn.execute(
        "INSERT INTO dat_files (name, description, version, format, path, sha256, entries, loaded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (dat.name, dat.description, dat.version, dat.format, str(kept), digest, len(dat.entries), now)).lastrowid
    conn.executemany(
        "INSERT INTO dat_entries (dat_id, game_name, rom_name, size, crc32, md5, sha1) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(dat_id, e.game_name, e.rom_name, e.size, e.crc32, e.md5, e.sha1) for e in dat.entries])
    return int(dat_id or 0)


def match_dat(conn: sqlite3.Connection, sha1s: list[str], md5s: list[str], crcs: list[tuple[str, int]]) -> str | None:
    """The DAT game name for the first hash that matches (SHA-1, then MD5, then CRC32 with size)."""
    for column, values in (("sha1", sha1s), ("md5", md5s)):
        for value in values:
            row = conn.execute(f"SELECT game_name FROM dat_entries WHERE {column} = ? LIMIT 1", (value,)).fetchone()
            if row:
                return str(_first(row))
    for crc, size in crcs:
        row = conn.execute("SELECT game_name FROM dat_entries WHERE crc32 = ? AND size = ? LIMIT 1",
                           (crc, size)).fetchone()
        if row:
            return str(_first(row))
    return None


def _first(row: object) -> object:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]  # type: ignore[index]


def apply_dats_to_games(conn: sqlite3.Connection) -> int:
    """Name games that no DAT named yet, when one of their files now matches an entry; returns how many."""
    rows = conn.execute(
        "SELECT f.game_id AS game_id, e.game_name AS game_name FROM files f JOIN games g ON g.id = f.game_id"
        " JOIN dat_entries e ON e.sha1 = f.sha1 OR e.sha1 = f.headerless_sha1"
        " WHERE g.dat_name IS NULL GROUP BY f.game_id").fetchall()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for row in rows:
        game_id, game_name = (row["game_id"], row["game_name"]) if isinstance(row, dict) else row
        name = parse_name(game_name)
        conn.execute("UPDATE games SET title = ?, region = ?, languages = ?, revision = ?, dat_name = ?,"
                     " updated_at = ? WHERE id = ?",
                     (name.title, name.region, name.languages, name.revision, game_name, now, game_id))
    return len(rows)
