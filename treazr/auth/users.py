"""Family members and their devices: create, look up, list, revoke.

Functions take the writer's (or a reader's) ``sqlite3.Connection`` so a caller runs several of them
in one transaction: ``db.write(lambda conn: create_user(conn, "Ada", "member"))``.
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from typing import Any

from treazr.auth import audit
from treazr.auth.keys import b64url, rfc3339
from treazr.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "ROLES",
    "create_user",
    "device_rows",
    "get_user",
    "list_users",
    "revoke_device",
    "revoke_user",
    "set_role",
    "validate_label",
    "validate_name",
]

ROLES = ("admin", "member", "child")


def _clean_text(value: object, what: str, longest: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    text = " ".join(value.split())
    if not text or len(text) > longest:
        raise InvalidInput(f"{what} must be 1 to {longest} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise InvalidInput(f"{what} must not contain control characters")
    return text


def validate_name(name: object) -> str:
    return _clean_text(name, "a name", 40)


def validate_label(label: object) -> str:
    return _clean_text(label, "a device name", 60)


def create_user(conn: sqlite3.Connection, name: str, role: str, *, actor_id: int | None = None,
                now: float | None = None) -> dict[str, Any]:
    name = validate_name(name)
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not allowed; use one of: {', '.join(ROLES)}")
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise Conflict(f"there is already a user called {name}")
    user_id = int(conn.execute("INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)",
                               (name, role, rfc3339(time.time() if now is None else now))).lastrowid or 0)
    audit.record(conn, "user_added", user_id=user_id, actor_id=actor_id, detail={"role": role}, now=now)
    return get_user(conn, user_id)


def set_role(conn: sqlite3.Connection, user_id: int, role: str, *, actor_id: int | None = None,
             now: float | None = None) -> dict[str, Any]:
    """Change a user's role; it applies to their next request and their open sockets (``streaming.rights``).
    The last admin cannot step down."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} is not allowed; use one of: {', '.join(ROLES)}")
    user = get_user(conn, user_id)
    if user["role"] == role:
        return user
    if user["role"] == "admin":
        admins = conn.execute("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'").fetchone()
        if (admins["n"] if isinstance(admins, dict) else admins[0]) <= 1:
            raise Conflict(f"{user['name']} is the only admin; make someone else an admin first")
    conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user_id))
    audit.record(conn, "role_changed", user_id=user_id, actor_id=actor_id,
                 detail={"from": user["role"], "to": role}, now=now)
    return get_user(conn, user_id)


def get_user(conn: sqlite3.Connection, key: int | str) -> dict[str, Any]:
    """A user by id or (case-insensitive) name, or NotFound."""
    column = "id" if isinstance(key, int) else "name"
    row = conn.execute(f"SELECT id, name, role, created_at FROM users WHERE {column} = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"no user called {key}" if column == "name" else "no such user")
    return dict(row)


def device_rows(conn: sqlite3.Connection, user_id: int | None = None) -> list[dict[str, Any]]:
    """Devices with their live session count; every device of everyone when ``user_id`` is None."""
    rows = conn.execute(
        """SELECT d.id, d.user_id, d.label, d.public_key, d.created_at, d.last_seen_at, d.revoked_at,
                  (SELECT count(*) FROM web_sessions s WHERE s.device_id = d.id AND s.ended_at IS NULL
                     AND s.expires_at > ?) AS active_sessions
           FROM devices d WHERE (? IS NULL OR d.user_id = ?) ORDER BY d.id""",
        (rfc3339(time.time()), user_id, user_id)).fetchall()
    return [{**row, "public_key": b64url(row["public_key"])} for row in rows]


def list_users(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    users = [dict(row) for row in conn.execute("SELECT id, name, role, created_at FROM users ORDER BY id")]
    devices = device_rows(conn)
    for user in users:
        user["devices"] = [d for d in devices if d["user_id"] == user["id"]]
    return users


def _end_sessions(conn: sqlite3.Connection, where: str, params: tuple[Any, ...], now: float) -> set[int]:
    ids = {row["id"] for row in conn.execute(
        f"SELECT id FROM web_sessions WHERE ended_at IS NULL AND {where}", params)}
    conn.executemany("UPDATE web_sessions SET ended_at = ? WHERE id = ?", [(rfc3339(now), i) for i in ids])
    return ids


def revoke_device(conn: sqlite3.Connection, device_id: int, *, owner_id: int | None = None,
                  actor_id: int | None = None, address: str = "", now: float | None = None) -> set[int]:
    """Revoke one device and end its sign-in sessions; returns the ended session ids to publish.

    With ``owner_id`` the device must belong to that user (a member managing their own devices): any
    other device is reported as not found, exactly like a missing one.
    """
    now = time.time() if now is None else now
    row = conn.execute("SELECT id, user_id, revoked_at FROM devices WHERE id = ?", (device_id,)).fetchone()
    if row is None or (owner_id is not None and row["user_id"] != owner_id):
        raise NotFound("no such device")
    if row["revoked_at"] is None:
        conn.execute("UPDATE devices SET revoked_at = ? WHERE id = ?", (rfc3339(now), device_id))
        audit.record(conn, "device_revoked", user_id=row["user_id"], device_id=device_id, actor_id=actor_id,
                     address=address, now=now)
    return _end_sessions(conn, "device_id = ?", (device_id,), now)


def revoke_user(conn: sqlite3.Connection, user_id: int, *, actor_id: int | None = None,
                now: float | None = None) -> set[int]:
    """Revoke every device and pending invite of a user; the account and its saves stay."""
    now = time.time() if now is None else now
    get_user(conn, user_id)
    conn.execute("UPDATE devices SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                 (rfc3339(now), user_id))
    conn.execute("UPDATE invites SET cancelled_at = ? WHERE user_id = ? AND used_at IS NULL "
                 "AND cancelled_at IS NULL", (rfc3339(now), user_id))
    audit.record(conn, "user_revoked", user_id=user_id, actor_id=actor_id, now=now)
    return _end_sessions(conn, "user_id = ?", (user_id,), now)
