"""Collections: lists of games made by admins, shown on the home page and granted to children
(``grants.collection_id``).

Nothing references ``games`` with a foreign key that could cascade: a game that leaves the library keeps
its rows until an admin edits the collection. Deleting a collection takes its grants with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from treazr.auth.grants import HasRole
from treazr.db import Database, Row
from treazr.errors import Conflict, InvalidInput, NotFound

__all__ = ["add_to_collection", "collection_name", "create_collection", "delete_collection", "game_collections",
           "remove_from_collection", "require_collection", "visible_collections"]

NAME_MAX = 80
DESCRIPTION_MAX = 500


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def collection_name(text: str) -> str:
    """``text`` as a collection's name (trimmed), or InvalidInput."""
    if not text.strip() or len(text) > NAME_MAX:
        raise InvalidInput(f"a collection needs a name of 1 to {NAME_MAX} characters")
    return text.strip()


async def visible_collections(db: Database, viewer: HasRole) -> list[Row]:
    """Every collection for adults; a child's granted ones only. With how many games each holds."""
    where, params = ("", []) if viewer.role != "child" else (
        "WHERE c.id IN (SELECT collection_id FROM grants WHERE user_id = ? AND collection_id IS NOT NULL)",
        [viewer.user_id])
    return await db.aquery(f"SELECT c.id, c.name, c.description, c.created_at, (SELECT COUNT(*) FROM collection_games"
                           f" cg WHERE cg.collection_id = c.id) AS games FROM collections c {where}"
                           " ORDER BY c.name COLLATE NOCASE", params)


async def game_collections(db: Database, game_id: int) -> list[Row]:
    """The collections ``game_id`` is in, by name."""
    return await db.aquery("SELECT c.id, c.name FROM collections c JOIN collection_games cg ON cg.collection_id = c.id"
                           " WHERE cg.game_id = ? ORDER BY c.name", [game_id])


async def require_collection(db: Database, collection_id: int) -> None:
    """NotFound unless the collection exists."""
    if await db.aquery_one("SELECT id FROM collections WHERE id = ?", [collection_id]) is None:
        raise NotFound(f"there is no collection {collection_id}")


def _add_games(conn: sqlite3.Connection, collection_id: int, game_ids: Sequence[int]) -> None:
    known = {row["id"] for row in conn.execute(
        f"SELECT id FROM games WHERE id IN ({', '.join('?' * len(game_ids))})", game_ids)} if game_ids else set()
    unknown = sorted(set(game_ids) - known)
    if unknown:
        raise NotFound(f"there is no game {unknown[0]}")
    conn.executemany("INSERT OR IGNORE INTO collection_games (collection_id, game_id, added_at) VALUES (?, ?, ?)",
                     [(collection_id, game, _now()) for game in dict.fromkeys(game_ids)])


async def create_collection(db: Database, name: str, *, description: str = "", game_ids: Sequence[int] = (),
                            created_by: int | None = None) -> Row:
    """A new collection holding ``game_ids``; Conflict when the name is taken (in any case)."""
    name, description = collection_name(name), description[:DESCRIPTION_MAX]

    def write(conn: sqlite3.Connection) -> int:
        if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
            raise Conflict(f"there is already a collection called {name!r}")
        cursor = conn.execute("INSERT INTO collections (name, description, created_by, created_at) VALUES (?,?,?,?)",
                              (name, description, created_by, _now()))
        _add_games(conn, int(cursor.lastrowid or 0), game_ids)
        return int(cursor.lastrowid or 0)

    collection_id = await db.write_async(write)
    return {"id": collection_id, "name": name, "description": description, "games": len(set(game_ids))}


async def delete_collection(db: Database, collection_id: int) -> None:
    """Delete a collection and the grants of it (its games stay in the library)."""
    await require_collection(db, collection_id)

    def write(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM grants WHERE collection_id = ?", (collection_id,))
        conn.execute("DELETE FROM collection_games WHERE collection_id = ?", (collection_id,))
        conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))

    await db.write_async(write)


async def add_to_collection(db: Database, collection_id: int, game_id: int) -> None:
    await require_collection(db, collection_id)
    await db.write_async(lambda conn: _add_games(conn, collection_id, [game_id]))


async def remove_from_collection(db: Database, collection_id: int, game_id: int) -> None:
    await require_collection(db, collection_id)
    await db.aexecute("DELETE FROM collection_games WHERE collection_id = ? AND game_id = ?", [collection_id, game_id])
