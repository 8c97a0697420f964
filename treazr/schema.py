"""The application's migration sets, in the order they apply (later sets may reference earlier ones)."""

from __future__ import annotations

from sqlite_utils import Migrations

from treazr.auth.schema import migrations as auth
from treazr.library.schema import migrations as library
from treazr.library.shelf_schema import migrations as shelf
from treazr.saves.schema import migrations as emulation
from treazr.streaming.schema import migrations as streaming

__all__ = ["MIGRATION_SETS"]

MIGRATION_SETS: tuple[Migrations, ...] = (auth, library, emulation, streaming, shelf)
