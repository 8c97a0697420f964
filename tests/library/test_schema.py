from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from treazr.composition import MIGRATION_SETS


def test_migrations_apply_to_an_empty_file_and_fts_follows_titles(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "library.db")
    try:
        db = sqlite_utils.Database(conn)
        for migrations in MIGRATION_SETS:
            migrations.apply(db)
        for migrations in MIGRATION_SETS:  # applying again is a no-op
            migrations.apply(db)
        tables = set(db.table_names())
        assert {"games", "files", "dat_files", "dat_entries", "imports", "games_fts"} <= tables
        insert = "INSERT INTO games (id, platform, title, added_at, updated_at) VALUES (?, 'nes', ?, '', '')"
        conn.executemany(insert, [(1, "Zelda"), (2, "Metroid")])

        def found(word: str) -> list[int]:
            return [row[0] for row in conn.execute("SELECT rowid FROM games_fts WHERE games_fts MATCH ?", (word,))]

        assert found("zelda") == [1]
        conn.execute("UPDATE games SET title = 'Link' WHERE id = 1")
        assert found("zelda") == [] and found("link") == [1]
        conn.execute("DELETE FROM games WHERE id = 2")
        assert found("metroid") == []
    finally:
        conn.close()
