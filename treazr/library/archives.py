"""Zip and 7z archives, read as streams: members are hashed as they decompress, never extracted to disk.

Hostile archives are refused before a byte is decompressed, with the reason: more members than the
configured limit, member names that are absolute or climb out with ``..``, links, a compression ratio
over the configured limit, or an uncompressed total over the configured cap. Declared sizes are
also enforced while decompressing, so an archive that lies about them is stopped too.
"""

from __future__ import annotations

import lzma
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import py7zr
import py7zr.exceptions
import py7zr.io

from treazr.errors import HostileArchive, InvalidContent
from treazr.library.hashing import CHUNK_SIZE

__all__ = ["ArchiveLimits", "Member", "Sink", "read_members"]

_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_METHOD_NAMES = {9: "Deflate64", 6: "Implode", 93: "Zstandard", 98: "PPMd", 99: "AES"}
_RATIO_FLOOR = 1 << 20  # members this small cannot bomb anything, whatever their ratio
_BROKEN = (zipfile.BadZipFile, py7zr.exceptions.ArchiveError, lzma.LZMAError, zlib.error, EOFError,
           KeyError, ValueError)


@dataclass(frozen=True)
class ArchiveLimits:
    max_ratio: int = 100
    max_total_bytes: int = 4096 << 20
    max_members: int = 1000


def _check_count(count: int, limits: ArchiveLimits) -> None:
    # checked before anything per member is made: 100,000 empty entries once cost the server 370 MB
    if count > limits.max_members:
        raise HostileArchive(f"archive has {count} members, over the limit of {limits.max_members} "
                             "(library.archive_max_members)")


@dataclass(frozen=True)
class Member:
    name: str
    size: int


class Sink(Protocol):
    def write(self, data: bytes | bytearray | memoryview) -> None: ...

    def close(self) -> None: ...


def _check_name(name: str) -> str:
    normal = name.replace("\\", "/")
    parts = normal.split("/")
    if normal.startswith("/") or (len(normal) > 1 and normal[1] == ":") or ".." in parts:
        raise HostileArchive(f"archive member {name!r} has an absolute path or climbs out with '..'")
    return normal


def _check_sizes(members: list[tuple[Member, int | None]], archive_size: int, limits: ArchiveLimits) -> None:
    total = sum(member.size for member, _ in members)
    if total > limits.max_total_bytes:
        raise HostileArchive(f"archive would unpack to {total >> 20} MB, over the cap of "
                             f"{limits.max_total_bytes >> 20} MB (library.archive_max_total_mb)")
    for member, compressed in members:
        too_packed = compressed is not None and member.size > limits.max_ratio * max(compressed, 1)
        if too_packed and member.size >= _RATIO_FLOOR:
            raise HostileArchive(f"archive member {member.name!r} has a compression ratio over "
                                 f"{limits.max_ratio}:1 (library.archive_max_ratio): a zip bomb?")
    if total >= _RATIO_FLOOR and total > limits.max_ratio * max(archive_size, 1):
        raise HostileArchive(f"archive unpacks to more than {limits.max_ratio} times its size "
                             "(library.archive_max_ratio): a zip bomb?")


class _Counted:
    """Passes bytes on to a sink and stops a member that grows past its declared size."""

    def __init__(self, member: Member, sink: Sink | None) -> None:
        self.member, self.sink, self.written = member, sink, 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.written += len(data)
        if self.written > self.member.size:
            raise HostileArchive(f"archive member {self.member.name!r} unpacks to more than its declared size")
        if self.sink is not None:
            self.sink.write(data)
        return len(data)


