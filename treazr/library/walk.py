"""The walk before an import: which files are new or changed (to hash), unchanged, back, or gone.

An unchanged file (same path, size and mtime) is not read again, which is what makes a rescan of a big
library take seconds: one ``stat`` per file and one query for what the library already knows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from treazr.library.platforms import IGNORED_EXTENSIONS, archive_kind, platform_from_folders
from treazr.library.probe import Failure, Job

__all__ = ["Known", "WalkResult", "walk_roots"]


@dataclass(frozen=True)
class Known:
    size: int
    mtime_ns: int
    container: str | None
    container_size: int | None
    missing: bool
    stored: bool = False  # a copy is in the content store


@dataclass
class WalkResult:
    jobs: list[Job] = field(default_factory=list)
    unchanged: int = 0
    revived: list[str] = field(default_factory=list)  # marked missing before, back unchanged now
    vanished: list[str] = field(default_factory=list)  # known under the roots, not found now
    failures: list[Failure] = field(default_factory=list)


class _Walker:
    def __init__(self, known: dict[str, Known], need_store: bool) -> None:
        self.known, self.need_store = known, need_store
        self.members: dict[str, list[str]] = {}
        for path, row in known.items():
            if row.container is not None:
                self.members.setdefault(row.container, []).append(path)
        self.seen: set[str] = set()
        self.result = WalkResult()

    def file(self, path: str, size: int, mtime_ns: int, folder: str | None) -> None:
        extension = os.path.splitext(path)[1].lower()
        if extension in IGNORED_EXTENSIONS:
            return
        self.seen.add(path)
        if archive_kind(extension):
            rows = [(member, self.known[member]) for member in self.members.get(path, [])]
            same = bool(rows) and all(k.mtime_ns == mtime_ns and k.container_size == size
                                      and (k.stored or not self.need_store) for _, k in rows)
            if same:
                self.seen.update(member for member, _ in rows)
                self._unchanged([(member, k.missing) for member, k in rows])
                return
        else:
            known = self.known.get(path)
            if (known is not None and known.container is None and (known.size, known.mtime_ns) == (size, mtime_ns)
                    and (known.stored or not self.need_store)):
                self._unchanged([(path, known.missing)])
                return
        self.seen.update(self.members.get(path, ()))  # the archive's job reports members it no longer holds
        self.result.jobs.append(Job(path, size, mtime_ns, folder))

    def _unchanged(self, rows: list[tuple[str, bool]]) -> None:
        for path, missing in rows:
            if missing:
                self.result.revived.append(path)
            else:
                self.result.unchanged += 1

    def folder(self, root: Path, folder: str, hints: list[str]) -> None:
        try:
            with os.scandir(folder) as entries:
                listing = sorted(entries, key=lambda entry: entry.name)
        except OSError as error:
            self.result.failures.append(Failure(folder, f"unreadable folder: {error.strerror or error}"))
            return
        platform = platform_from_folders(hints)  # once per folder, not per file: rescans are mostly this loop
        for entry in listing:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    self.folder(root, entry.path, [entry.name, *hints])
                elif entry.is_file():
                    info = entry.stat()
                    self.file(entry.path, info.st_size, info.st_mtime_ns, platform)
            except OSError as error:
                self.result.failures.append(Failure(entry.path, f"unreadable: {error.strerror or error}"))


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def walk_roots(roots: list[Path], known: dict[str, Known], *, need_store: bool = False) -> WalkResult:
    """Walk files and folders (hidden entries skipped, folder links not followed) against what is known.

    With ``need_store`` (``--copy``), unchanged files not yet in the content store are read again to copy them.
    """
    walker = _Walker(known, need_store)
    for root in roots:
        if root.is_dir():
            walker.folder(root, str(root), [root.name, root.parent.name])
        elif root.is_file():
            info = root.stat()
            walker.file(str(root), info.st_size, info.st_mtime_ns,
                        platform_from_folders([root.parent.name, root.parent.parent.name]))
        else:
            walker.result.failures.append(Failure(str(root), "no such file or folder"))
    texts = [str(root) for root in roots]
    walker.result.vanished = [path for path, row in known.items()
                              if path not in walker.seen and _under(row.container or path, texts)]
    return walker.result
