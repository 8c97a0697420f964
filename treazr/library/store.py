"""The content store: ROM bytes addressed by SHA-256 under ``data/content/<aa>/<sha256>``.

Identical content is stored once. Copies are written beside their final place and renamed in, so a
reader never sees half a file, and an interrupted copy leaves only a stray temporary file (removed at
the next start by :mod:`treazr.library.recovery`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["ContentStore", "StoreWriter"]


class StoreWriter:
    """Receives a ROM's bytes while they are hashed; :meth:`commit` files them under their SHA-256."""

    def __init__(self, store: ContentStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=store.root)
        self._temp = Path(name)
        self._handle = os.fdopen(fd, "wb")

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._handle.write(data)

    def commit(self, sha256: str) -> str:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        target = self._store.path_for(sha256)
        if target.exists():
            self._temp.unlink(missing_ok=True)
        else:
            target.parent.mkdir(mode=0o700, exist_ok=True)
            os.replace(self._temp, target)
            _fsync_dir(target.parent)
        return self._store.relative(sha256)

    def abort(self) -> None:
        self._handle.close()
        self._temp.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def relative(self, sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def writer(self) -> StoreWriter:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return StoreWriter(self)
