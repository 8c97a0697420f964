"""Live play: start, list and end play sessions, the player page, and the realtime WebSocket.

Who may do what: any signed-in user may start a game they may see (children: granted games only).
Anyone who may see a game may watch (join) its running sessions, as a spectator until the session's
owner or an admin gives them a controller port; only the owner (on any of their devices) or an admin
may control a session, assign its ports and end it. A session of a game someone may not see answers
404, exactly like one that does not exist.
"""

from __future__ import annotations

import contextlib
from typing import Any

from litestar import Request, WebSocket, get, post, websocket
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody
from litestar.response import Template

from treazr.auth.qr import qr_svg_data_url
from treazr.errors import InvalidInput, PermissionDenied, TreazrError
from treazr.streaming.manager import SessionManager
from treazr.streaming.protocol import CLOSE_NOT_FOUND, control
from treazr.streaming.sessions import PlaySession
from treazr.streaming.socket import serve_viewer
from treazr.web.security import AuthUser, current_user

__all__ = ["ROUTES", "may_control", "play_manager"]


def play_manager(app: Any) -> SessionManager:
    manager: SessionManager = app.state.play
    return manager


def may_control(user: AuthUser, session: PlaySession) -> bool:
    return session.may_control(user)


async def _visible_session(request: Request[Any, Any, State] | WebSocket[Any, Any, Any], token: str) -> PlaySession:
    """The session, when this user may watch it: anyone who may see its game (children: still granted it)."""
    manager = play_manager(request.app)
    session = manager.get(token)
    await manager.check_may_watch(current_user(request), session)
    return session


def _listed(session: PlaySession, user: AuthUser) -> dict[str, Any]:
    return {**session.describe(), "mine": session.info.owner_id == user.user_id,
            "may_control": may_control(user, session), "my_ports": session.ports.of(user.user_id)}


def _int_field(data: dict[str, Any], key: str, default: int | None) -> int | None:
    value = data.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{key} must be a whole number")
    return value


@post("/api/play/sessions", status_code=201)
async def start_session(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Any signed-in user, for a game they may see: start it (or rejoin their running session of it).

    Body: ``game_id`` (0 = the demo core), optional ``slot`` (a state to start from instead of
    Continue) and ``chroma`` ("444" when the browser decodes High 4:4:4, else "420").
    """
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object with game_id")
    game_id = _int_field(data, "game_id", None)
    if game_id is None or game_id < 0:
        raise InvalidInput("game_id is required")
    slot = _int_field(data, "slot", None)
    chroma = data.get("chroma", "444")
    if chroma not in ("444", "420"):
        raise InvalidInput("chroma must be '444' or '420'")
    session, created = await play_manager(request.app).start_session(current_user(request), game_id, slot=slot,
                                                                     chroma=chroma)
    return {"session": session.describe(), "created": created}


@get("/api/play/sessions")
async def list_sessions(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: the running sessions they may join (any game they may see), each saying
    whether it is theirs, whether they may control it and which ports they hold."""
    user = current_user(request)
    return {"sessions": [_listed(s, user) for s in await play_manager(request.app).joinable_by(user)]}


@get("/api/play/sessions/{token:str}")
async def get_session(request: Request[Any, Any, State], token: FromPath[str]) -> dict[str, Any]:
    """Anyone who may see the session's game: one running session."""
    return {"session": _listed(await _visible_session(request, token), current_user(request))}


@get("/api/play/sessions/{token:str}/share")
async def share_session(request: Request[Any, Any, State], token: FromPath[str]) -> dict[str, Any]:
    """Anyone who may see the session's game: the link to join it and its QR code (SVG data URL).

    The link is only an address: whoever opens it must be signed in and allowed to see the game.
    """
    session = await _visible_session(request, token)
    url = f"{str(request.base_url).rstrip('/')}/play/{session.info.token}"
    return {"url": url, "qr": qr_svg_data_url(url), "title": session.info.title}


@post("/api/play/sessions/{token:str}/end", status_code=200)
async def end_session(request: Request[Any, Any, State], token: FromPath[str]) -> dict[str, Any]:
    """The session's owner or an admin: end it (the Continue state is written first)."""
    session = await _visible_session(request, token)
    user = current_user(request)
    if not may_control(user, session):
        raise PermissionDenied("only the player who started the game (or an admin) can end it")
    warning = await play_manager(request.app).end(session, f"ended by {user.name}")
    return {"ended": token, "warning": warning}


@get("/play/game/{game_id:int}")
async def play_game_page(request: Request[Any, Any, State], game_id: FromPath[int]) -> Template:
    """Any signed-in user, for a game they may see: the player, which starts (or rejoins) the game."""
    user = current_user(request)
    await play_manager(request.app).check_may_play(user, game_id)
    return Template(template_name="play.html", context={"game_id": game_id, "token": "", "user": user.name})


@get("/play/{token:str}")
async def play_session_page(request: Request[Any, Any, State], token: FromPath[str]) -> Template:
    """Anyone who may see the session's game: the player for a running session (a reload rejoins it;
    others join it as spectators until the owner gives them a port)."""
    session = await _visible_session(request, token)
    return Template(template_name="play.html", context={"game_id": session.info.game_id, "token": token,
                                                         "user": current_user(request).name})


@websocket("/api/play/sessions/{token:str}/ws")
async def play_socket(socket: WebSocket[Any, Any, Any], token: FromPath[str]) -> None:
    """Anyone who may see the session's game: the realtime stream (video, audio, control, chat); input is
    applied only on the ports the person holds, and control commands only from the owner or an admin."""
    await socket.accept()
    try:
        session = await _visible_session(socket, token)
    except (TreazrError, PermissionDenied) as error:
        with contextlib.suppress(Exception):
            await socket.send_text(control("error", code="not_found", message=str(error)))
            await socket.close(code=CLOSE_NOT_FOUND, reason="not found")
        return
    await serve_viewer(play_manager(socket.app), session, socket, current_user(socket))


ROUTES: list[Any] = [start_session, list_sessions, get_session, share_session, end_session, play_game_page,
                     play_session_page, play_socket]
