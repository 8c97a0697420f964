"""The library's JSON API: games (filter, search, sort, pages), one game, covers, favourites, collections.

Who may do what: any signed-in user browses the games they may see (a child: the granted platforms
and collections only; a game they may not see answers 404, exactly like one that does not exist)
and stars their own favourites. Admins make collections and put games in them.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from treazr.emulation.covers import cover_path, make_cover_async
from treazr.errors import Conflict, InvalidInput, NotFound
from treazr.web.browse import GameQuery, continue_row, game_detail, list_games, platform_counts, visible_or_404
from treazr.web.routes._common import services_of, user_and_services
from treazr.web.security import AuthUser, admin_only, current_user, members_only

__all__ = ["ROUTES", "visible_collections"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@get("/api/games")
async def games(request: Request[Any, Any, State], platform: FromQuery[str | None] = None,
                q: FromQuery[str | None] = None, sort: FromQuery[str] = "title", page: FromQuery[int] = 1,
                per_page: FromQuery[int] = 48, favourites: FromQuery[bool] = False,
                collection: FromQuery[int | None] = None) -> dict[str, Any]:
    """Any signed-in user: one page of the games they may see (``q`` searches titles, ``sort`` is
    title, recent or added)."""
    user, services = user_and_services(request)
    query = GameQuery(platform or None, q, sort, page, per_page, favourites, collection)
    return await list_games(services, user, query)


@get("/api/games/{game_id:int}")
async def game(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user, for a game they may see: its details, files and the core that runs it."""
    user, services = user_and_services(request)
    return {"game": await game_detail(services, user, game_id)}


def _cover_file(request: Request[Any, Any, State], game: dict[str, Any]) -> Path | None:
    services = services_of(request)
    if game.get("cover_path"):
        art = Path(game["cover_path"])
        art = art if art.is_absolute() else services.data.root / art
        if art.is_file():
            return art
    shot = cover_path(services, int(game["id"]))
    return shot if shot.is_file() else None


@get("/api/games/{game_id:int}/cover")
async def cover(request: Request[Any, Any, State], game_id: FromPath[int]) -> Response[bytes]:
    """Any signed-in user, for a game they may see: its cover art, or the automatic screenshot."""
    user, services = user_and_services(request)
    found = _cover_file(request, await visible_or_404(services.db, user, game_id))
    if found is None:
        raise NotFound("this game has no cover yet")
    media = mimetypes.guess_type(found.name)[0] or "image/png"
    return Response(found.read_bytes(), media_type=media, headers={"Cache-Control": "private, max-age=300"})


