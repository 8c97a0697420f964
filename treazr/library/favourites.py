"""Favourites: each person's own star on a game (a child stars only the games they may see; the caller
checks that with :func:`treazr.library.browse.visible_game`)."""

from __future__ import annotations

from datetime import UTC, datetime

from treazr.db import Database

__all__ = ["add_favourite", "is_favourite", "remove_favourite"]


async def add_favourite(db: Database, user_id: int, game_id: int) -> None:
    await db.aexecute("INSERT OR IGNORE INTO favourites (user_id, game_id, created_at) VALUES (?, ?, ?)",
                      [user_id, game_id, datetime.now(UTC).isoformat(timespec="seconds")])


async def remove_favourite(db: Database, user_id: int, game_id: int) -> None:
    await db.aexecute("DELETE FROM favourites WHERE user_id = ? AND game_id = ?", [user_id, game_id])


async def is_favourite(db: Database, user_id: int, game_id: int) -> bool:
    row = await db.aquery_one("SELECT 1 AS yes FROM favourites WHERE user_id = ? AND game_id = ?", [user_id, game_id])
    return row is not None
