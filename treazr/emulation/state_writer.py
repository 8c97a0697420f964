"""Writing states off the frame loop.

The loop only takes the state (``retro_serialize``) and a copy of the frame, a millisecond or two; this
thread then writes the state, its PNG thumbnail and its note, each atomically and fsynced, and only then
sends the reply. So a save state, a save point or the Continue state at the end costs the game no
visible frame, and a state on disk is never half-written.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from treazr.atomic import atomic_write
from treazr.emulation.images import png_from_bgrx

__all__ = ["StateWrite", "StateWriter"]


@dataclass(frozen=True)
class StateWrite:
    request_id: int | None
    path: Path
    data: bytes
    frame: np.ndarray  # BGRX, owned by this write
    note: dict[str, Any]  # written beside the state as JSON: the core, content and frame it fits

    def write(self) -> dict[str, Any]:
        atomic_write(self.path, self.data)
        thumbnail = self.path.with_suffix(".png")
        atomic_write(thumbnail, png_from_bgrx(self.frame))
        atomic_write(self.path.with_suffix(".json"), json.dumps(self.note).encode())
        return {"path": str(self.path), "thumbnail": str(thumbnail), "size": len(self.data),
                "frame_no": int(self.note.get("frame_no", 0)), "width": int(self.frame.shape[1]),
                "height": int(self.frame.shape[0])}


Reply = Callable[[int | None, dict[str, Any] | None, OSError | None], None]


class StateWriter:
    """One thread writing :class:`StateWrite` in order; ``reply`` is called from it after each."""

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self._queue: queue.SimpleQueue[StateWrite | None] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="treazr-state-writer", daemon=True)
        self._thread.start()

    def submit(self, write: StateWrite) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(write)

    def drain(self) -> None:
        """Wait until every submitted state is on disk (before a state is loaded, and at the end)."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (write := self._queue.get()) is not None:
            try:
                result, error = write.write(), None
            except OSError as failed:
                result, error = None, failed
            try:
                self._reply(write.request_id, result, error)
            except OSError:
                pass  # the web process went away: nobody waits for this reply; the files are written
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
