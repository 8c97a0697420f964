"""Files are written atomically: a temporary file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = ["atomic_write", "sweep_interrupted_writes"]

LEFTOVER_AFTER_S = 600.0  # a write takes milliseconds: a temporary file this old was left by a killed process


def sweep_interrupted_writes(folders: Iterable[Path], *, older_than_s: float = LEFTOVER_AFTER_S,
                             also: tuple[str, ...] = ()) -> list[Path]:
    """Remove the temporary files that writes killed half-way left behind (``.<name>.<random>.tmp``, and
    the ``also`` glob patterns), at any depth under ``folders``; the files they were replacing are whole.
    Returns what was removed."""
    cutoff = time.time() - older_than_s
    removed = []
    for folder in folders:
        for pattern in (".*.tmp", *also):
            for leftover in Path(folder).rglob(pattern):
                try:
                    if leftover.is_file() and leftover.lstat().st_mtime < cutoff:
                        leftover.unlink()
                        removed.append(leftover)
                except OSError:
                    continue  # gone meanwhile, or not ours to remove: the next start tries again
    return removed


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a reader sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # swept: .*.tmp
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
