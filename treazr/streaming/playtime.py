"""Play time and last-played, derived from the append-only ``play_events`` log (never stored), and the
reads of the play history the home screen and the history pages show.

A person plays from a ``joined`` event to the ``left`` event of the same viewer, or to the session's
``ended`` (or now, while it runs). Two devices of one person in one session overlap; the overlap
counts once.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treazr.auth.grants import HasRole
from treazr.db import Database, Row
from treazr.library.browse import CARD_COLUMNS, cards
from treazr.library.listing import visible_sql

__all__ = ["continue_row", "games_played", "household", "last_session_starts", "play_stats", "user_sessions"]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _merged_seconds(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def _intervals(events: list[dict[str, Any]], now: float) -> dict[tuple[int, int, int], list[tuple[float, float]]]:
    """(user, game, session) -> the [joined, left) spans of that user's viewers."""
    open_views: dict[tuple[int, int], tuple[int, int, float]] = {}
    spans: dict[tuple[int, int, int], list[tuple[float, float]]] = {}
    for event in events:
        session, at = int(event["session_id"]), _ts(event["at"])
        detail = json.loads(event["detail"] or "{}")
        if event["kind"] == "joined" and event["user_id"] is not None:
            open_views[(session, int(detail.get("viewer", -1)))] = (int(event["user_id"]), int(event["game_id"]), at)
        elif event["kind"] == "left":
            opened = open_views.pop((session, int(detail.get("viewer", -1))), None)
            if opened:
                spans.setdefault((opened[0], opened[1], session), []).append((opened[2], at))
        elif event["kind"] == "ended":
            for key in [k for k in open_views if k[0] == session]:
                user, game, start = open_views.pop(key)
                spans.setdefault((user, game, session), []).append((start, at))
    for (session, _viewer), (user, game, start) in open_views.items():
        spans.setdefault((user, game, session), []).append((start, now))  # still playing
    return spans


async def _events(db: Database, user_id: int | None, game_id: int | None) -> list[dict[str, Any]]:
    """The events of every session ``user_id`` took part in (all sessions when None), oldest first."""
    where, params = [], []
    if user_id is not None:
        where.append("session_id IN (SELECT session_id FROM play_events WHERE user_id = ?)")
        params.append(user_id)
    if game_id is not None:
        where.append("game_id = ?")
        params.append(game_id)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    return await db.aquery(f"SELECT id, session_id, kind, user_id, game_id, device_id, at, detail FROM play_events"
                           f"{clause} ORDER BY id", params)


async def play_stats(db: Database, user_id: int, game_id: int | None = None) -> dict[int, dict[str, Any]]:
    """Per game: seconds played by ``user_id`` and when they last played (from the log)."""
    events = await _events(db, user_id, game_id)
    now = datetime.now(UTC).timestamp()
    per_game: dict[int, list[tuple[float, float]]] = {}
    for (user, game, _session), spans in _intervals(events, now).items():
        if user == user_id:
            per_game.setdefault(game, []).extend(spans)
    last: dict[int, str] = {}
    for event in events:
        game = int(event["game_id"])
        if event["user_id"] == user_id and event["at"] > last.get(game, ""):
            last[game] = event["at"]
    for game, spans in per_game.items():  # still watching when the session ended: played until then
        end = max(stop for _start, stop in spans)
        if game not in last or end > _ts(last[game]):
            last[game] = _iso(end)
    return {game: {"seconds": round(_merged_seconds(per_game.get(game, [])), 1), "last_played": last.get(game)}
            for game in set(per_game) | set(last)}


