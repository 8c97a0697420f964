"""The library's JSON API: games (filter, search, sort, pages), one game, covers, favourites, collections.

Who may do what: any signed-in user browses the games they may see (a child: the granted platforms
and collections only; a game they may not see answers 404, exactly like one that does not exist)
and stars their own favourites. Admins make collections and put games in them.
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from treazr.emulation.covers import make_cover_async
from treazr.errors import Conflict, InvalidInput, NotFound
from treazr.library import collections as library_collections
from treazr.library import favourites as library_favourites
from treazr.library.browse import platform_counts, visible_game
from treazr.library.covers import cover_file
from treazr.library.listing import GameQuery
from treazr.library.repository import acontent_file
from treazr.web.browse import continue_row, game_detail, list_games
from treazr.web.routes._common import services_of, user_and_services
from treazr.web.security import AuthUser, admin_only, current_user, members_only

__all__ = ["ROUTES", "visible_collections"]


@get("/api/games")
async def games(request: Request[Any, Any, State], platform: FromQuery[str | None] = None,
                q: FromQuery[str | None] = None, sort: FromQuery[str] = "title", page: FromQuery[int] = 1,
                per_page: FromQuery[int] = 48, favourites: FromQuery[bool] = False,
                collection: FromQuery[int | None] = None) -> dict[str, Any]:
    """Any signed-in user: one page of the games they may see (``q`` searches titles, ``sort`` is
    title, recent or added); ``covers_being_made`` tells the home grid to look again for new covers."""
    user, services = user_and_services(request)
    query = GameQuery(platform or None, q, sort, page, per_page, favourites, collection)
    return {**await list_games(services, user, query), "covers_being_made": services.cover_runs.busy}


@get("/api/games/{game_id:int}")
async def game(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user, for a game they may see: its details, files and the core that runs it."""
    user, services = user_and_services(request)
    return {"game": await game_detail(services, user, game_id)}


def _read_cover(game: dict[str, Any], data_root: Path, thumbnails: Path) -> tuple[str, bytes] | None:
    found = cover_file(game, data_root, thumbnails)
    return (found.name, found.read_bytes()) if found else None


@get("/api/games/{game_id:int}/cover")
async def cover(request: Request[Any, Any, State], game_id: FromPath[int]) -> Response[bytes]:
    """Any signed-in user, for a game they may see: its cover art, or the automatic screenshot."""
    user, services = user_and_services(request)
    game = await visible_game(services.db, user, game_id)
    found = await asyncio.to_thread(_read_cover, game, services.data.root, services.data.thumbnails)
    if found is None:
        raise NotFound("this game has no cover yet")
    name, picture = found
    media = mimetypes.guess_type(name)[0] or "image/png"
    return Response(picture, media_type=media, headers={"Cache-Control": "private, max-age=300"})


@post("/api/games/{game_id:int}/cover", guards=[members_only], status_code=200)
async def make_cover(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Admins and members, for a game they may see: take a new automatic screenshot for its cover."""
    user, services = user_and_services(request)
    detail = await game_detail(services, user, game_id)
    if not detail["playable"]:
        raise Conflict(f"no cover can be made: {detail['why_not_playable']}")
    content = await acontent_file(services.db, services.data.content, game_id)
    made = await make_cover_async(services, game_id, content.path,
                                  services.cores.require_core(detail["platform"]).path, requested_by=user.user_id)
    if made is None:
        raise Conflict("the game showed nothing but a blank screen, so no cover was made")
    return {"cover_url": f"/api/games/{game_id}/cover"}


@put("/api/games/{game_id:int}/favourite", status_code=200)
async def add_favourite(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user, for a game they may see: star it (their own favourites only)."""
    user, services = user_and_services(request)
    await visible_game(services.db, user, game_id)
    await library_favourites.add_favourite(services.db, user.user_id, game_id)
    return {"game_id": game_id, "favourite": True}


@delete("/api/games/{game_id:int}/favourite", status_code=200)
async def remove_favourite(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user: un-star a game (their own favourites only)."""
    user, services = user_and_services(request)
    await library_favourites.remove_favourite(services.db, user.user_id, game_id)
    return {"game_id": game_id, "favourite": False}


@get("/api/platforms")
async def platforms(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: the platforms with games they may see, and how many."""
    user, services = user_and_services(request)
    return {"platforms": await platform_counts(services.db, user)}


async def visible_collections(request: Request[Any, Any, State], user: AuthUser) -> list[dict[str, Any]]:
    """Every collection for adults; a child's granted ones only."""
    return await library_collections.visible_collections(services_of(request).db, user)


@get("/api/collections")
async def collections(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: the collections they may see (a child: the granted ones)."""
    return {"collections": await visible_collections(request, current_user(request))}


@post("/api/collections", guards=[admin_only], status_code=201)
async def create_collection(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Admins: make a collection (``name``, optional ``description`` and ``game_ids``)."""
    user, services = user_and_services(request)
    body = data if isinstance(data, dict) else {}
    name = library_collections.collection_name(body["name"] if isinstance(body.get("name"), str) else "")
    game_ids = body.get("game_ids") or []
    if not isinstance(game_ids, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in game_ids):
        raise InvalidInput("game_ids must be a list of game ids")
    description = str(body.get("description") or "")
    made = await library_collections.create_collection(services.db, name, description=description, game_ids=game_ids,
                                                       created_by=user.user_id)
    return {"collection": made}


@delete("/api/collections/{collection_id:int}", guards=[admin_only], status_code=200)
async def delete_collection(request: Request[Any, Any, State], collection_id: FromPath[int]) -> dict[str, Any]:
    """Admins: delete a collection (its games stay in the library; children lose that grant)."""
    await library_collections.delete_collection(services_of(request).db, collection_id)
    return {"deleted": collection_id}


@put("/api/collections/{collection_id:int}/games/{game_id:int}", guards=[admin_only], status_code=200)
async def add_to_collection(request: Request[Any, Any, State], collection_id: FromPath[int],
                            game_id: FromPath[int]) -> dict[str, Any]:
    """Admins: put a game in a collection."""
    await library_collections.add_to_collection(services_of(request).db, collection_id, game_id)
    return {"collection_id": collection_id, "game_id": game_id, "member": True}


@delete("/api/collections/{collection_id:int}/games/{game_id:int}", guards=[admin_only], status_code=200)
async def remove_from_collection(request: Request[Any, Any, State], collection_id: FromPath[int],
                                 game_id: FromPath[int]) -> dict[str, Any]:
    """Admins: take a game out of a collection."""
    await library_collections.remove_from_collection(services_of(request).db, collection_id, game_id)
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
