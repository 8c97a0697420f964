from __future__ import annotations

import hashlib
from pathlib import Path

from treazr.library.store import ContentStore


def test_writer_commits_by_sha256_and_deduplicates(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    paths = []
    for _ in range(2):
        writer = store.writer()
        writer.write(b"rom bytes")
        paths.append(writer.commit(hashlib.sha256(b"rom bytes").hexdigest()))
    digest = hashlib.sha256(b"rom bytes").hexdigest()
    assert paths == [f"{digest[:2]}/{digest}"] * 2
    assert store.path_for(digest).read_bytes() == b"rom bytes"
    assert sorted(p.name for p in (tmp_path / "content").rglob("*") if p.is_file()) == [digest]


def test_an_aborted_copy_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    writer = store.writer()
    writer.write(b"half")
    writer.abort()
    assert list((tmp_path / "content").iterdir()) == []
