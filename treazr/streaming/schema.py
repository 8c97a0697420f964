"""The streaming tables (play sessions, the play-history event log), as named migrations
(applied in order at start-up by ``treazr.schema``).

Never edit a migration that has landed: add a new one below it.
"""

from __future__ import annotations

from sqlite_utils import Migrations

__all__ = ["migrations"]

migrations = Migrations("streaming")
