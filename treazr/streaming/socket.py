"""Serving one viewer's WebSocket: the versioned handshake, then input and commands until it goes.

The route has already checked who is asking; this module checks what they send. A malformed message
is counted and ignored; a command the viewer may not give is answered with an ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import time
from typing import Any

from litestar import WebSocket

from treazr.auth.sessions import AuthUser
from treazr.errors import TreazrError, as_disk_full
from treazr.saves.states import load_state, save_state
from treazr.streaming.manager import SessionManager
from treazr.streaming.protocol import (
    CLOSE_FULL,
    CLOSE_RELOAD,
    KIND_INPUT,
    PROTOCOL_VERSION,
    Hello,
    Malformed,
    control,
    parse_client_text,
    parse_hello,
    parse_input,
)
from treazr.streaming.sessions import PlayEvent, PlaySession
from treazr.streaming.viewers import Viewer

__all__ = ["HELLO_TIMEOUT_S", "serve_viewer"]

log = logging.getLogger("treazr.play")

HELLO_TIMEOUT_S = 10.0
AUDIO = {"codec": "opus", "sample_rate": 48000, "channels": 2}


class _Socket:
    """Litestar's WebSocket as a :class:`~treazr.streaming.viewers.ViewerSocket`."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket

    async def send_bytes(self, data: bytes) -> None:
        await self._socket.send_bytes(data)

    async def send_text(self, data: str) -> None:
        await self._socket.send_text(data)

    async def close(self, code: int, reason: str) -> None:
        await self._socket.close(code=code, reason=reason)


async def _hello(socket: WebSocket[Any, Any, Any]) -> Hello | None:
    try:
        message = await asyncio.wait_for(socket.receive(), HELLO_TIMEOUT_S)
    except TimeoutError:
        await socket.close(code=1008, reason="no hello")
        return None
    if message["type"] != "websocket.receive":
        return None
    try:
        hello = parse_hello(message.get("text") or "")
    except Malformed as error:
        await socket.send_text(control("error", code="protocol", message=str(error), reload=True))
        await socket.close(code=CLOSE_RELOAD, reason="bad hello")
        return None
    if hello.protocol != PROTOCOL_VERSION:
        await socket.send_text(control("error", code="protocol", reload=True, server_protocol=PROTOCOL_VERSION,
                                       message="Treazr was updated: reload the page to keep playing."))
        await socket.close(code=CLOSE_RELOAD, reason="protocol version")
        return None
    return hello


async def serve_viewer(manager: SessionManager, session: PlaySession, socket: WebSocket[Any, Any, Any],
                       user: AuthUser) -> None:
    """Run one viewer from its hello until its socket closes."""
    hello = await _hello(socket)
    if hello is None:
        return
    full = manager.no_room_for(session, user)
    if full:
        with contextlib.suppress(Exception):
            await socket.send_text(control("error", code="full", message=full, reload=True))
            await socket.close(code=CLOSE_FULL, reason="full")
        return
    viewer = Viewer(user_id=user.user_id, user_name=user.name, device_id=user.device_id,
                    sign_in_session=user.session_id, socket=_Socket(socket), metrics=session.metrics,
                    role=user.role, ports=session.ports.of(user.user_id), chroma444=hello.chroma444)
    switched = session.chroma == "444" and not hello.chroma444 and session.switch_to_420()
    if switched:
        # Everyone gets a stream this browser can decode: a new 4:2:0 stream, announced by a
        # video_config that every viewer receives before its IDR.
        log.info("session %s: %s cannot decode 4:4:4; switched to 4:2:0", session.info.id, user.name)
    viewer.push_control(control("welcome", protocol=PROTOCOL_VERSION, viewer=viewer.id, ports=viewer.ports,
                                control=session.may_control(user),
                                user_id=user.user_id, session=session.describe(),
                                video=None if switched else session.video_config,
                                audio=AUDIO, chat=list(session.chat.history)))
    await manager.join(session, viewer)
    try:
        await _receive_loop(manager, session, socket, viewer, user)
    finally:
        await manager.leave(session, viewer)


