"""What a child may see: the platforms and collections an admin granted them.

Admins and members see the whole library. A child sees a game when its platform is granted, or when
it belongs to a granted collection (``collection_games(collection_id, game_id)``, once that table
exists). Library queries add :func:`game_visibility_sql` to their WHERE clause; single lookups call
:func:`can_see_game`.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Protocol

from treazr.auth import audit
from treazr.auth.keys import rfc3339
from treazr.auth.users import get_user
from treazr.db import Database
from treazr.errors import InvalidInput

__all__ = ["HasRole", "can_see_game", "game_visibility_sql", "list_grants", "set_grants"]


class HasRole(Protocol):
    @property
    def user_id(self) -> int: ...

    @property
    def role(self) -> str: ...


def game_visibility_sql(user: HasRole, games_alias: str = "games", *,
                        with_collections: bool = True) -> tuple[str, list[Any]]:
    """A WHERE fragment (and its parameters) keeping only the games ``user`` may see.

    ``with_collections=False`` while no ``collection_games`` table exists.
    """
    if user.role != "child":
        return "1", []
    if not games_alias.isidentifier():
        raise ValueError(f"not a table alias: {games_alias!r}")
    sql = (f"({games_alias}.platform IN (SELECT g.platform FROM grants g "
           f"WHERE g.user_id = ? AND g.platform IS NOT NULL)")
    params: list[Any] = [user.user_id]
    if with_collections:
        sql += (f" OR {games_alias}.id IN (SELECT cg.game_id FROM collection_games cg "
                "JOIN grants g ON g.collection_id = cg.collection_id WHERE g.user_id = ?)")
        params.append(user.user_id)
    return sql + ")", params


async def _has_collections(db: Database) -> bool:
    row = await db.aquery_one("SELECT 1 AS yes FROM sqlite_master WHERE type = 'table' AND name = 'collection_games'")
    return row is not None


async def can_see_game(db: Database, user: HasRole, game_id: int) -> bool:
    """True when the game exists and ``user`` may see it."""
    where, params = game_visibility_sql(user, "games", with_collections=await _has_collections(db))
    row = await db.aquery_one(f"SELECT 1 AS yes FROM games WHERE games.id = ? AND {where}", [game_id, *params])
    return row is not None


def list_grants(conn: sqlite3.Connection, user_id: int) -> dict[str, list[Any]]:
    rows = conn.execute("SELECT platform, collection_id FROM grants WHERE user_id = ? ORDER BY id",
                        (user_id,)).fetchall()
    return {"platforms": [r["platform"] for r in rows if r["platform"] is not None],
            "collections": [r["collection_id"] for r in rows if r["collection_id"] is not None]}


def set_grants(conn: sqlite3.Connection, user_id: int, platforms: list[str], collections: list[int], *,
               actor_id: int | None = None, now: float | None = None) -> dict[str, list[Any]]:
    """Replace a child's grants with exactly these platforms and collections."""
    user = get_user(conn, user_id)
    if user["role"] != "child":
        raise InvalidInput(f"{user['name']} is not a child account; adults see the whole library")
    if not all(isinstance(p, str) and p.isascii() and p.replace("_", "").isalnum() for p in platforms):
        raise InvalidInput("platforms must be platform slugs such as 'nes' or 'snes'")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in collections):
        raise InvalidInput("collections must be collection ids")
    if collections and conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'collections'"
                                    ).fetchone():
        known = {r["id"] for r in conn.execute(
            f"SELECT id FROM collections WHERE id IN ({','.join('?' * len(collections))})", collections)}
        if missing := [c for c in collections if c not in known]:
            raise InvalidInput(f"there is no collection with id {missing[0]}")
    stamp = rfc3339(time.time() if now is None else now)
    conn.execute("DELETE FROM grants WHERE user_id = ?", (user_id,))
    conn.executemany("INSERT INTO grants (user_id, platform, created_at, created_by) VALUES (?,?,?,?)",
                     [(user_id, p, stamp, actor_id) for p in dict.fromkeys(platforms)])
    conn.executemany("INSERT INTO grants (user_id, collection_id, created_at, created_by) VALUES (?,?,?,?)",
                     [(user_id, c, stamp, actor_id) for c in dict.fromkeys(collections)])
    result = list_grants(conn, user_id)
    audit.record(conn, "grant_changed", user_id=user_id, actor_id=actor_id, detail=result, now=now)
    return result
