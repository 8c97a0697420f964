"""The emulation migrations, applied to an empty database (and again, which must change nothing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from treazr.composition import MIGRATION_SETS
from treazr.saves.schema import migrations


def test_migrations_apply_to_an_empty_database(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "empty.db")
    migrations.apply(db)
    assert {"save_states", "save_ram"} <= set(db.table_names())
    assert {c.name for c in db["save_states"].columns} >= {
        "user_id", "game_id", "slot", "path", "thumbnail", "size", "frame_no", "core_name", "core_version",
        "created_at"}
    assert {c.name for c in db["save_ram"].columns} >= {"user_id", "game_id", "path", "size", "sha256", "updated_at"}
    migrations.apply(db)  # applied ones are skipped
    applied = [r["name"] for r in db.query("SELECT name FROM _sqlite_migrations WHERE migration_set = 'emulation'")]
    assert applied == ["m001_save_states", "m002_save_ram", "m003_state_versions"]
    db.close()


def test_one_state_per_user_game_and_slot(tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "all.db")
    for migration_set in MIGRATION_SETS:
        migration_set.apply(db)
    row = {"user_id": 1, "game_id": 2, "slot": 3, "path": "p", "size": 1, "core_name": "c", "core_version": "v",
           "created_at": "now"}
    db["save_states"].insert(row)
    with pytest.raises(sqlite3.IntegrityError):
        db["save_states"].insert(row)
    with pytest.raises(sqlite3.IntegrityError):
        db["save_states"].insert({**row, "slot": 100})
    db["save_states"].insert({**row, "user_id": 2})
    db.close()
