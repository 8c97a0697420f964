"""The application's migration sets together: each set indexes only the tables it creates, and a database
migrated from before an index moved ends with the same indexes as a new one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from treazr.composition import MIGRATION_SETS
from treazr.library.schema import migrations as library
from treazr.library.shelf_schema import migrations as shelf
from treazr.streaming.schema import migrations as streaming

# the first migration of each set that did not exist when the shelf set still made the browse indexes
INDEXES_MOVED = {library.name: "m007_browse_indexes", streaming.name: "m002_play_sessions_by_game",
                 shelf.name: "m004_indexes_move_to_their_tables"}


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _indexes(conn: sqlite3.Connection) -> dict[str, str]:
    """Index name -> its table, for the indexes a migration made (not SQLite's own, not the migrations table's)."""
    rows = conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                        " AND tbl_name != '_sqlite_migrations'")
    return dict(rows.fetchall())


def test_each_migration_set_indexes_only_its_own_tables(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "fresh.db")
    try:
        db = sqlite_utils.Database(conn)
        owner: dict[str, str] = {}
        misplaced = []
        for migrations in MIGRATION_SETS:
            tables_before, indexes_before = _tables(conn), _indexes(conn)
            migrations.apply(db)
            owner |= dict.fromkeys(_tables(conn) - tables_before, migrations.name)
            misplaced += [f"set {migrations.name!r} made index {index} on {table} (a table of {owner.get(table)!r})"
                          for index, table in _indexes(conn).items()
                          if index not in indexes_before and owner.get(table) != migrations.name]
            assert indexes_before.items() <= _indexes(conn).items(), f"set {migrations.name!r} dropped an index"
        assert not misplaced, misplaced
    finally:
        conn.close()


def test_a_database_from_before_the_indexes_moved_ends_with_the_same_indexes(tmp_path: Path) -> None:
    fresh = sqlite3.connect(tmp_path / "fresh.db")
    old = sqlite3.connect(tmp_path / "old.db")
    try:
        for migrations in MIGRATION_SETS:
            migrations.apply(sqlite_utils.Database(fresh))
        for migrations in MIGRATION_SETS:
            migrations.apply(sqlite_utils.Database(old), stop_before=INDEXES_MOVED.get(migrations.name))
        assert {"web_games_title_nocase", "web_files_present", "web_play_sessions_user_game"} <= set(_indexes(old))
        for migrations in MIGRATION_SETS:
            migrations.apply(sqlite_utils.Database(old))
        assert _indexes(old) == _indexes(fresh)
        assert {"games_title_nocase", "games_added", "files_present", "files_updated", "files_missing",
                "play_sessions_user_game"} <= set(_indexes(fresh))
        plan = " ".join(row[3] for row in old.execute(
            "EXPLAIN QUERY PLAN SELECT g.id FROM games g ORDER BY g.title COLLATE NOCASE, g.id LIMIT 48"))
        assert "games_title_nocase" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        fresh.close()
        old.close()
