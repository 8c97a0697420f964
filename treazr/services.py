"""The process-wide objects one running Treazr needs, opened once and shared by the CLI and the server.

Every subsystem takes :class:`Services` as its shared context, so this module sits below them all and
imports none of them: the migration sets and the factories of the parts made on first use (the core
registry, the cover-run limits) are handed in where the process starts (:mod:`treazr.composition`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Migrations

from treazr.db import Database
from treazr.paths import DataDir
from treazr.settings import Settings

__all__ = ["CoreCatalogue", "CoverTurns", "RevocationBus", "Services", "open_services"]


class CoreCatalogue(Protocol):
    """What the rest of Treazr asks of ``services.cores`` (:class:`treazr.emulation.registry.CoreRegistry`).

    The records it hands out (cores, manifests, platform statuses) belong to the emulation package, which
    this module must not import, so they are typed ``Any`` here.
    """

    bios_dir: Path
    manifests: dict[str, Any]
    cores: dict[str, Any]  # the usable ones, by id
    all_cores: list[Any]

    def core(self, core_id: str) -> Any: ...

    def core_for(self, platform: str) -> Any: ...

    @property
    def content_extensions(self) -> frozenset[str]: ...

    def core_for_content(self, extension: str) -> Any: ...

    def require_core(self, platform: str, core_id: str | None = None) -> Any: ...

    def platforms(self) -> list[Any]: ...

    def as_dict(self) -> dict[str, Any]: ...


class CoverTurns(Protocol):
    """What the rest of Treazr asks of ``services.cover_runs`` (:class:`treazr.emulation.covers.CoverRuns`)."""

    running: int

    @property
    def busy(self) -> bool: ...

    def round(self) -> AbstractContextManager[None]: ...

    def turn(self, user_id: int | None) -> AbstractAsyncContextManager[None]: ...


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
    make_cores: Callable[[Settings, DataDir], CoreCatalogue] = field(repr=False)
    make_cover_runs: Callable[[Settings], CoverTurns] = field(repr=False)
    revocations: RevocationBus = field(default_factory=RevocationBus)

    @cached_property
    def cores(self) -> CoreCatalogue:
        """The libretro cores found on this machine, with the platform each one plays (made on first use:
        discovering them probes every core in a child process)."""
        return self.make_cores(self.settings, self.data)

    @cached_property
    def cover_runs(self) -> CoverTurns:
        """How many cover runs (each a full-speed emulator) may go at once, in all and per person."""
        return self.make_cover_runs(self.settings)

    def close(self) -> None:
        self.db.close()


def open_services(settings: Settings, migration_sets: Iterable[Migrations], *,
                  cores: Callable[[Settings, DataDir], CoreCatalogue],
                  cover_runs: Callable[[Settings], CoverTurns]) -> Services:
    """Create the data directory if needed, open the database and apply ``migration_sets`` in order.

    ``cores`` and ``cover_runs`` make :attr:`Services.cores` and :attr:`Services.cover_runs` on first use.
    """
    data = DataDir(settings.data_path).ensure()
    db = Database(data.database, read_limit_s=settings.server.read_time_limit_s).open(migration_sets)
    return Services(settings=settings, data=data, db=db, make_cores=cores, make_cover_runs=cover_runs)
