"""The library's shelf: collections and favourites, as named migrations (applied in order at start-up by
treazr.composition).

Never edit a migration that has landed: add a new one below it. The set is still called ``web``: that
name is recorded in every database that applied it, and renaming it would apply it again.

``collections`` are lists of games made by admins, shown on the home page and granted to children
(``grants.collection_id``); ``favourites`` is each person's own star on a game. Like the emulation
tables, nothing references ``games`` with a foreign key that could cascade: a game that leaves the
library keeps its rows until an admin edits the collection.

m002 and m003 once made the browse indexes on ``games``, ``files`` and ``play_sessions``; the sets that
own those tables make them now, and m004 drops this set's copies.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

__all__ = ["migrations"]

migrations = Migrations("web")  # the historic name (see above), not a dependency on treazr.web


@migrations()
def m001_collections_and_favourites(db: Database) -> None:
    db.execute("""
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            description TEXT NOT NULL DEFAULT '',
            created_by INTEGER,
            created_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE collection_games (
            collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
            game_id INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (collection_id, game_id)
        )""")
    db.execute("CREATE INDEX collection_games_game ON collection_games (game_id)")
    db.execute("""
        CREATE TABLE favourites (
            user_id INTEGER NOT NULL,
            game_id INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (user_id, game_id)
        )""")


@migrations()
def m002_browse_indexes(db: Database) -> None:
    # The home grid sorts by title without case and by date added; without these every page of a
    # 10,000-game library sorts the whole table.
    db.execute("CREATE INDEX IF NOT EXISTS web_games_title_nocase ON games (title COLLATE NOCASE, id)")
    db.execute("CREATE INDEX IF NOT EXISTS web_games_added ON games (added_at, id)")
    db.execute("CREATE INDEX IF NOT EXISTS web_play_sessions_user_game ON play_sessions (user_id, game_id, started_at)")


@migrations()
def m003_present_files_index(db: Database) -> None:
    # "Games with a file present" and the change marker of the home page's cached counts.
    db.execute("CREATE INDEX IF NOT EXISTS web_files_present ON files (game_id) WHERE missing = 0")
    db.execute("CREATE INDEX IF NOT EXISTS web_files_updated ON files (updated_at)")
    db.execute("CREATE INDEX IF NOT EXISTS web_files_missing ON files (game_id) WHERE missing = 1")


@migrations()
def m004_indexes_move_to_their_tables(db: Database) -> None:
    # m002 and m003 indexed tables this set does not own; the library and streaming sets now make those
    # indexes under their own names (library m007, streaming m002), so these copies go.
    for name in ("web_games_title_nocase", "web_games_added", "web_play_sessions_user_game", "web_files_present",
                 "web_files_updated", "web_files_missing"):
        db.execute(f"DROP INDEX IF EXISTS {name}")
