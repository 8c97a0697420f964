from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

import py7zr
import pytest

from tests.library import romgen
from treazr.errors import HostileArchive, InvalidContent
from treazr.library.archives import ArchiveLimits, Member, read_members


class _Sha1Sink:
    def __init__(self) -> None:
        self.digest = hashlib.sha1()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.digest.update(data)

    def close(self) -> None:
        self.closed = True


def _read(path: Path, limits: ArchiveLimits | None = None) -> dict[str, _Sha1Sink]:
    sinks: dict[str, _Sha1Sink] = {}

    def open_sink(member: Member) -> _Sha1Sink:
        sinks[member.name] = _Sha1Sink()
        return sinks[member.name]

    read_members(path, limits or ArchiveLimits(), open_sink)
    return sinks


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_members_stream_into_sinks(tmp_path: Path) -> None:
    first, second = romgen.nes(), romgen.gb()
    sinks = _read(_zip(tmp_path / "game.zip", {"a.nes": first, "disk/b.gb": second}))
    assert sinks["a.nes"].digest.hexdigest() == hashlib.sha1(first).hexdigest()
    assert sinks["disk/b.gb"].digest.hexdigest() == hashlib.sha1(second).hexdigest()
    assert all(sink.closed for sink in sinks.values())


def test_7z_members_stream_into_sinks(tmp_path: Path) -> None:
    data = romgen.snes()
    with py7zr.SevenZipFile(tmp_path / "game.7z", "w") as archive:
        archive.writestr(data, "Game (USA).sfc")
    sinks = _read(tmp_path / "game.7z")
    assert sinks["Game (USA).sfc"].digest.hexdigest() == hashlib.sha1(data).hexdigest()


@pytest.mark.parametrize("name", ["../evil.nes", "/etc/evil.nes", "a/../../evil.nes", "..\\evil.nes"])
def test_zip_climbing_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(HostileArchive, match="absolute path or climbs out"):
        _read(_zip(tmp_path / "evil.zip", {name: romgen.nes()}))


def test_zip_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("game.nes")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(HostileArchive, match="symbolic link"):
        _read(path)


def test_7z_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc/passwd")
    with py7zr.SevenZipFile(tmp_path / "link.7z", "w") as archive:
        archive.write(tmp_path / "link", "link.nes")
    with pytest.raises(HostileArchive, match="symbolic link"):
        _read(tmp_path / "link.7z")


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "bomb.zip", {"bomb.nes": bytes(50 << 20)})
    assert path.stat().st_size < 1 << 20
    with pytest.raises(HostileArchive, match="compression ratio over 100:1"):
        _read(path)


def test_total_cap_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "big.zip", {"a.nes": bytes(romgen.body(3 << 20)), "b.nes": bytes(romgen.body(3 << 20))})
    with pytest.raises(HostileArchive, match="over the cap of 4 MB"):
        _read(path, ArchiveLimits(max_ratio=100, max_total_bytes=4 << 20))


def test_an_archive_of_too_many_members_is_refused_before_any_is_opened(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as archive:
        for n in range(1001):
            archive.writestr(f"{n}.nes", b"")
    with pytest.raises(HostileArchive, match="1001 members, over the limit of 1000"):
        read_members(tmp_path / "many.zip", ArchiveLimits(), lambda member: pytest.fail("a sink was opened"))
    with py7zr.SevenZipFile(tmp_path / "many.7z", "w") as seven:
        for n in range(4):
            seven.writestr(b"x", f"{n}.gb")
    with pytest.raises(HostileArchive, match="4 members, over the limit of 3"):
        read_members(tmp_path / "many.7z", ArchiveLimits(max_members=3), lambda member: pytest.fail("a sink"))


def test_a_zip_declaring_too_many_members_is_refused_from_its_end_record(tmp_path: Path) -> None:
    # the end record alone says 5,000: refused before Python reads (here: would choke on) the directory
    path = _zip_stored(tmp_path / "claims.zip", {"game.nes": b"x" * 64})
    raw = bytearray(path.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    raw[end + 8:end + 12] = (5000).to_bytes(2, "little") * 2
    path.write_bytes(bytes(raw))
    with pytest.raises(HostileArchive, match="5000 members, over the limit of 1000"):
        read_members(path, ArchiveLimits(), lambda member: pytest.fail("a sink was opened"))
    with zipfile.ZipFile(tmp_path / "commented.zip", "w") as archive:  # a comment after the end record
        archive.writestr("game.nes", b"y" * 64)
        archive.comment = b"the family ROMs, 1994" * 20
    assert [m.name for m in read_members(tmp_path / "commented.zip", ArchiveLimits(), lambda member: None)] \
        == ["game.nes"]


def deflate64_zip(path: Path, data: bytes) -> Path:
    """A zip whose member says it is packed with Deflate64 (method 9), which Python cannot unpack."""
    raw = bytearray(_zip_stored(path, {"game.nes": data}).read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.index(signature)
        raw[at + offset:at + offset + 2] = (9).to_bytes(2, "little")
    path.write_bytes(bytes(raw))
    return path


def _zip_stored(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_a_deflate64_zip_is_refused_with_its_method_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidContent, match=r"packed with a method Treazr cannot read \(Deflate64\)"):
        _read(deflate64_zip(tmp_path / "big.zip", romgen.nes()))


def test_broken_archives_are_invalid_content(tmp_path: Path) -> None:
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(InvalidContent, match="broken archive"):
        _read(tmp_path / "broken.zip")
    good = _zip(tmp_path / "cut.zip", {"a.nes": bytes(romgen.body(200_000))}).read_bytes()
    (tmp_path / "cut.zip").write_bytes(good[:len(good) // 2])
    with pytest.raises(InvalidContent, match="broken archive"):
        _read(tmp_path / "cut.zip")
