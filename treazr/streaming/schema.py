"""The streaming tables (play sessions, the play-history event log), as named migrations
(applied in order at start-up by ``treazr.composition``).

Never edit a migration that has landed: add a new one below it.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

__all__ = ["migrations"]

migrations = Migrations("streaming")


@migrations()
def m001_play_sessions(db: Database) -> None:
    # One row per play session; ``ended_at`` stays NULL while it runs (a restart marks leftovers ended).
    db.execute("""
        CREATE TABLE play_sessions (
            id INTEGER PRIMARY KEY,
            token TEXT NOT NULL UNIQUE,
            user_id INTEGER NOT NULL,
            game_id INTEGER NOT NULL,
            core TEXT NOT NULL,
            started_from TEXT NOT NULL DEFAULT 'new',
            started_at TEXT NOT NULL,
            ended_at TEXT,
            end_reason TEXT
        )""")
    db.execute("CREATE INDEX play_sessions_user ON play_sessions (user_id, started_at)")
    db.execute("CREATE INDEX play_sessions_running ON play_sessions (ended_at)")
    # The play-history log is append-only: rows are inserted, never updated or deleted; play time is
    # derived from it (a user's time in a session runs from joined to left).
    db.execute("""
        CREATE TABLE play_events (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES play_sessions (id),
            kind TEXT NOT NULL,
            user_id INTEGER,
            game_id INTEGER NOT NULL,
            device_id INTEGER,
            at TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX play_events_session ON play_events (session_id, id)")
    db.execute("CREATE INDEX play_events_user ON play_events (user_id, at)")
    db.execute("""
        CREATE TRIGGER play_events_append_only_update BEFORE UPDATE ON play_events
        BEGIN SELECT RAISE(ABORT, 'play_events is append-only'); END""")
    db.execute("""
        CREATE TRIGGER play_events_append_only_delete BEFORE DELETE ON play_events
        BEGIN SELECT RAISE(ABORT, 'play_events is append-only'); END""")


@migrations()
def m002_play_sessions_by_game(db: Database) -> None:
    # A person's last start of each game (the library's "recently played" order); the shelf set made it
    # first (as web_play_sessions_user_game) and drops its copy.
    db.execute("CREATE INDEX IF NOT EXISTS play_sessions_user_game ON play_sessions (user_id, game_id, started_at)")
