"""Getting content ready for ``retro_load_game``: a full path when the core wants one, bytes in memory
otherwise, and zipped content extracted (to a private temp folder when the core needs a file)."""

from __future__ import annotations

import ctypes
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from treazr.errors import HostileArchive, InvalidContent

if TYPE_CHECKING:
    from treazr.emulation.core import SystemInfo

__all__ = ["MAX_CONTENT_BYTES", "PreparedContent", "prepare_content"]

# Larger than any cartridge or CD image a supported core loads into memory; guards zip bombs too.
MAX_CONTENT_BYTES = 1 << 30


@dataclass
class PreparedContent:
    """What ``retro_game_info`` will point at; keeps the buffer alive for as long as the game runs."""

    path: Path
    buffer: ctypes.Array[ctypes.c_char] | None
    temp_dir: Path | None = None

    @property
    def address(self) -> int | None:
        return ctypes.addressof(self.buffer) if self.buffer is not None else None

    @property
    def size(self) -> int:
        return len(self.buffer) if self.buffer is not None else 0


def prepare_content(path: Path, info: SystemInfo, temp_parent: Path | None) -> PreparedContent:
    if not path.is_file():
        raise InvalidContent(f"no such content file: {path}")
    if zipfile.is_zipfile(path) and "zip" not in info.extensions:
        return _from_zip(path, info, temp_parent)
    size = path.stat().st_size
    if size == 0:
        raise InvalidContent(f"{path.name} is empty")
    if size > MAX_CONTENT_BYTES:
        raise InvalidContent(f"{path.name} is too large to be a game ({size} bytes)")
    if info.need_fullpath:
        return PreparedContent(path.resolve(), None)
    return PreparedContent(path.resolve(), _buffer(path.read_bytes()))


def _buffer(data: bytes) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(data, len(data))


def _pick_member(archive: zipfile.ZipFile, info: SystemInfo, name: str) -> zipfile.ZipInfo:
    files = [m for m in archive.infolist() if not m.is_dir()]
    playable = [m for m in files if Path(m.filename).suffix.lower().lstrip(".") in info.extensions]
    if not playable:
        raise InvalidContent(f"{name} holds no file that {info.name} can play ({', '.join(info.extensions)})")
    member = max(playable, key=lambda m: m.file_size)
    if member.file_size == 0:
        raise InvalidContent(f"{member.filename} in {name} is empty")
    if member.file_size > MAX_CONTENT_BYTES:
        raise HostileArchive(f"{member.filename} in {name} claims {member.file_size} bytes: refused")
    return member


def _from_zip(path: Path, info: SystemInfo, temp_parent: Path | None) -> PreparedContent:
    try:
        with zipfile.ZipFile(path) as archive:
            member = _pick_member(archive, info, path.name)
            with archive.open(member) as stream:
                data = stream.read(MAX_CONTENT_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        raise InvalidContent(f"{path.name} is not a readable zip archive: {error}") from error
    if len(data) != member.file_size:
        raise HostileArchive(f"{member.filename} in {path.name} does not match its declared size")
    # Only the member's base name is used, so a name like ../../x cannot write outside our folder.
    base = Path(member.filename.replace("\\", "/")).name or "content"
    if not info.need_fullpath:
        return PreparedContent(path.resolve().with_name(base), _buffer(data))
    temp_dir = private_temp_dir(temp_parent)
    target = temp_dir / base
    target.write_bytes(data)
    return PreparedContent(target, None, temp_dir)


def private_temp_dir(parent: Path | None) -> Path:
    """A fresh owner-only folder (mkdtemp makes it 0700) under ``parent``, else the system temp."""
    if parent:
        parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="treazr-content-", dir=parent))
