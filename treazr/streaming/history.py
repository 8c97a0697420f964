"""The play-session rows and the append-only play-history log (``play_events``).

Event kinds: ``started``, ``joined``, ``left``, ``state_saved``, ``state_loaded``, ``ended``, and for
playing together ``port_changed`` (port, from and to user ids, why), ``chat`` (text) and ``handed_off``
(from and to device). Play time is derived from the log: a user plays from
``joined`` to the matching ``left`` (or the session's ``ended``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

from treazr.db import Database

__all__ = ["EVENT_KINDS", "close_leftover_sessions", "events_of", "insert_session", "log_event", "mark_ended"]

EVENT_KINDS = frozenset({"started", "joined", "left", "state_saved", "state_loaded", "ended", "port_changed",
                         "chat", "handed_off"})


def _now() -> str:
    return datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def insert_session(db: Database, *, token: str, user_id: int, game_id: int, core: str,
                         started_from: str, device_id: int) -> int:
    """A new running session and its ``started`` event, in one transaction; returns the session id."""
    at = _now()

    def write(conn: sqlite3.Connection) -> int:
        cursor = conn.execute(
            "INSERT INTO play_sessions (token, user_id, game_id, core, started_from, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (token, user_id, game_id, core, started_from, at))
        session_id = int(cursor.lastrowid or 0)
        conn.execute("INSERT INTO play_events (session_id, kind, user_id, game_id, device_id, at, detail) "
                     "VALUES (?, 'started', ?, ?, ?, ?, ?)",
                     (session_id, user_id, game_id, device_id, at, json.dumps({"from": started_from})))
        return session_id

    return await db.write_async(write)


async def log_event(db: Database, session_id: int, kind: str, *, user_id: int | None, game_id: int,
                    device_id: int | None, **detail: Any) -> None:
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown play event {kind!r}")
    await db.write_async(lambda conn: conn.execute(
        "INSERT INTO play_events (session_id, kind, user_id, game_id, device_id, at, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, kind, user_id, game_id, device_id, _now(), json.dumps(detail))))


async def mark_ended(db: Database, session_id: int, game_id: int, reason: str) -> None:
    at = _now()

    def write(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE play_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
                     (at, reason, session_id))
        conn.execute("INSERT INTO play_events (session_id, kind, user_id, game_id, device_id, at, detail) "
                     "VALUES (?, 'ended', NULL, ?, NULL, ?, ?)",
                     (session_id, game_id, at, json.dumps({"reason": reason})))

    await db.write_async(write)


async def close_leftover_sessions(db: Database) -> int:
    """Sessions still marked running from a previous server run (a crash, a kill): end them in the log."""
    rows = await db.aquery("SELECT id, game_id FROM play_sessions WHERE ended_at IS NULL")
    for row in rows:
        await mark_ended(db, int(row["id"]), int(row["game_id"]), "server restarted")
    return len(rows)


async def events_of(db: Database, session_id: int) -> list[dict[str, Any]]:
    return await db.aquery("SELECT kind, user_id, game_id, device_id, at, detail FROM play_events "
                           "WHERE session_id = ? ORDER BY id", [session_id])