async def _receive_loop(manager: SessionManager, session: PlaySession, socket: WebSocket[Any, Any, Any],
                        viewer: Viewer, user: AuthUser) -> None:
    while not viewer.closed:
        message = await socket.receive()
        if message["type"] != "websocket.receive":
            return
        if viewer.role != user.role:  # an admin changed it since the socket opened
            user = dataclasses.replace(user, role=viewer.role)
        data = message.get("bytes")
        try:
            if data is not None:
                _input(session, viewer, data)
            else:
                await _command(manager, session, viewer, user, parse_client_text(message.get("text") or ""))
        except Malformed:
            viewer.counters.malformed += 1
            session.metrics.malformed.inc()


def _input(session: PlaySession, viewer: Viewer, data: bytes) -> None:
    if not data or data[0] != KIND_INPUT:
        raise Malformed("unknown binary message")
    message = parse_input(data)
    if viewer.check_input(message).accepted:
        session.apply_input(viewer, message.port, message.buttons, message.seq, message.axes)


async def _command(manager: SessionManager, session: PlaySession, viewer: Viewer, user: AuthUser,
                   message: dict[str, Any]) -> None:
    kind = message["type"]
    viewer.last_heard = time.monotonic()
    if kind not in ("ping", "keyframe"):
        viewer.last_active = viewer.last_heard
    if kind == "ping":
        viewer.push_control(control("pong", t=message["t"], frame_no=session.frame_no))
        for value in message.get("input_ms", [])[:64] if isinstance(message.get("input_ms"), list) else []:
            if isinstance(value, (int, float)) and 0 <= value < 10_000:
                session.metrics.client_input_latency_ms.observe(float(value))
        return
    if kind == "keyframe":
        viewer.needs_key = True
        session.request_keyframe()
        return
    if kind in ("chat", "free_port"):
        try:
            await _anyone_command(manager, session, user, kind, message)
        except TreazrError as error:
            viewer.push_control(control("error", code=type(error).__name__, message=str(error), command=kind))
        return
    if not session.may_control(user):
        viewer.push_control(control("error", code="forbidden",
                                    message="Only the player who started the game can do that."))
        return
    try:
        await _owner_command(manager, session, viewer, user, kind, message)
    except TreazrError as error:
        viewer.push_control(control("error", code=type(error).__name__, message=str(error), command=kind))
    except (OSError, sqlite3.Error) as error:
        full = as_disk_full(error)  # a full disk is the player's one clear message; anything else is a fault
        if full is None:
            raise
        viewer.push_control(control("error", code=type(full).__name__, message=str(full), command=kind))


async def _anyone_command(manager: SessionManager, session: PlaySession, user: AuthUser, kind: str,
                          message: dict[str, Any]) -> None:
    """Commands every viewer may give: chat, and giving up a port of one's own (the owner: any port)."""
    if kind == "chat":
        await manager.record(session, [session.chat_message(user, message["text"])])
    else:
        await manager.record(session, session.free_port(user, message["port"]))


async def _owner_command(manager: SessionManager, session: PlaySession, viewer: Viewer, user: AuthUser,
                         kind: str, message: dict[str, Any]) -> None:
    worker, info = session.worker, session.info
    if kind in ("pause", "resume"):
        session.hold(kind == "pause")
    elif kind == "reset":
        worker.reset()
        session.request_keyframe()
    elif kind == "save_state":
        state = await save_state(manager.services.db, manager.services.data, worker, info.owner_id, info.game_id,
                                 message["slot"])
        await manager.record(session, [PlayEvent("state_saved", user.user_id, user.device_id, {"slot": state.slot})])
        session.broadcast(control("saved", slot=state.slot, label=state.label, created_at=state.created_at))
    elif kind == "load_state":
        state = await load_state(manager.services.db, worker, info.owner_id, info.game_id, message["slot"])
        await manager.record(session, [PlayEvent("state_loaded", user.user_id, user.device_id, {"slot": state.slot})])
        session.request_keyframe()
        session.broadcast(control("loaded", slot=state.slot, label=state.label))
    elif kind == "end":
        manager.end_soon(session, f"ended by {user.name}")
    elif kind == "assign_port":
        await manager.record(session, session.assign_port(user, message["port"], message.get("user_id")))
    elif kind == "swap_ports":
        first, second = message["ports"]
        await manager.record(session, session.swap_ports(user, first, second))
