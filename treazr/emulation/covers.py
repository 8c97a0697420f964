"""Cover images for games without art: run the game headless for a few seconds, keep a screenshot.

The game runs in a worker process like any session (a core that crashes or hangs costs nothing but
the cover), as fast as the core can go, and the whole attempt is capped in wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from treazr.emulation.worker import WorkerHandle, WorkerSpec
from treazr.errors import Conflict, TreazrError

if TYPE_CHECKING:
    from treazr.services import Services

__all__ = ["CoverRuns", "cover_path", "make_cover", "make_cover_async"]

log = logging.getLogger("treazr.covers")

EMULATED_SECONDS = 4.0  # most games show a title screen by then
TIME_CAP_S = 20.0


class CoverRuns:
    """Fair shares of cover runs, each a full-speed emulator for up to :data:`TIME_CAP_S`.

    At most ``at_once`` run on the whole server (later ones wait their turn), and one person may have
    at most ``per_user`` asked for at a time (a further ask is refused at once), so nobody can fill
    the machine with emulators by clicking "New cover" in a loop.
    """

    def __init__(self, at_once: int, per_user: int) -> None:
        self._turns = asyncio.Semaphore(at_once)
        self._per_user = per_user
        self._asked: Counter[int] = Counter()
        self._rounds = 0
        self.running = 0

    @property
    def busy(self) -> bool:
        """True while a cover is being made, or a round of them (:meth:`round`) is under way."""
        return self.running > 0 or self._rounds > 0

    @contextlib.contextmanager
    def round(self) -> Iterator[None]:
        """Held while covers are made one after another, so :attr:`busy` stays true between them."""
        self._rounds += 1
        try:
            yield
        finally:
            self._rounds -= 1

    @contextlib.asynccontextmanager
    async def turn(self, user_id: int | None) -> AsyncIterator[None]:
        """Wait for a free run; ``user_id`` None is the server's own work (an admin's cover job)."""
        if user_id is not None:
            if self._asked[user_id] >= self._per_user:
                raise Conflict("a new cover you asked for is still being made; wait for it to finish")
            self._asked[user_id] += 1
        try:
            async with self._turns:
                self.running += 1
                try:
                    yield
                finally:
                    self.running -= 1
        finally:
            if user_id is not None:
                self._asked[user_id] -= 1


def cover_path(services: Services, game_id: int) -> Path:
    return services.data.thumbnails / f"{int(game_id)}.png"


async def _wait_for_frame(handle: WorkerHandle, frame_no: int, deadline: float) -> bool:
    while handle.frame_no < frame_no:
        if not handle.running or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _shoot(handle: WorkerHandle, target: Path, first_frame: int, deadline: float) -> bool:
    """Screenshot once ``first_frame`` is reached; while the picture is one flat colour, try again a
    second of game time later, until the deadline."""
    fps = float(handle.av_info.get("fps") or 60.0)
    scratch = target.with_name(f".{target.name}.shot")
    frame_no = first_frame
    try:
        while await _wait_for_frame(handle, frame_no, deadline):
            shot = await handle.screenshot(scratch)
            if not shot.get("blank"):
                os.replace(scratch, target)
                return True
            frame_no = handle.frame_no + round(fps)
        return False
    finally:
        scratch.unlink(missing_ok=True)


async def make_cover_async(services: Services, game_id: int, content_path: str | Path | None, core_path: str | Path,
                           *, seconds: float = EMULATED_SECONDS, time_cap: float = TIME_CAP_S,
                           requested_by: int | None = None, nice: int = 0) -> Path | None:
    """Write ``thumbnails/<game_id>.png`` from a few seconds into the game; None if the game showed
    nothing but a flat colour, failed to load, crashed, or ran out of time.

    The run waits for its turn among :class:`CoverRuns`; one ``requested_by`` a person already
    waiting for a cover is refused (:class:`Conflict`). ``nice`` lowers the worker's CPU priority.
    """
    async with services.cover_runs.turn(requested_by):
        return await _make_cover(services, game_id, content_path, core_path, seconds, time_cap, nice)


async def _make_cover(services: Services, game_id: int, content_path: str | Path | None, core_path: str | Path,
                      seconds: float, time_cap: float, nice: int) -> Path | None:
    target = cover_path(services, game_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    spec = WorkerSpec(core_path=str(core_path), content_path=str(content_path) if content_path else None,
                      system_dir=str(services.cores.bios_dir), realtime=False, stream=False,
                      hang_timeout_s=services.settings.emulation.hang_timeout_s, temp_dir=str(services.data.tmp),
                      nice=nice)
    deadline = time.monotonic() + time_cap
    try:
        handle = await WorkerHandle.start(spec, timeout=time_cap)
    except TreazrError as error:
        log.warning("no cover for game %s: %s", game_id, error)
        return None
    try:
        fps = float(handle.av_info.get("fps") or 60.0)
        made = await _shoot(handle, target, round(seconds * fps), deadline)
    except TreazrError as error:
        log.warning("no cover for game %s: %s", game_id, error)
        made = False
    finally:
        handle.kill()  # nothing of a cover run is worth keeping: no save RAM path was given
        with contextlib.suppress(TreazrError):
            await handle.stop()
    if not made and handle.error is not None:
        log.warning("no cover for game %s: %s", game_id, handle.error)
    return target if made else None


def make_cover(services: Services, game_id: int, content_path: str | Path | None,
               core_path: str | Path) -> Path | None:
    """:func:`make_cover_async` for callers without an event loop (the CLI, the library scanner)."""
    return asyncio.run(make_cover_async(services, game_id, content_path, core_path))
