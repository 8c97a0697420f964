"""Your save RAM and save states for one game: list, thumbnails, download, delete, and ``.srm`` upload.

Who may do what: every route works on the signed-in user's own files only (the user id comes from the
session, never from the request), for a game they may see; someone else's state is simply not there
(404). Children may look at and download their saves but not delete or replace them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from litestar import Request, Response, delete, get, put
from litestar.datastructures import State
from litestar.params import FromPath

from treazr.errors import Conflict, InvalidContent, NotFound
from treazr.saves.save_ram import MAX_SAVE_RAM, delete_save_ram, import_srm, read_save_ram, save_ram_info
from treazr.saves.states import CONTINUE_SLOT, StateInfo, delete_state, get_state, list_states
from treazr.services import Services
from treazr.web.browse import visible_or_404
from treazr.web.playtime import play_stats
from treazr.web.routes._common import attachment, user_and_services
from treazr.web.routes.play import play_manager
from treazr.web.security import AuthUser, members_only

__all__ = ["ROUTES", "my_saves"]


def _state_json(game_id: int, state: StateInfo, has_thumbnail: bool) -> dict[str, Any]:
    base = f"/api/games/{game_id}/states/{state.slot}"
    return {"slot": state.slot, "label": state.label, "size": state.size, "frame_no": state.frame_no,
            "core_name": state.core_name, "core_version": state.core_version, "created_at": state.created_at,
            "thumbnail_url": f"{base}/thumbnail" if has_thumbnail else None, "download_url": f"{base}/download"}


async def my_saves(services: Services, user: AuthUser, game_id: int) -> dict[str, Any]:
    """The user's states, save RAM, play time and last played for one game."""
    found = await list_states(services.db, user.user_id, game_id)
    thumbnails = await asyncio.to_thread(lambda: [s.thumbnail is not None and Path(s.thumbnail).is_file()
                                                  for s in found])
    states = [_state_json(game_id, s, has) for s, has in zip(found, thumbnails, strict=True)]
    srm = await save_ram_info(services.db, services.data, user.user_id, game_id)
    stats = (await play_stats(services.db, user.user_id, game_id)).get(game_id, {})
    return {"states": states, "continue": next((s for s in states if s["slot"] == CONTINUE_SLOT), None),
            "save_ram": {"size": srm["size"], "updated_at": srm["updated_at"], "sha256": srm["sha256"],
                         "download_url": f"/api/games/{game_id}/srm"} if srm else None,
            "play_seconds": stats.get("seconds", 0.0), "last_played": stats.get("last_played")}


@get("/api/games/{game_id:int}/saves")
async def saves(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user, for a game they may see: their own states, save RAM and play time."""
    user, services = user_and_services(request)
    await visible_or_404(services.db, user, game_id)
    return await my_saves(services, user, game_id)


async def _my_state(request: Request[Any, Any, State], game_id: int, slot: int) -> StateInfo:
    user, services = user_and_services(request)
    await visible_or_404(services.db, user, game_id)
    return await get_state(services.db, user.user_id, game_id, slot)


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFound("this file is gone") from None


@get("/api/games/{game_id:int}/states/{slot:int}/thumbnail")
async def state_thumbnail(request: Request[Any, Any, State], game_id: FromPath[int],
                          slot: FromPath[int]) -> Response[bytes]:
    """Any signed-in user: the screenshot of one of their own states."""
    state = await _my_state(request, game_id, slot)
    if not state.thumbnail:
        raise NotFound("this state has no picture")
    return Response(await asyncio.to_thread(_read, state.thumbnail), media_type="image/png",
                    headers={"Cache-Control": "private, no-cache"})


@get("/api/games/{game_id:int}/states/{slot:int}/download")
async def state_download(request: Request[Any, Any, State], game_id: FromPath[int],
                         slot: FromPath[int]) -> Response[bytes]:
    """Any signed-in user: download one of their own state files (RetroArch-style ``.state``)."""
    state = await _my_state(request, game_id, slot)
    name = f"game{game_id}-{'continue' if slot == CONTINUE_SLOT else f'slot{slot}'}.state"
    return Response(await asyncio.to_thread(_read, state.path), media_type="application/octet-stream",
                    headers=attachment(name))


@delete("/api/games/{game_id:int}/states/{slot:int}", guards=[members_only], status_code=200)
async def state_delete(request: Request[Any, Any, State], game_id: FromPath[int],
                       slot: FromPath[int]) -> dict[str, Any]:
    """Admins and members: delete one of their own states (children cannot delete)."""
    user, services = user_and_services(request)
    await _my_state(request, game_id, slot)
    await delete_state(services.db, user.user_id, game_id, slot)
    return {"deleted": slot}


@get("/api/games/{game_id:int}/srm")
async def srm_download(request: Request[Any, Any, State], game_id: FromPath[int]) -> Response[bytes]:
    """Any signed-in user: their own battery save for a game, as a RetroArch ``.srm``."""
    user, services = user_and_services(request)
    game = await visible_or_404(services.db, user, game_id)
    data = await asyncio.to_thread(read_save_ram, services.data, user.user_id, game_id)
    if data is None:
        raise NotFound("there is no save for this game yet")
    title = "".join("_" if ch in '/\\' or not ch.isprintable() else ch for ch in game["title"]).strip()
    return Response(data, media_type="application/octet-stream", headers=attachment(f"{title or f'game{game_id}'}.srm"))


@put("/api/games/{game_id:int}/srm", guards=[members_only], status_code=200,
     request_max_body_size=MAX_SAVE_RAM + 1)
async def srm_upload(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Admins and members: replace their own battery save with a RetroArch ``.srm`` (the raw body)."""
    user, services = user_and_services(request)
    await visible_or_404(services.db, user, game_id)
    _refuse_while_running(request, user, game_id, "its next save would overwrite the upload")
    body = await request.body()
    if not body:
        raise InvalidContent("the save file is empty")
    await import_srm(services.db, services.data, user.user_id, game_id, body)
    return await my_saves(services, user, game_id)


@delete("/api/games/{game_id:int}/srm", guards=[members_only], status_code=200)
async def srm_delete(request: Request[Any, Any, State], game_id: FromPath[int]) -> dict[str, Any]:
    """Admins and members: remove their own battery save (children cannot); the game then starts empty."""
    user, services = user_and_services(request)
    await visible_or_404(services.db, user, game_id)
    _refuse_while_running(request, user, game_id, "it would write its save again")
    await delete_save_ram(services.db, services.data, user.user_id, game_id)
    return await my_saves(services, user, game_id)


def _refuse_while_running(request: Request[Any, Any, State], user: AuthUser, game_id: int, why: str) -> None:
    running = [s for s in play_manager(request.app).visible_to(user)
               if s.info.owner_id == user.user_id and s.info.game_id == game_id]
    if running:
        raise Conflict(f"this game is running; end it first, or {why}")


ROUTES: list[Any] = [saves, state_thumbnail, state_download, state_delete, srm_download, srm_upload, srm_delete]
