"""The audit log: sign-ins, failures, enrolments, invites and revocations, for admins to read.

Entries are written inside the same transaction as the change they describe, so the log never
claims something that was rolled back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from treazr.auth.keys import rfc3339

__all__ = ["EVENTS", "recent", "record"]

EVENTS = (
    "signin", "signin_failed", "enroll", "enroll_failed", "invite", "logout",
    "device_revoked", "user_added", "user_revoked", "grant_changed", "role_changed",
)


def record(conn: sqlite3.Connection, event: str, *, user_id: int | None = None, device_id: int | None = None,
           actor_id: int | None = None, address: str = "", detail: dict[str, Any] | None = None,
           now: float | None = None) -> None:
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    conn.execute(
        "INSERT INTO audit_log (at, event, user_id, device_id, actor_id, address, detail) VALUES (?,?,?,?,?,?,?)",
        (rfc3339(time.time() if now is None else now), event, user_id, device_id, actor_id, address,
         json.dumps(detail or {}, sort_keys=True)))


def recent(conn: sqlite3.Connection, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page)."""
    rows = conn.execute(
        """SELECT a.id, a.at, a.event, a.user_id, u.name AS user_name, a.device_id, a.actor_id,
                  actor.name AS actor_name, a.address, a.detail
           FROM audit_log a LEFT JOIN users u ON u.id = a.user_id LEFT JOIN users actor ON actor.id = a.actor_id
           WHERE a.id < ? ORDER BY a.id DESC LIMIT ?""",
        (before_id if before_id is not None else 2**62, max(1, min(limit, 500)))).fetchall()
    return [{**row, "detail": json.loads(row["detail"])} for row in rows]
