"""What a killed or starved import leaves behind, found and put right at the next start.

Every import holds a shared lock on ``data/imports.lock`` while it runs, in whichever process runs it
(the CLI, the server's rescan, an upload). Whoever can take that lock exclusively therefore knows that no
import is running anywhere, so:

- every ``imports`` row still ``running`` belongs to a process that was killed: it becomes ``interrupted``;
- every ``content/.incoming-*`` file is half a copy: it is removed;
- every content file no ``files`` row points to was copied by an import that died (or ran out of disk)
  before its batch was recorded: it is removed (a rerun copies it again with its row).

When an import is running, :func:`recover` does nothing and says so; the next start tries again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from treazr.db import Database
from treazr.paths import DataDir

__all__ = ["Recovered", "import_lease", "recover"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    ran: bool  # False when an import was running, so nothing could be judged
    runs: int = 0  # imports rows closed as interrupted
    partials: int = 0  # .incoming-* files removed
    orphans: int = 0  # content files no row pointed to, removed


def _lock_path(data: DataDir) -> Path:
    return data.root / "imports.lock"


@contextmanager
def _locked(data: DataDir, mode: int) -> Iterator[bool]:
    data.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(_lock_path(data), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def import_lease(data: DataDir) -> Iterator[None]:
    """Held for the whole of one import; a killed process's lease ends with it (the kernel drops flocks)."""
    with _locked(data, fcntl.LOCK_SH):
        yield


def recover(db: Database, data: DataDir) -> Recovered:
    """Close the rows and remove the files killed imports left, if no import is running now."""
    with _locked(data, fcntl.LOCK_EX | fcntl.LOCK_NB) as alone:
        if not alone:
            return Recovered(ran=False)
        runs = db.write(_close_runs)
        partials = _remove_partials(data.content)
        orphans = _remove_orphans(db, data.content)
    if runs or partials or orphans:
        log.warning("an interrupted import was tidied: %d run(s) marked interrupted, %d partial cop(ies) and "
                    "%d unrecorded content file(s) removed", runs, partials, orphans)
    return Recovered(ran=True, runs=runs, partials=partials, orphans=orphans)


def _close_runs(conn: sqlite3.Connection) -> int:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    cursor = conn.execute("UPDATE imports SET status = 'interrupted', finished_at = ? WHERE status = 'running'",
                          (now,))
    return cursor.rowcount


def _remove_partials(content: Path) -> int:
    removed = 0
    for partial in content.glob(".incoming-*"):
        partial.unlink(missing_ok=True)
        removed += 1
    return removed


def _remove_orphans(db: Database, content: Path) -> int:
    if not content.is_dir():
        return 0
    recorded = {row["store_path"] for row in db.query("SELECT store_path FROM files WHERE store_path IS NOT NULL")}
    removed = 0
    for bucket in content.iterdir():
        if not bucket.is_dir() or len(bucket.name) != 2:
            continue
        for stored in bucket.iterdir():
            if stored.is_file() and f"{bucket.name}/{stored.name}" not in recorded:
                stored.unlink(missing_ok=True)
                removed += 1
    return removed
