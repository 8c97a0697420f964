"""Covers made without anyone asking: after every import, each playable game with neither art nor a
screenshot gets an automatic one (:mod:`treazr.emulation.covers`), one game at a time, in a worker niced
below the games being played.

Who makes them:

- the running server: :class:`AutoCovers`, started and stopped by the web app's lifespan. It hears of
  imports made in its own process from :meth:`AutoCovers.nudge` (uploads, rescans), and of those made by
  ``treazr import`` in another process by reading three maxima of the ``imports`` and ``games`` tables
  every :data:`POLL_S` seconds. While it runs it holds ``data/covers.lock`` (:class:`CoverLock`);
- ``treazr import`` itself, when no server holds that lock.

A game that got no cover (its screen stayed one flat colour, the core refused it or crashed) is remembered
in ``thumbnails/<id>.miss`` with the identity of its content file and core, and is not tried again on its
own until one of them changes, across restarts; the admin's "Make covers" job tries every game again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treazr.atomic import atomic_write
from treazr.emulation.covers import make_cover_async
from treazr.errors import TreazrError
from treazr.library.covers import CoverJob, games_without_cover

if TYPE_CHECKING:
    from treazr.services import Services

__all__ = ["BACKGROUND_NICE", "POLL_S", "AutoCovers", "CoverLock", "CoverTally", "make_missing_covers"]

log = logging.getLogger("treazr.covers")

POLL_S = 5.0  # how soon the server notices an import made by another process
BACKGROUND_NICE = 10  # cover workers run this much nicer than the server and its games

Progress = Callable[[int, int], None]  # (games done, games to do)


@dataclass
class CoverTally:
    made: int = 0
    without: int = 0  # tried, and no cover came of it
    skipped: int = 0  # remembered as giving none, so not tried again

    def as_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Attempt:
    job: CoverJob
    core: Path
    identity: str  # what a remembered miss is tied to: the content file as it is now, and the core


def _miss_path(thumbnails: Path, game_id: int) -> Path:
    return thumbnails / f"{int(game_id)}.miss"


def _attempts(services: Services, jobs: list[CoverJob], retry: bool) -> list[_Attempt]:
    attempts = []
    for job in jobs:
        try:
            core = Path(services.cores.require_core(job.platform).path)
            stat = job.content.stat()
        except (TreazrError, OSError) as error:
            log.warning("no cover for game %s: %s", job.game_id, error)
            continue
        identity = f"{job.content}\n{stat.st_size}\n{stat.st_mtime_ns}\n{core}\n"
        miss = _miss_path(services.data.thumbnails, job.game_id)
        if retry or not miss.is_file() or miss.read_text(errors="replace") != identity:
            attempts.append(_Attempt(job, core, identity))
    return attempts


def _remember(thumbnails: Path, attempt: _Attempt, made: bool) -> None:
    miss = _miss_path(thumbnails, attempt.job.game_id)
    if made:
        miss.unlink(missing_ok=True)
    else:
        atomic_write(miss, attempt.identity.encode())


def _playable(services: Services) -> set[str]:
    return {status.platform for status in services.cores.platforms() if status.playable}


async def make_missing_covers(services: Services, *, retry: bool = False,
                              progress: Progress | None = None) -> CoverTally:
    """Make the automatic cover of every playable game that has neither art nor one yet, by title, one
    game at a time (each run takes its turn among the server's cover runs, niced). Games remembered as
    giving no cover are left out unless ``retry``. Cancelling stops it; the worker in progress is killed.
    """
    tally = CoverTally()
    with services.cover_runs.round():
        playable = await asyncio.to_thread(_playable, services)
        jobs = await games_without_cover(services.db, services.data.content, services.data.thumbnails, playable)
        attempts = await asyncio.to_thread(_attempts, services, jobs, retry)
        tally.skipped = len(jobs) - len(attempts)
        for done, attempt in enumerate(attempts):
            if progress is not None:
                progress(done, len(attempts))
            made = await make_cover_async(services, attempt.job.game_id, attempt.job.content, attempt.core,
                                          nice=BACKGROUND_NICE) is not None
            await asyncio.to_thread(_remember, services.data.thumbnails, attempt, made)
            tally.made += made
            tally.without += not made
        if progress is not None:
            progress(len(attempts), len(attempts))
    return tally


class CoverLock:
    """``data/covers.lock``, held exclusively by the server's cover maker while it runs, so that
    ``treazr import`` leaves the covers to it. The kernel drops the flock of a killed server."""

    def __init__(self, data_root: Path) -> None:
        self.path = data_root / "covers.lock"
        self._fd: int | None = None

    def _try(self, mode: int) -> int | None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def take(self) -> bool:
        """Hold the lock (never waiting for it); False when another server already does."""
        if self._fd is None:
            self._fd = self._try(fcntl.LOCK_EX)
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def held_elsewhere(self) -> bool:
        """True while a server makes this data directory's covers."""
        fd = self._try(fcntl.LOCK_SH)
        if fd is None:
            return True
        os.close(fd)
        return False


_CHANGES_SQL = ("SELECT (SELECT max(id) FROM imports) AS run, (SELECT max(finished_at) FROM imports) AS finished, "
                "(SELECT max(id) FROM games) AS game")


class AutoCovers:
    """The server's background maker of missing covers (see the module's docstring).

    A round runs at start, after every :meth:`nudge`, and whenever the import runs or games change;
    :attr:`rounds` counts them by why they ran (``start``, ``nudge``, ``change``).
    """

    def __init__(self, services: Services, *, poll_s: float = POLL_S) -> None:
        self.services = services
        self.poll_s = poll_s
        self.rounds: Counter[str] = Counter()
        self.lock = CoverLock(services.data.root)
        self._nudged = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start watching, unless ``library.auto_covers`` is off."""
        if self.services.settings.library.auto_covers and self._task is None:
            self._task = asyncio.create_task(self._watch(), name="treazr-auto-covers")

    async def stop(self) -> None:
        """Stop watching; a cover run in progress is cancelled and its worker killed."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.lock.release()

    def nudge(self) -> None:
        """An import has just been made in this process: look for games without covers now."""
        self._nudged.set()

    async def _watch(self) -> None:
        seen: tuple[Any, ...] | None = None
        while True:
            nudged = self._nudged.is_set()
            self._nudged.clear()
            try:
                if self.lock.take():  # else another server on this data directory makes them
                    row = await self.services.db.aquery_one(_CHANGES_SQL)
                    now = tuple(row.values()) if row else ()
                    if nudged or now != seen:
                        reason = "nudge" if nudged else "start" if seen is None else "change"
                        seen = now
                        await self._round(reason)
            except Exception:  # one bad round (a database hiccup, a vanished folder) must not end the watch
                log.exception("automatic covers failed; trying again at the next import")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), self.poll_s)

    async def _round(self, reason: str) -> None:
        self.rounds[reason] += 1
        tally = await make_missing_covers(self.services)
        if tally.made or tally.without:
            log.info("automatic covers: %d made, %d game(s) showed nothing to take one from", tally.made,
                     tally.without)
