"""The auth tables, as named migrations (applied in order at start-up by treazr.composition).

Times are stored as RFC 3339 UTC text with second precision (``2026-11-22T02:31:00Z``), so they sort and
compare as text. Secrets (invite and session tokens) are stored only as SHA-256 digests.

Never edit a migration that has landed: add a new one below it.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

__all__ = ["migrations"]

migrations = Migrations("auth")


@migrations()
def m001_users_devices(db: Database) -> None:
    db.execute("""
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'child')),
            created_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE devices (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
            label TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen_at TEXT,
            revoked_at TEXT
        )""")
    db.execute("CREATE INDEX devices_user ON devices(user_id)")


@migrations()
def m002_invites(db: Database) -> None:
    db.execute("""
        CREATE TABLE invites (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash BLOB NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            used_at TEXT,
            device_id INTEGER REFERENCES devices(id) ON DELETE SET NULL,
            cancelled_at TEXT
        )""")
    db.execute("CREATE INDEX invites_user ON invites(user_id)")


@migrations()
def m003_web_sessions(db: Database) -> None:
    db.execute("""
        CREATE TABLE web_sessions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
            token_hash BLOB NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            ended_at TEXT,
            address TEXT NOT NULL DEFAULT '',
            user_agent TEXT NOT NULL DEFAULT ''
        )""")
    db.execute("CREATE INDEX web_sessions_device ON web_sessions(device_id)")
    db.execute("CREATE INDEX web_sessions_user ON web_sessions(user_id)")


@migrations()
def m004_audit_log(db: Database) -> None:
    db.execute("""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            device_id INTEGER REFERENCES devices(id) ON DELETE SET NULL,
            actor_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            address TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}'
        )""")
    db.execute("CREATE INDEX audit_log_at ON audit_log(at)")


@migrations()
def m005_grants(db: Database) -> None:
    # A grant is either a whole platform (slug) or one collection; collections live in a later
    # migration set, so collection_id carries no foreign key here.
    db.execute("""
        CREATE TABLE grants (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            platform TEXT,
            collection_id INTEGER,
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
            CHECK ((platform IS NULL) <> (collection_id IS NULL))
        )""")
    db.execute("CREATE UNIQUE INDEX grants_platform ON grants(user_id, platform) WHERE platform IS NOT NULL")
    db.execute("CREATE UNIQUE INDEX grants_collection ON grants(user_id, collection_id) "
               "WHERE collection_id IS NOT NULL")