async def user_sessions(db: Database, user_id: int | None, limit: int = 100) -> list[dict[str, Any]]:
    """Sessions ``user_id`` took part in (everyone's when None), newest first, with their time in each."""
    events = await _events(db, user_id, None)
    spans = _intervals(events, datetime.now(UTC).timestamp())
    kinds: dict[int, list[str]] = {}
    for event in events:
        if user_id is None or event["user_id"] == user_id:
            kinds.setdefault(int(event["session_id"]), []).append(event["kind"])
    ids = sorted({int(e["session_id"]) for e in events}, reverse=True)[:limit]
    if not ids:
        return []
    rows = await db.aquery(
        "SELECT s.id, s.token, s.user_id AS owner_id, u.name AS owner, s.game_id, COALESCE(g.title, 'Treazr Demo')"
        " AS title, g.platform, s.core, s.started_from, s.started_at, s.ended_at, s.end_reason FROM play_sessions s"
        " LEFT JOIN games g ON g.id = s.game_id LEFT JOIN users u ON u.id = s.user_id"
        f" WHERE s.id IN ({', '.join('?' * len(ids))}) ORDER BY s.id DESC", ids)
    for row in rows:
        mine = [span for (user, _g, session), found in spans.items() if session == row["id"]
                and (user_id is None or user == user_id) for span in found]
        row["seconds"] = round(_merged_seconds(mine), 1)
        row["events"] = kinds.get(row["id"], [])
    return rows


async def household(db: Database) -> list[dict[str, Any]]:
    """Admins' overview: each person's total play time, sessions and last game."""
    events = await _events(db, None, None)
    spans = _intervals(events, datetime.now(UTC).timestamp())
    per_user: dict[int, list[tuple[float, float]]] = {}
    sessions: dict[int, set[int]] = {}
    for (user, _game, session), found in spans.items():
        per_user.setdefault(user, []).extend(found)
        sessions.setdefault(user, set()).add(session)
    users = await db.aquery("SELECT id, name, role FROM users ORDER BY name COLLATE NOCASE")
    last = {int(r["user_id"]): r for r in await db.aquery(
        "SELECT e.user_id, e.at, COALESCE(g.title, 'Treazr Demo') AS title FROM play_events e"
        " LEFT JOIN games g ON g.id = e.game_id WHERE e.id IN (SELECT MAX(id) FROM play_events"
        " WHERE user_id IS NOT NULL GROUP BY user_id)")}
    return [{"user_id": u["id"], "name": u["name"], "role": u["role"],
             "seconds": round(_merged_seconds(per_user.get(u["id"], [])), 1),
             "sessions": len(sessions.get(u["id"], ())),
             "last_played": last[u["id"]]["at"] if u["id"] in last else None,
             "last_title": last[u["id"]]["title"] if u["id"] in last else None} for u in users]


async def games_played(db: Database, user_id: int) -> list[dict[str, Any]]:
    """Each game ``user_id`` played, with their time in it and its title, last played first."""
    stats = await play_stats(db, user_id)
    titles = {r["id"]: r for r in await db.aquery(
        f"SELECT id, title, platform FROM games WHERE id IN ({', '.join('?' * len(stats)) or 'NULL'})", list(stats))}
    return sorted(({"game_id": g, "title": titles[g]["title"] if g in titles else "Treazr Demo",
                    "platform": titles[g]["platform"] if g in titles else "demo", **s} for g, s in stats.items()),
                  key=lambda row: row["last_played"] or "", reverse=True)


async def last_session_starts(db: Database, user_id: int) -> dict[int, str]:
    """Game id -> when ``user_id`` last started a session of it (the library's "recently played" order)."""
    rows = await db.aquery("SELECT game_id, MAX(started_at) AS last_played FROM play_sessions WHERE user_id = ?"
                           " GROUP BY game_id", [user_id])
    return {int(row["game_id"]): str(row["last_played"]) for row in rows}


async def continue_row(db: Database, viewer: HasRole, *, playable: Collection[str], thumbnails: Path,
                       limit: int = 12) -> list[Row]:
    """The games ``viewer`` played last (that they may still see), newest first, marking those with a
    Continue state (slot 0)."""
    where, params = visible_sql(viewer)
    rows = await db.aquery(
        f"SELECT {CARD_COLUMNS}, p.last_played,"
        " EXISTS (SELECT 1 FROM save_states s WHERE s.user_id = ? AND s.game_id = g.id AND s.slot = 0) AS has_continue"
        " FROM (SELECT game_id, MAX(at) AS last_played FROM play_events WHERE user_id = ? AND game_id > 0"
        "       GROUP BY game_id) p JOIN games g ON g.id = p.game_id"
        f" WHERE {where} ORDER BY p.last_played DESC LIMIT ?",
        [viewer.user_id, viewer.user_id, viewer.user_id, *params, limit])
    for row in rows:
        row["has_continue"] = bool(row["has_continue"])
    return await cards(rows, playable, thumbnails)
