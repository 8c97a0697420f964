"""The library tables, as named migrations (applied in order at start-up by treazr.composition).

Never edit a migration that has landed: add a new one below it.

``games`` holds what a player picks; ``files`` the copies on disk that make a game (a path may be
``archive.zip#member``, then ``container`` is the archive's path and ``mtime_ns`` / ``container_size``
its stat, so an unchanged archive is skipped on a rescan). A file is never deleted by a rescan: a
vanished one gets ``missing = 1`` so the game's saves and history stay attached. Whether a game is
playable is decided at query time by the emulation registry (an installed core for its platform), so it
is not stored.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

__all__ = ["migrations"]

migrations = Migrations("library")


@migrations()
def m001_games_and_files(db: Database) -> None:
    db.execute("""
        CREATE TABLE games (
            id INTEGER PRIMARY KEY,
            platform TEXT NOT NULL,
            title TEXT NOT NULL,
            region TEXT NOT NULL DEFAULT '',
            languages TEXT NOT NULL DEFAULT '',
            revision TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            dat_name TEXT,
            header_title TEXT,
            cover_path TEXT,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX games_platform_title ON games (platform, title)")
    db.execute("CREATE INDEX games_dat_name ON games (platform, dat_name)")
    db.execute("""
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            game_id INTEGER NOT NULL REFERENCES games (id),
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            container TEXT,
            container_size INTEGER,
            crc32 TEXT NOT NULL,
            md5 TEXT NOT NULL,
            sha1 TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            headerless_crc32 TEXT,
            headerless_md5 TEXT,
            headerless_sha1 TEXT,
            store_path TEXT,
            missing INTEGER NOT NULL DEFAULT 0,
            info TEXT NOT NULL DEFAULT '{}',
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            verified_at TEXT,
            verify_error TEXT
        )""")
    db.execute("CREATE INDEX files_game ON files (game_id)")
    db.execute("CREATE INDEX files_sha1 ON files (sha1)")
    db.execute("CREATE INDEX files_sha256 ON files (sha256)")
    db.execute("CREATE INDEX files_container ON files (container)")


@migrations()
def m002_titles_fts(db: Database) -> None:
    db.execute("""
        CREATE VIRTUAL TABLE games_fts USING fts5 (
            title, content='games', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""")
    db.execute("""
        CREATE TRIGGER games_fts_insert AFTER INSERT ON games BEGIN
            INSERT INTO games_fts (rowid, title) VALUES (new.id, new.title);
        END""")
    db.execute("""
        CREATE TRIGGER games_fts_delete AFTER DELETE ON games BEGIN
            INSERT INTO games_fts (games_fts, rowid, title) VALUES ('delete', old.id, old.title);
        END""")
    db.execute("""
        CREATE TRIGGER games_fts_update AFTER UPDATE OF title ON games BEGIN
            INSERT INTO games_fts (games_fts, rowid, title) VALUES ('delete', old.id, old.title);
            INSERT INTO games_fts (rowid, title) VALUES (new.id, new.title);
        END""")


@migrations()
def m003_dats(db: Database) -> None:
    db.execute("""
        CREATE TABLE dat_files (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            version TEXT NOT NULL DEFAULT '',
            format TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            entries INTEGER NOT NULL,
            loaded_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE dat_entries (
            id INTEGER PRIMARY KEY,
            dat_id INTEGER NOT NULL REFERENCES dat_files (id) ON DELETE CASCADE,
            game_name TEXT NOT NULL,
            rom_name TEXT NOT NULL,
            size INTEGER,
            crc32 TEXT,
            md5 TEXT,
            sha1 TEXT
        )""")
    db.execute("CREATE INDEX dat_entries_sha1 ON dat_entries (sha1)")
    db.execute("CREATE INDEX dat_entries_md5 ON dat_entries (md5)")
    db.execute("CREATE INDEX dat_entries_crc ON dat_entries (crc32, size)")


@migrations()
def m004_imports(db: Database) -> None:
    db.execute("""
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            paths TEXT NOT NULL,
            added INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            missing INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            failures TEXT NOT NULL DEFAULT '[]'
        )""")


@migrations()
def m005_deferred_title_index(db: Database) -> None:
    """Lets an import index the titles of a whole batch in one statement (five times cheaper than a trigger
    run per game). The import inserts a row into ``games_fts_deferred`` at the start of its transaction and
    deletes it before committing, so no other connection ever sees it: every other writer keeps the trigger."""
    db.execute("CREATE TABLE games_fts_deferred (id INTEGER PRIMARY KEY)")
    db.execute("DROP TRIGGER games_fts_insert")
    db.execute("""
        CREATE TRIGGER games_fts_insert AFTER INSERT ON games
        WHEN NOT EXISTS (SELECT 1 FROM games_fts_deferred) BEGIN
            INSERT INTO games_fts (rowid, title) VALUES (new.id, new.title);
        END""")


@migrations()
def m006_core_refusals(db: Database) -> None:
    """A game whose core refused its content at start: the core's own reason and which core build said
    so (``name version``). Playable again when that core build changes or a later start succeeds."""
    db.execute("ALTER TABLE games ADD COLUMN refused_reason TEXT")
    db.execute("ALTER TABLE games ADD COLUMN refused_core TEXT")


@migrations()
def m007_browse_indexes(db: Database) -> None:
    """The home grid sorts by title without case and by date added; without these every page of a 10,000-game
    library sorts the whole table. The files ones serve "games with a file present" and the change marker of
    the home page's cached counts. The shelf set made them first (as ``web_*``) and drops its copies."""
    db.execute("CREATE INDEX IF NOT EXISTS games_title_nocase ON games (title COLLATE NOCASE, id)")
    db.execute("CREATE INDEX IF NOT EXISTS games_added ON games (added_at, id)")
    db.execute("CREATE INDEX IF NOT EXISTS files_present ON files (game_id) WHERE missing = 0")
    db.execute("CREATE INDEX IF NOT EXISTS files_updated ON files (updated_at)")
    db.execute("CREATE INDEX IF NOT EXISTS files_missing ON files (game_id) WHERE missing = 1")
