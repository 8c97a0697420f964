"""``import_paths``: walk folders, skip what is unchanged, hash the rest on every core, record in batches.

Used by ``treazr import``, the web upload and rescans alike. Bad files never stop an import: each one is
reported with its reason. Results are committed in batches through the single database writer, so an
import killed half-way leaves a consistent database and a rerun continues where it stopped (files
already recorded are unchanged and not read again).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treazr.disk import make_room_check
from treazr.errors import HostileArchive, InvalidContent, InvalidInput
from treazr.library.archives import ArchiveLimits
from treazr.library.catalog import ApplyState, apply_results, mark_vanished
from treazr.library.dat import apply_dats_to_games, load_dat, store_dat
from treazr.library.platforms import PLATFORMS, resolve_slug
from treazr.library.pools import open_pool
from treazr.library.probe import Failure, Job, JobResult, Probe, ProbeOptions, run_job
from treazr.library.recovery import import_lease, recover
from treazr.library.store import ContentStore
from treazr.library.walk import Known, walk_roots
from treazr.services import Services

__all__ = ["Identification", "ImportReport", "Progress", "archive_limits", "hash_workers", "identify_file",
           "import_paths"]

Identification = Probe

Progress = Callable[[int, int, int, int], None]  # (files done, files total, bytes done, bytes total)
_BATCH_FILES = 256
_BATCH_SECONDS = 1.0


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    failed: list[Failure] = field(default_factory=list)
    files: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    game_ids: list[int] = field(default_factory=list)  # games of the files added or updated (an upload's game)

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "missing": self.missing,
                "failed": [{"path": f.path, "reason": f.reason} for f in self.failed]}


class _DryRun(Exception):
    """Raised inside the writer transaction to roll a dry run back."""


def hash_workers(services: Services) -> int:
    configured = services.settings.library.hash_workers
    return configured or len(os.sched_getaffinity(0)) or 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load_dats(services: Services, dats: Iterable[str | os.PathLike[str]], dry_run: bool) -> None:
    parsed = [(Path(path), load_dat(Path(path))) for path in dats]  # a bad DAT stops before anything is read
    if dry_run or not parsed:
        return

    def record(conn: Any) -> None:
        for path, dat in parsed:
            store_dat(conn, path, dat, services.data.dats)
        apply_dats_to_games(conn)

    services.db.write(record)


def _known_files(services: Services) -> dict[str, Known]:
    rows = services.db.query("SELECT path, size, mtime_ns, container, container_size, missing,"
                             " store_path IS NOT NULL AS stored FROM files")
    return {row["path"]: Known(row["size"], row["mtime_ns"], row["container"], row["container_size"],
                               bool(row["missing"]), bool(row["stored"])) for row in rows}


class _Batches:
    """Sends results to the writer in batches, one batch in flight while the next one fills."""

    def __init__(self, services: Services, state: ApplyState, dry_run: bool) -> None:
        self.services, self.state, self.dry_run = services, state, dry_run
        self.pending: list[JobResult] = []
        self.kept: list[JobResult] = []
        self.in_flight: Future[None] | None = None
        self.last = time.monotonic()

    def add(self, result: JobResult) -> None:
        if result.probes or result.members is not None:
            (self.kept if self.dry_run else self.pending).append(result)
        if len(self.pending) >= _BATCH_FILES or (self.pending and time.monotonic() - self.last > _BATCH_SECONDS):
            self.flush(wait_done=False)

    def flush(self, *, wait_done: bool = True) -> None:
        if self.in_flight is not None:
            self.in_flight.result()
            self.in_flight = None
        if self.pending:
            batch, self.pending = self.pending, []
            self.in_flight = self.services.db.submit(lambda conn: apply_results(conn, batch, self.state))
            self.last = time.monotonic()
        if wait_done and self.in_flight is not None:
            self.in_flight.result()
            self.in_flight = None


def _run_jobs(jobs: Sequence[Job], options: ProbeOptions, workers: int, batches: _Batches,
              report: ImportReport, tick: Callable[[int], None], hashing: str) -> None:
    with open_pool(hashing, jobs, options, workers) as pool:
        for result in pool.results():
            report.failed.extend(result.failures)
            report.bytes_read += result.job.size
            batches.add(result)
            tick(result.job.size)


def _record_run(services: Services, paths: list[str], report: ImportReport | None, run_id: int | None,
                status: str) -> int:
    if run_id is None:
        return services.db.execute("INSERT INTO imports (started_at, status, paths) VALUES (?, ?, ?)",
                                   (_now(), status, json.dumps(paths)))
    assert report is not None
    services.db.execute(
        "UPDATE imports SET finished_at = ?, status = ?, added = ?, updated = ?, unchanged = ?, missing = ?,"
        " failed = ?, failures = ? WHERE id = ?",
        (_now(), status, report.added, report.updated, report.unchanged, report.missing, len(report.failed),
         json.dumps(report.as_json()["failed"][:1000]), run_id))
    return run_id


def _check_platform(platform: str | None) -> str | None:
    if platform is None:
        return None
    slug = platform if platform in PLATFORMS else resolve_slug(platform)
    if slug is None:
        raise InvalidInput(f"unknown platform {platform!r}; use one of: {', '.join(PLATFORMS)}")
    return slug


def archive_limits(services: Services) -> ArchiveLimits:
    library = services.settings.library
    return ArchiveLimits(library.archive_max_ratio, library.archive_max_total_mb << 20,
                         library.archive_max_members)


def _ticker(progress: Progress | None, total_files: int, unchanged: int, total_bytes: int) -> Callable[[int], None]:
    """Counts finished files and bytes, and tells ``progress`` (at once, and after every file)."""
    done = [unchanged, 0]

    def tick(size: int) -> None:
        done[0] += 1
        done[1] += size
        if progress is not None:
            progress(done[0], total_files, done[1], total_bytes)

    if progress is not None:
        progress(unchanged, total_files, 0, total_bytes)
    return tick


def import_paths(services: Services, paths: Iterable[str | os.PathLike[str]], *, copy: bool = False,
                 platform: str | None = None, dats: Iterable[str | os.PathLike[str]] = (), dry_run: bool = False,
                 progress: Progress | None = None, hashing: str = "threads") -> ImportReport:
    """Import (or rescan) ROM files and folders; see the module docstring.

    ``hashing`` is ``"threads"`` (the default: measured faster here, and no child processes in the frozen
    build) or ``"processes"`` (kept so the benchmark can compare the two on the machine at hand).
    """
    if hashing not in ("threads", "processes"):
        raise InvalidInput(f"hashing must be 'threads' or 'processes', not {hashing!r}")
    forced = _check_platform(platform)
    if dry_run:
        return _import(services, paths, copy, forced, dats, True, progress, hashing)
    recover(services.db, services.data)  # what a killed import left, if none is running now
    with import_lease(services.data):
        return _import(services, paths, copy, forced, dats, False, progress, hashing)


def _import(services: Services, paths: Iterable[str | os.PathLike[str]], copy: bool, forced: str | None,
            dats: Iterable[str | os.PathLike[str]], dry_run: bool, progress: Progress | None,
            hashing: str) -> ImportReport:
    started = time.monotonic()
    roots = [Path(p).expanduser().resolve() for p in paths]
    _load_dats(services, dats, dry_run)
    report = ImportReport()
    walk = walk_roots(roots, _known_files(services), need_store=copy and not dry_run)
    report.failed.extend(walk.failures)
    report.unchanged = walk.unchanged
    report.files = len(walk.jobs) + walk.unchanged
    state = ApplyState(vanished=set(walk.vanished))
    store = ContentStore(services.data.content) if copy and not dry_run else None
    if store is not None:  # refused up front rather than half-way: the store deduplicates, so this is the most
        make_room_check(services.data.content, sum(job.size for job in walk.jobs), "copying these ROMs")
    options = ProbeOptions(forced, store, archive_limits(services))
    tick = _ticker(progress, report.files, walk.unchanged, sum(job.size for job in walk.jobs))
    run_id = None if dry_run else _record_run(services, [str(r) for r in roots], None, None, "running")
    batches = _Batches(services, state, dry_run)
    if walk.revived and not dry_run:
        services.db.write(lambda conn: _revive(conn, walk.revived))
    try:
        _run_jobs(walk.jobs, options, hash_workers(services), batches, report, tick, hashing)
        batches.flush()
        report.missing = _finish(services, batches, state, walk.revived, dry_run)
    except BaseException:
        if not dry_run:
            _keep_what_is_done(batches)
        if run_id is not None:
            _record_run(services, [], _counted(report, state), run_id, "interrupted")
        raise
    _counted(report, state)
    report.updated += len(walk.revived)
    report.seconds = time.monotonic() - started
    if run_id is not None:
        _record_run(services, [], report, run_id, "done")
    return report


def _keep_what_is_done(batches: _Batches) -> None:
    """On Ctrl-C, commit the files already hashed so a rerun does not read them again."""
    try:
        batches.flush()
    except Exception:  # the writer itself failed: what is committed stays consistent, the rest is redone
        batches.pending.clear()


def _counted(report: ImportReport, state: ApplyState) -> ImportReport:
    report.added, report.updated = state.added, state.updated
    report.game_ids = list(dict.fromkeys(state.game_ids))
    return report


def _revive(conn: Any, paths: list[str]) -> None:
    """Files marked missing that are back, unchanged, where they were."""
    for path in paths:
        conn.execute("UPDATE files SET missing = 0, updated_at = ? WHERE path = ?", (_now(), path))


def _finish(services: Services, batches: _Batches, state: ApplyState, revived: list[str], dry_run: bool) -> int:
    if not dry_run:
        return services.db.write(lambda conn: mark_vanished(conn, state))
    outcome: dict[str, int] = {}

    def rehearse(conn: Any) -> None:
        _revive(conn, revived)
        apply_results(conn, batches.kept, state)
        outcome["missing"] = mark_vanished(conn, state)
        raise _DryRun

    try:
        services.db.write(rehearse)
    except _DryRun:
        pass
    return outcome["missing"]


def identify_file(path: str | os.PathLike[str], *, platform: str | None = None,
                  limits: ArchiveLimits | None = None) -> Probe:
    """Identify and hash one ROM (the largest ROM of an archive) without touching the database.

    Raises :class:`~treazr.errors.HostileArchive` or :class:`~treazr.errors.InvalidContent` with the
    reason when nothing in it is a usable ROM.
    """
    target = Path(path)
    try:
        info = target.stat()
    except OSError as error:
        raise InvalidInput(f"cannot read {target.name}: {error.strerror or error}") from None
    job = Job(str(target), info.st_size, info.st_mtime_ns, None)
    result = run_job(job, ProbeOptions(_check_platform(platform), None, limits or ArchiveLimits()))
    if not result.probes:
        failure = result.failures[0] if result.failures else Failure(str(target), "no ROM found")
        raise (HostileArchive if failure.hostile else InvalidContent)(f"{target.name}: {failure.reason}")
    return max(result.probes, key=lambda probe: probe.size)
