from __future__ import annotations

import hashlib
import os
import time
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


def test_abort_and_old_strays_are_removed(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "content")
    writer = store.writer()
    writer.write(b"half")
    writer.abort()
    assert list((tmp_path / "content").iterdir()) == []
    old, young = store.writer(), store.writer()  # left behind by a killed import, and one running now
    old._handle.close()
    young._handle.close()
    os.utime(old._temp, (time.time() - 3 * 24 * 3600,) * 2)
    assert store.clean_incoming() == 1
    assert not old._temp.exists() and young._temp.exists()
