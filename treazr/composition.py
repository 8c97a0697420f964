"""Where a Treazr process is put together: the migration sets in order, and the parts of
:class:`~treazr.services.Services` that belong to a subsystem.

Only entry points import this module (the CLI, the tests, the benchmarks): :mod:`treazr.services` sits
below every subsystem and knows none of them, so the pieces are handed to it here.
"""

from __future__ import annotations

from sqlite_utils import Migrations

from treazr.auth.schema import migrations as auth
from treazr.library.schema import migrations as library
from treazr.library.shelf_schema import migrations as shelf
from treazr.paths import DataDir
from treazr.saves.schema import migrations as emulation
from treazr.services import CoreCatalogue, CoverTurns, Services, open_services
from treazr.settings import Settings
from treazr.streaming.schema import migrations as streaming

__all__ = ["MIGRATION_SETS", "open_treazr"]

MIGRATION_SETS: tuple[Migrations, ...] = (auth, library, emulation, streaming, shelf)
"""The application's migration sets, in the order they apply (later sets may reference earlier ones)."""


def open_treazr(settings: Settings) -> Services:
    """Open this Treazr's services: its data directory, its database migrated to the latest schema."""
    return open_services(settings, MIGRATION_SETS, cores=_discover_cores, cover_runs=_cover_runs)


# Imported on first use: finding the cores or making covers pulls in the emulation package, which most
# commands (and every start of the one-file executable) do not need.
def _discover_cores(settings: Settings, data: DataDir) -> CoreCatalogue:
    from treazr.emulation.registry import CoreRegistry

    return CoreRegistry.discover(settings, data)


def _cover_runs(settings: Settings) -> CoverTurns:
    from treazr.emulation.covers import CoverRuns

    return CoverRuns(settings.emulation.cover_runs, settings.emulation.cover_runs_per_user)
