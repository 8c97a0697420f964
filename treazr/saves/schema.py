"""The save tables, as named migrations applied in order at start-up.

The migration set keeps the name it landed with, "emulation", so existing databases are not migrated twice.

Never edit a migration that has landed: add a new one below it.

``save_states`` holds one row per state file (slot 0 is the automatic "Continue" state written when
a session ends, slots 1-10 the player's own) with the core name and version that wrote it, because a
state only fits the core build that made it. ``save_ram`` records the last battery save flushed for
each player and game (the ``.srm`` file itself lives under ``saves/<user_id>/<game_id>.srm``).
Neither references ``games``/``users`` with a foreign key: the demo core has no game row, and
a game removed from the library must not take its players' saves with it.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

__all__ = ["migrations"]

migrations = Migrations("emulation")


@migrations()
def m001_save_states(db: Database) -> None:
    db.execute("""
        CREATE TABLE save_states (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            game_id INTEGER NOT NULL,
            slot INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 99),
            path TEXT NOT NULL,
            thumbnail TEXT,
            size INTEGER NOT NULL,
            frame_no INTEGER NOT NULL DEFAULT 0,
            core_name TEXT NOT NULL,
            core_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (user_id, game_id, slot)
        )""")


@migrations()
def m002_save_ram(db: Database) -> None:
    db.execute("""
        CREATE TABLE save_ram (
            user_id INTEGER NOT NULL,
            game_id INTEGER NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            core_name TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (user_id, game_id)
        )""")


@migrations()
def m003_state_versions(db: Database) -> None:
    # Nothing is overwritten: a state replaced by a newer save, a save point or a restore is kept here (its
    # files hard-linked under states/<user>/<game>/versions/, named by their SHA-256), pruned by count and age.
    db.execute("ALTER TABLE save_states ADD COLUMN origin TEXT NOT NULL DEFAULT 'saved'")
    db.execute("""
        CREATE TABLE state_versions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            game_id INTEGER NOT NULL,
            slot INTEGER NOT NULL,
            path TEXT NOT NULL,
            thumbnail TEXT,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            frame_no INTEGER NOT NULL DEFAULT 0,
            core_name TEXT NOT NULL,
            core_version TEXT NOT NULL,
            origin TEXT NOT NULL,
            created_at TEXT NOT NULL,
            kept_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX state_versions_slot ON state_versions (user_id, game_id, slot, id)")
