"""``treazr library verify``: re-hash every file and report the corrupt and the missing ones."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treazr.errors import TreazrError
from treazr.library.archives import ArchiveLimits, Member
from treazr.library.hashing import Hashes, MultiHash, hash_stream
from treazr.library.scanner import archive_limits
from treazr.services import Services

__all__ = ["VerifyReport", "verify_library"]


@dataclass
class VerifyReport:
    ok: int = 0
    corrupt: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "corrupt": self.corrupt, "missing": self.missing}


class _Collect:
    def __init__(self) -> None:
        self.digest = MultiHash()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.digest.update(data)

    def close(self) -> None:
        return None


def _hash_container(container: str, limits: ArchiveLimits) -> dict[str, Hashes]:
    from treazr.library.archives import read_members

    sinks: dict[str, _Collect] = {}

    def open_sink(member: Member) -> _Collect:
        sinks[f"{container}#{member.name}"] = _Collect()
        return sinks[f"{container}#{member.name}"]

    read_members(Path(container), limits, open_sink)
    return {path: sink.digest.result() for path, sink in sinks.items()}


def _check(group: tuple[str | None, list[dict[str, Any]]], limits: ArchiveLimits) -> list[tuple[int, str | None]]:
    """(file id, problem or None) for one plain file or every member of one archive."""
    container, rows = group
    try:
        if container is None:
            with open(rows[0]["path"], "rb", buffering=0) as handle:
                found = {rows[0]["path"]: hash_stream(handle)}
        else:
            found = _hash_container(container, limits)
    except FileNotFoundError:
        return [(row["id"], "missing") for row in rows]
    except (OSError, TreazrError) as error:
        return [(row["id"], f"unreadable: {error}") for row in rows]
    out: list[tuple[int, str | None]] = []
    for row in rows:
        hashes = found.get(row["path"])
        if hashes is None:
            out.append((row["id"], "missing"))
        elif hashes.sha256 != row["sha256"] or hashes.size != row["size"]:
            out.append((row["id"], f"content changed: sha256 {hashes.sha256} instead of {row['sha256']}"))
        else:
            out.append((row["id"], None))
    return out


def verify_library(services: Services, progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Re-hash every file the library knows (missing ones included) and record the outcome per file."""
    rows = services.db.query("SELECT id, path, size, sha256, container FROM files ORDER BY path")
    groups: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row["container"], row["container"]) if row["container"] else (None, row["path"])
        groups.setdefault(key, []).append(row)
    limits = archive_limits(services)
    paths = {row["id"]: row["path"] for row in rows}
    report, done, outcomes = VerifyReport(), 0, []
    workers = services.settings.library.hash_workers or len(os.sched_getaffinity(0))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="treazr-verify") as pool:
        for result in pool.map(lambda key: _check((key[0], groups[key]), limits), list(groups)):
            outcomes.extend(result)
            done += len(result)
            if progress is not None:
                progress(done, len(rows))
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for file_id, problem in outcomes:
        if problem is None:
            report.ok += 1
        elif problem == "missing":
            report.missing.append(paths[file_id])
        else:
            report.corrupt.append({"path": paths[file_id], "reason": problem})
    services.db.write(lambda conn: conn.executemany(
        "UPDATE files SET verified_at = ?, verify_error = ?, missing = ? WHERE id = ?",
        [(now, problem if problem != "missing" else None, int(problem == "missing"), file_id)
         for file_id, problem in outcomes]))
    return report
