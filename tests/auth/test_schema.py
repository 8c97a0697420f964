from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from treazr.auth.schema import migrations
from treazr.services import Services


def test_migrations_apply_on_an_empty_database_and_again_as_a_no_op(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = sqlite_utils.Database(tmp_path / "auth.db")
    migrations.apply(db)
    migrations.apply(db)
    assert {"users", "devices", "invites", "web_sessions", "audit_log", "grants"} <= set(db.table_names())
    db.close()


def test_constraints_hold(services: Services) -> None:
    services.db.execute("INSERT INTO users (name, role, created_at) VALUES ('Ada', 'member', 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        services.db.execute("INSERT INTO users (name, role, created_at) VALUES ('ADA', 'member', 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        services.db.execute("INSERT INTO users (name, role, created_at) VALUES ('Bo', 'root', 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        services.db.execute("INSERT INTO devices (user_id, public_key, label, created_at) VALUES (1, x'00', 'a', 'x')")
    with pytest.raises(sqlite3.IntegrityError):  # a grant is a platform or a collection, not both, not neither
        services.db.execute("INSERT INTO grants (user_id, platform, collection_id, created_at) "
                            "VALUES (1, 'nes', 1, 'x')")
    with pytest.raises(sqlite3.IntegrityError):
        services.db.execute("INSERT INTO grants (user_id, created_at) VALUES (1, 'x')")
