from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

from tests.library import romgen
from tests.support.roms import sha1sums
from treazr.library.hashing import CHUNK_SIZE, MultiHash, hash_stream


def test_shared_roms_match_their_sha1sums(roms: Path) -> None:
    expected = sha1sums(roms)
    on_disk = {str(path) for path in roms.rglob("*") if path.is_file() and path.parent != roms}
    assert expected and set(expected) == on_disk
    for path, sha1 in expected.items():
        with open(path, "rb", buffering=0) as handle:
            assert hash_stream(handle).sha1 == sha1, path


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