def _zip_count_hint(path: Path) -> int | None:
    """The entry count a zip's end record declares (None when it has none we can read, or uses ZIP64):
    read from the file's last bytes, so a zip of thousands of entries is refused before Python parses
    its whole directory."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        file.seek(max(0, size - (22 + 0xFFFF)))
        tail = file.read()
    at = len(tail)
    while (at := tail.rfind(b"PK\x05\x06", 0, at)) >= 0:
        # the real end record is the one whose comment runs exactly to the end of the file
        # (the comment itself may hold the same four bytes)
        if at + 22 <= len(tail) and at + 22 + int.from_bytes(tail[at + 20:at + 22], "little") == len(tail):
            count = int.from_bytes(tail[at + 10:at + 12], "little")
            return None if count == 0xFFFF else count
    return None


def _zip(path: Path, limits: ArchiveLimits, open_sink: Callable[[Member], Sink | None]) -> list[Member]:
    hint = _zip_count_hint(path)
    if hint is not None:
        _check_count(hint, limits)
    with zipfile.ZipFile(path) as archive:
        _check_count(len(archive.infolist()), limits)
        infos = [info for info in archive.infolist() if not info.is_dir()]
        members: list[tuple[Member, int | None]] = []
        for info in infos:
            if stat.S_ISLNK(info.external_attr >> 16):
                raise HostileArchive(f"archive member {info.filename!r} is a symbolic link")
            if info.flag_bits & 0x1:
                raise InvalidContent(f"archive member {info.filename!r} is encrypted")
            members.append((Member(_check_name(info.filename), info.file_size), info.compress_size))
        _check_sizes(members, path.stat().st_size, limits)
        for info, (member, _) in zip(infos, members, strict=True):
            sink = open_sink(member)
            if sink is None:
                continue
            counted = _Counted(member, sink)
            if info.compress_type not in _ZIP_METHODS:
                raise InvalidContent(f"archive member {info.filename!r} is packed with a method Treazr cannot "
                                     f"read ({_ZIP_METHOD_NAMES.get(info.compress_type, info.compress_type)}); "
                                     "re-pack it as an ordinary zip or 7z")
            with archive.open(info) as stream:
                while chunk := stream.read(CHUNK_SIZE):
                    counted.write(chunk)
            sink.close()
        return [member for member, _ in members]


class _SevenZipWriter(py7zr.io.Py7zIO):
    def __init__(self, counted: _Counted) -> None:
        self.counted = counted

    def write(self, s: bytes | bytearray) -> int:
        return self.counted.write(s)

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.counted.written


class _SevenZipFactory(py7zr.io.WriterFactory):
    def __init__(self, members: dict[str, Member], sinks: dict[str, Sink]) -> None:
        self.members, self.sinks = members, sinks

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        member = self.members[_check_name(filename)]
        return _SevenZipWriter(_Counted(member, self.sinks.get(member.name)))


def _sevenzip(path: Path, limits: ArchiveLimits, open_sink: Callable[[Member], Sink | None]) -> list[Member]:
    with py7zr.SevenZipFile(path) as archive:
        if archive.needs_password():
            raise InvalidContent("archive is encrypted")
        _check_count(len(archive.list()), limits)
        infos = [info for info in archive.list() if not info.is_directory]
        for info in infos:
            if info.is_symlink:
                raise HostileArchive(f"archive member {info.filename!r} is a symbolic link")
        members = [(Member(_check_name(info.filename), info.uncompressed), info.compressed) for info in infos]
        _check_sizes(members, path.stat().st_size, limits)
        by_name = {member.name: member for member, _ in members}
        sinks = {name: sink for name, member in by_name.items() if (sink := open_sink(member)) is not None}
        if sinks:
            archive.extract(targets=[info.filename for info in infos if _check_name(info.filename) in sinks],
                            factory=_SevenZipFactory(by_name, sinks))
        for sink in sinks.values():
            sink.close()
        return [member for member, _ in members]


def read_members(path: Path, limits: ArchiveLimits, open_sink: Callable[[Member], Sink | None]) -> list[Member]:
    """Check an archive, then stream each member ``open_sink`` wants into the sink it returns.

    Raises :class:`HostileArchive` for a dangerous archive, :class:`InvalidContent` for a broken one.
    """
    reader = _sevenzip if path.suffix.lower() == ".7z" else _zip
    try:
        return reader(path, limits, open_sink)
    except _BROKEN as error:
        raise InvalidContent(f"broken archive: {error or type(error).__name__}") from None
