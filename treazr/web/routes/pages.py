"""Pages rendered on the server: the home screen (the library) and a game's page.

The home grid's first page is rendered here, so it shows without waiting for script; ``home.js``
then takes over filtering, searching, sorting and paging through the JSON API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from treazr.errors import InvalidInput, NotFound
from treazr.library.browse import platform_counts
from treazr.library.listing import SORTS, GameQuery
from treazr.library.platforms import PLATFORMS
from treazr.services import Services
from treazr.streaming.manager import DEMO_GAME_ID
from treazr.web.browse import continue_row, game_detail, list_games
from treazr.web.routes._common import error_page, iso_time, services_of, user_and_services
from treazr.web.routes.library import visible_collections
from treazr.web.routes.play import play_manager
from treazr.web.routes.saves import my_saves
from treazr.web.security import AuthUser, current_user

__all__ = ["ROUTES", "ended_while_away", "running_sessions"]


async def running_sessions(request: Request[Any, Any, State], user: AuthUser) -> list[dict[str, Any]]:
    """Games running in the house: who plays what (a child only sees games they may see). Everyone who
    sees a session may join it (issue 9: as a spectator until its owner gives them a port); ``mine``
    marks one's own (rejoin)."""
    from treazr.auth.grants import can_see_game

    services: Services = services_of(request)
    out = []
    for session in play_manager(request.app).sessions.values():
        if session.ended.is_set():
            continue
        info = session.info
        if user.role == "child" and info.owner_id != user.user_id and info.game_id != DEMO_GAME_ID and not (
                await can_see_game(services.db, user, info.game_id)):
            continue
        mine = info.owner_id == user.user_id
        out.append({"title": info.title, "platform": info.platform, "game_id": info.game_id, "owner": info.owner_name,
                    "viewers": len(session.viewers), "started_at": iso_time(info.started_at),
                    "url": f"/play/{info.token}", "mine": mine, "asleep": session.asleep})
    return out


def ended_while_away(request: Request[Any, Any, State], user: AuthUser) -> list[dict[str, Any]]:
    """This person's games that were saved and ended while nobody watched them (newest first)."""
    return [{"game_id": e.game_id, "title": e.title, "message": e.message(), "at": iso_time(e.at),
             "url": f"/play/game/{e.game_id}"}
            for e in play_manager(request.app).away.of(user.user_id)]


@get("/", opt={"public": True})
async def home_page(request: Request[Any, Any, State], platform: FromQuery[str | None] = None,
                    q: FromQuery[str | None] = None, sort: FromQuery[str] = "title", page: FromQuery[int] = 1,
                    favourites: FromQuery[bool] = False, collection: FromQuery[int | None] = None) -> Template:
    """Anyone: the home screen for a signed-in user (the library); a welcome and sign-in link otherwise."""
    user = request.scope.get("user")
    if not isinstance(user, AuthUser):
        return Template(template_name="start.html")
    services = services_of(request)
    try:
        query = GameQuery(platform or None, q, sort if sort in SORTS else "title", max(page, 1), 48, favourites,
                          collection)
    except InvalidInput:
        query = GameQuery()
    listing, continuing, living, platforms, collections = await asyncio.gather(
        list_games(services, user, query), continue_row(services, user), _living_room(request, user),
        platform_counts(services.db, user), visible_collections(request, user))
    return Template(template_name="home.html", context={
        "me": user, "nav": "home", "listing": listing, "query": query, "sorts": SORTS, "continue_row": continuing,
        **living, "platforms": platforms, "collections": collections,
        "demo_playable": services.cores.core_for("demo") is not None})


async def _living_room(request: Request[Any, Any, State], user: AuthUser) -> dict[str, Any]:
    return {"sessions": await running_sessions(request, user), "away": ended_while_away(request, user),
            "idle_minutes": f"{services_of(request).settings.emulation.idle_timeout_min:g}"}


@get("/home/running")
async def living_room(request: Request[Any, Any, State]) -> Template:
    """Any signed-in user: the home page's "While you were away" and "Playing now" sections again, so the
    page keeps them current (a game just left shows as paused a moment after the page loaded)."""
    return Template(template_name="_running.html", context=await _living_room(request, current_user(request)))


@get("/games/{game_id:int}")
async def game_page(request: Request[Any, Any, State], game_id: FromPath[int]) -> Template:
    """Any signed-in user, for a game they may see: its page (details, files, core, your saves, Play)."""
    user, services = user_and_services(request)
    try:
        game = await game_detail(services, user, game_id)  # first: NotFound before anything of the user's is read
    except NotFound as error:
        return error_page(request, error)
    saves, collections = await asyncio.gather(
        my_saves(services, user, game_id),
        visible_collections(request, user) if user.is_admin else _nothing())
    return Template(template_name="game.html", context={
        "me": user, "nav": "home", "game": game, "saves": saves, "all_collections": collections,
        "platforms": PLATFORMS})


async def _nothing() -> list[dict[str, Any]]:
    return []


ROUTES: list[Any] = [home_page, living_room, game_page]
