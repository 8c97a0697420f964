"""How much room the data directory's disk has: a warning when it is nearly full, and a check before large writes.

A full disk loses nothing (files are replaced atomically, SQLite rolls back), but it stops saves; the
admin page and ``/healthz`` say so before it happens, and an upload or a copying import that would not
fit is refused up front with :class:`~treazr.errors.DiskFull` instead of failing half-way.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from treazr.errors import DiskFull

__all__ = ["LOW_FREE_BYTES", "LOW_FREE_SHARE", "DiskSpace", "disk_space", "make_room_check"]

LOW_FREE_BYTES = 1 << 30  # under 1 GiB free ...
LOW_FREE_SHARE = 0.05  # ... or under 5% of the disk: "nearly full"
KEEP_FREE_BYTES = 64 << 20  # a large write must leave this much for saves, states and the database


@dataclass(frozen=True)
class DiskSpace:
    total: int
    free: int

    @property
    def low(self) -> bool:
        return self.free < LOW_FREE_BYTES or self.free < self.total * LOW_FREE_SHARE

    def warning(self) -> str | None:
        if not self.low:
            return None
        return (f"The disk holding Treazr's data is nearly full ({_size(self.free)} free of {_size(self.total)}); "
                "saves and states stop being written when it is full. Free some space.")


def disk_space(path: Path) -> DiskSpace:
    usage = shutil.disk_usage(path)
    return DiskSpace(usage.total, usage.free)


def make_room_check(path: Path, needed: int, what: str) -> None:
    """Refuse a write of ``needed`` bytes under ``path`` that would leave the disk (nearly) full."""
    space = disk_space(path)
    keep = min(KEEP_FREE_BYTES, space.total // 10)  # a small disk (a card, a test tmpfs) keeps a tenth
    if needed + keep > space.free:
        raise DiskFull(f"there is not enough room on the server's disk for {what} ({_size(needed)} needed, "
                       f"{_size(max(space.free - keep, 0))} free for it); nothing was changed")


def _size(n: int) -> str:
    if n < 1 << 20:
        return f"{n / 1024:.0f} KB"
    if n < 1 << 30:
        return f"{n / (1 << 20):.0f} MB"
    return f"{n / (1 << 30):.1f} GB"

