"""The process-wide objects one running Treazr needs, opened once and shared by the CLI and the server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from treazr.db import Database
from treazr.paths import DataDir
from treazr.schema import MIGRATION_SETS
from treazr.settings import Settings

if TYPE_CHECKING:
    from treazr.emulation.covers import CoverRuns
    from treazr.emulation.registry import CoreRegistry

__all__ = ["RevocationBus", "Services", "open_services"]


class RevocationBus:
    """Tells live connections (WebSockets) that sign-in sessions have ended, so they close at once.

    Auth publishes the ids of ended sign-in sessions; the realtime layer subscribes.
    """

    def __init__(self) -> None:
        self._listeners: list[Callable[[set[int]], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Callable[[set[int]], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, session_ids: set[int]) -> None:
        if not session_ids:
            return
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(set(session_ids))


@dataclass
class Services:
    settings: Settings
    data: DataDir
    db: Database
    revocations: RevocationBus = field(default_factory=RevocationBus)

    @cached_property
    def cores(self) -> CoreRegistry:
        """The libretro cores found on this machine, with the platform each one plays."""
        from treazr.emulation.registry import CoreRegistry

        return CoreRegistry.discover(self.settings, self.data)

    @cached_property
    def cover_runs(self) -> CoverRuns:
        """How many cover runs (each a full-speed emulator) may go at once, in all and per person."""
        from treazr.emulation.covers import CoverRuns

        limits = self.settings.emulation
        return CoverRuns(limits.cover_runs, limits.cover_runs_per_user)

    def close(self) -> None:
        self.db.close()


def open_services(settings: Settings) -> Services:
    """Create the data directory if needed, open the database and apply pending migrations."""
    data = DataDir(settings.data_path).ensure()
    db = Database(data.database, read_limit_s=settings.server.read_time_limit_s).open(MIGRATION_SETS)
    return Services(settings=settings, data=data, db=db)
