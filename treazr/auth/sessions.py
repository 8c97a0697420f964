"""Sign-in sessions: an opaque random token in the ``treazr_session`` cookie, stored as its SHA-256.

Sessions slide: each visit pushes the expiry ``session_days`` ahead (written at most once a minute).
Ending a session (logout, device or user revocation) takes effect on the next request; the caller
publishes the ended ids on ``services.revocations`` so open WebSockets close too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from treazr.auth.keys import new_token, rfc3339, token_hash
from treazr.db import Database

__all__ = ["COOKIE", "SECURE_COOKIE", "AuthUser", "SessionInfo", "end_session", "lookup_session", "start_session",
           "watch_ended_sessions"]

COOKIE = "treazr_session"  # over plain HTTP (tls = "off"), and the name older versions used everywhere
SECURE_COOKIE = "__Host-treazr_session"  # over HTTPS: the browser keeps it Secure, host-only and Path=/
_TOUCH_EVERY_S = 60


@dataclass(frozen=True)
class SessionInfo:
    session_id: int
    user_id: int
    name: str
    role: str
    device_id: int
    device_label: str
    expires_at: str
    refreshed: bool  # the expiry moved forward on this request, so the cookie should be sent again


@dataclass(frozen=True)
class AuthUser:
    """Who is asking: the signed-in person and device behind a request or a WebSocket."""

    user_id: int
    name: str
    role: str  # "admin" | "member" | "child"
    device_id: int
    session_id: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def start_session(conn: sqlite3.Connection, user_id: int, device_id: int, days: int, *, address: str = "",
                  user_agent: str = "", now: float | None = None) -> tuple[str, int]:
    """Returns the cookie value (shown once) and the session id."""
    now = time.time() if now is None else now
    token, digest = new_token()
    session_id = conn.execute(
        "INSERT INTO web_sessions (user_id, device_id, token_hash, created_at, last_seen_at, expires_at, address, "
        "user_agent) VALUES (?,?,?,?,?,?,?,?)",
        (user_id, device_id, digest, rfc3339(now), rfc3339(now), rfc3339(now + days * 86400), address,
         user_agent[:300])).lastrowid
    conn.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", (rfc3339(now), device_id))
    return token, int(session_id or 0)


async def lookup_session(db: Database, token: str, days: int, now: float | None = None) -> SessionInfo | None:
    """The live session behind a cookie value, or None; slides its expiry forward."""
    now = time.time() if now is None else now
    if not token or len(token) > 100:
        return None
    row = await db.aquery_one(
        """SELECT s.id, s.user_id, u.name, u.role, s.device_id, d.label, s.last_seen_at, s.expires_at
           FROM web_sessions s JOIN users u ON u.id = s.user_id JOIN devices d ON d.id = s.device_id
           WHERE s.token_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? AND d.revoked_at IS NULL""",
        (token_hash(token), rfc3339(now)), lane="signin")
    if row is None:
        return None
    refreshed = False
    if row["last_seen_at"] <= rfc3339(now - _TOUCH_EVERY_S):
        expires_at = rfc3339(now + days * 86400)

        def touch(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE web_sessions SET last_seen_at = ?, expires_at = ? WHERE id = ? AND ended_at IS NULL",
                         (rfc3339(now), expires_at, row["id"]))
            conn.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", (rfc3339(now), row["device_id"]))

        await db.write_async(touch)
        refreshed = True
        row["expires_at"] = expires_at
    return SessionInfo(row["id"], row["user_id"], row["name"], row["role"], row["device_id"], row["label"],
                       row["expires_at"], refreshed)


def end_session(conn: sqlite3.Connection, session_id: int, now: float | None = None) -> set[int]:
    changed = conn.execute("UPDATE web_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                           (rfc3339(time.time() if now is None else now), session_id)).rowcount
    return {session_id} if changed else set()


async def watch_ended_sessions(db: Database, publish: Callable[[set[int]], None], interval_s: float = 2.0) -> None:
    """Publish sessions ended by another process (``treazr users revoke`` in a terminal) until cancelled.

    Ends made inside the server are published at once by their route; this catches the rest, so open
    WebSockets close within ``interval_s`` whoever ended the session.
    """
    watermark, seen = rfc3339(time.time()), set[int]()
    while True:
        await asyncio.sleep(interval_s)
        rows = await db.aquery("SELECT id, ended_at FROM web_sessions WHERE ended_at >= ?", (watermark,))
        if not rows:
            continue
        fresh = {row["id"] for row in rows} - seen
        watermark = max(row["ended_at"] for row in rows)
        seen = {row["id"] for row in rows if row["ended_at"] == watermark}  # same-second ends come back next time
        if fresh:
            publish(fresh)