@post("/api/games/{game_id:int}/cover", guards=[members_only], status_code=200)
async def make_cover(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Admins and members, for a game they may see: take a new automatic screenshot for its cover."""
    user, services = user_and_services(request)
    await visible_or_404(services.db, user, game_id)
    detail = await game_detail(services, user, game_id)
    if not detail["playable"]:
        raise Conflict(f"no cover can be made: {detail['why_not_playable']}")
    present = next(f for f in detail["files"] if not f["missing"])
    content = (services.data.content / present["store_path"]) if present["store_path"] else Path(
        present["container"] or present["path"])
    made = await make_cover_async(services, game_id, content, services.cores.require_core(detail["platform"]).path)
    if made is None:
        raise Conflict("the game showed nothing but a blank screen, so no cover was made")
    return {"cover_url": f"/api/games/{game_id}/cover"}


@put("/api/games/{game_id:int}/favourite", status_code=200)
async def add_favourite(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user, for a game they may see: star it (their own favourites only)."""
    user, services = user_and_services(request)
    await visible_or_404(services.db, user, game_id)
    await services.db.aexecute("INSERT OR IGNORE INTO favourites (user_id, game_id, created_at) VALUES (?, ?, ?)",
                               [user.user_id, game_id, _now()])
    return {"game_id": game_id, "favourite": True}


@delete("/api/games/{game_id:int}/favourite", status_code=200)
async def remove_favourite(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user: un-star a game (their own favourites only)."""
    user, services = user_and_services(request)
    await services.db.aexecute("DELETE FROM favourites WHERE user_id = ? AND game_id = ?", [user.user_id, game_id])
    return {"game_id": game_id, "favourite": False}


@get("/api/platforms")
async def platforms(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: the platforms with games they may see, and how many."""
    user, services = user_and_services(request)
    return {"platforms": await platform_counts(services.db, user)}


async def visible_collections(request: Request[Any, Any, State], user: AuthUser) -> list[dict[str, Any]]:
    """Every collection for adults; a child's granted ones only."""
    db = services_of(request).db
    where, params = ("", []) if user.role != "child" else (
        "WHERE c.id IN (SELECT collection_id FROM grants WHERE user_id = ? AND collection_id IS NOT NULL)",
        [user.user_id])
    return await db.aquery(f"SELECT c.id, c.name, c.description, c.created_at, (SELECT COUNT(*) FROM collection_games"
                           f" cg WHERE cg.collection_id = c.id) AS games FROM collections c {where}"
                           " ORDER BY c.name COLLATE NOCASE", params)


@get("/api/collections")
async def collections(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: the collections they may see (a child: the granted ones)."""
    return {"collections": await visible_collections(request, current_user(request))}


@post("/api/collections", guards=[admin_only], status_code=201)
async def create_collection(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Admins: make a collection (``name``, optional ``description`` and ``game_ids``)."""
    user, services = user_and_services(request)
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip() or len(name) > 80:
        raise InvalidInput("a collection needs a name of 1 to 80 characters")
    description = str(data.get("description") or "")[:500]
    game_ids = data.get("game_ids") or []
    if not isinstance(game_ids, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in game_ids):
        raise InvalidInput("game_ids must be a list of game ids")

    def write(conn: Any) -> int:
        if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name.strip(),)).fetchone():
            raise Conflict(f"there is already a collection called {name.strip()!r}")
        cid = int(conn.execute("INSERT INTO collections (name, description, created_by, created_at) VALUES (?,?,?,?)",
                               (name.strip(), description, user.user_id, _now())).lastrowid or 0)
        _add_games(conn, cid, game_ids)
        return cid

    cid = await services.db.write_async(write)
    return {"collection": {"id": cid, "name": name.strip(), "description": description, "games": len(set(game_ids))}}


def _add_games(conn: Any, collection_id: int, game_ids: list[int]) -> None:
    known = {r["id"] for r in conn.execute(
        f"SELECT id FROM games WHERE id IN ({', '.join('?' * len(game_ids))})", game_ids)} if game_ids else set()
    unknown = sorted(set(game_ids) - known)
    if unknown:
        raise NotFound(f"there is no game {unknown[0]}")
    conn.executemany("INSERT OR IGNORE INTO collection_games (collection_id, game_id, added_at) VALUES (?, ?, ?)",
                     [(collection_id, g, _now()) for g in dict.fromkeys(game_ids)])


async def _collection_or_404(request: Request[Any, Any, State], collection_id: int) -> None:
    row = await services_of(request).db.aquery_one("SELECT id FROM collections WHERE id = ?", [collection_id])
    if row is None:
        raise NotFound(f"there is no collection {collection_id}")


@delete("/api/collections/{collection_id:int}", guards=[admin_only], status_code=200)
async def delete_collection(request: Request[Any, Any, State], collection_id: FromPath[int]) -> dict[str, Any]:
    """Admins: delete a collection (its games stay in the library; children lose that grant)."""
    await _collection_or_404(request, collection_id)

    def write(conn: Any) -> None:
        conn.execute("DELETE FROM grants WHERE collection_id = ?", (collection_id,))
        conn.execute("DELETE FROM collection_games WHERE collection_id = ?", (collection_id,))
        conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))

    await services_of(request).db.write_async(write)
    return {"deleted": collection_id}


@put("/api/collections/{collection_id:int}/games/{game_id:int}", guards=[admin_only], status_code=200)
async def add_to_collection(request: Request[Any, Any, State], collection_id: FromPath[int],
                            game_id: FromPath[int]) -> dict[str, Any]:
    """Admins: put a game in a collection."""
    await _collection_or_404(request, collection_id)
    await services_of(request).db.write_async(lambda conn: _add_games(conn, collection_id, [game_id]))
    return {"collection_id": collection_id, "game_id": game_id, "member": True}


@delete("/api/collections/{collection_id:int}/games/{game_id:int}", guards=[admin_only], status_code=200)
async def remove_from_collection(request: Request[Any, Any, State], collection_id: FromPath[int],
                                 game_id: FromPath[int]) -> dict[str, Any]:
    """Admins: take a game out of a collection."""
    await _collection_or_404(request, collection_id)
    await services_of(request).db.aexecute("DELETE FROM collection_games WHERE collection_id = ? AND game_id = ?",
                                           [collection_id, game_id])
    return {"collection_id": collection_id, "game_id": game_id, "member": False}


@get("/api/home")
async def home(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: what their home screen shows besides the grid (Continue, sessions, filters)."""
    from treazr.web.routes.pages import running_sessions

    user, services = user_and_services(request)
    return {"continue": await continue_row(services, user), "sessions": await running_sessions(request, user),
            "platforms": await platform_counts(services.db, user),
            "collections": await visible_collections(request, user)}


ROUTES: list[Any] = [games, game, cover, make_cover, add_favourite, remove_favourite, platforms, collections,
                     create_collection, delete_collection, add_to_collection, remove_from_collection, home]
