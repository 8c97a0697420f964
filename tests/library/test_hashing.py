from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

from tests.library import romgen
from treazr.library.hashing import CHUNK_SIZE, MultiHash, hash_stream


def test_shared_roms_match_their_sha1sums(roms: Path) -> None:
    expected = dict(reversed(line.split("  ", 1)) for line in (roms / "SHA1SUMS").read_text().splitlines())
    assert len(expected) == 12
    for relative, sha1 in expected.items():
        with open(roms / relative, "rb", buffering=0) as handle:
            assert hash_stream(handle).sha1 == sha1, relative


def test_all_four_hashes_over_several_chunks() -> None:
    data = bytes(romgen.body(CHUNK_SIZE * 2 + 12345))
    hashes = hash_stream(io.BytesIO(data))
    assert hashes.size == len(data)
    assert hashes.crc32 == f"{zlib.crc32(data):08x}"
    assert hashes.md5 == hashlib.md5(data).hexdigest()
    assert hashes.sha1 == hashlib.sha1(data).hexdigest()
    assert hashes.sha256 == hashlib.sha256(data).hexdigest()


def test_multihash_without_sha256() -> None:
    digest = MultiHash(sha256=False)
    digest.update(b"abc")
    assert digest.result().sha256 is None and digest.result().crc32 == "352441c2"
