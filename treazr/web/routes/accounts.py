"""Account management routes: your own devices and invites, the admin's users, grants and audit log.

Members and children manage only their own devices: another user's device id answers 404, exactly
like one that does not exist. Everything about other users is admin-only.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from treazr.auth import audit, grants, users
from treazr.auth.invites import issue_invite
from treazr.auth.qr import qr_svg_data_url
from treazr.auth.tls import lan_addresses
from treazr.db import Database
from treazr.errors import InvalidInput
from treazr.streaming.rights import recheck_viewers
from treazr.web.routes.auth_pages import PAGE_ROUTES
from treazr.web.security import AuthUser, admin_only, auth_runtime, client_address, current_user, request_origin

__all__ = ["ACCOUNT_ROUTES", "share_base"]


def share_base(origin: str) -> str:
    """The origin to put in a link for another device: a loopback host is swapped for a LAN address."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    lan = sorted((a for a in lan_addresses() if a.version == 4), key=str)
    if not loopback or not lan:
        return origin
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{lan[0]}{port}"


# The account functions take a sqlite3 connection so the CLI and the web share them; the few reads here
# (device and user lists, the audit log) run on the writer thread too, which costs a queue hop, not a lock.
def _db(request: Request[Any, Any, State]) -> Database:
    db: Database = request.app.state.services.db
    return db


def _publish(request: Request[Any, Any, State], ended: set[int]) -> None:
    request.app.state.services.revocations.publish(ended)


async def _invite(request: Request[Any, Any, State], user_id: int, actor: AuthUser) -> dict[str, Any]:
    runtime = auth_runtime(request.app)
    address = client_address(request.scope, runtime)
    invite = await _db(request).write_async(lambda conn: issue_invite(
        conn, user_id, runtime.settings.auth.invite_ttl_hours, actor_id=actor.user_id, address=address,
        keep=runtime.settings.auth.invites_per_user))
    url = invite.url(share_base(request_origin(request.scope, runtime)))
    return {"user": {"id": invite.user_id, "name": invite.user_name, "role": invite.role}, "url": url,
            "qr_svg": qr_svg_data_url(url), "expires_at": invite.expires_at}


def _own_devices(conn: sqlite3.Connection, user: AuthUser) -> list[dict[str, Any]]:
    rows = users.device_rows(conn, user.user_id)
    return [{**row, "this_device": row["id"] == user.device_id} for row in rows]


@get("/api/me/devices")
async def my_devices(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: their own devices (never anyone else's)."""
    user = current_user(request)
    return {"devices": await _db(request).write_async(lambda conn: _own_devices(conn, user))}


@post("/api/me/devices/{device_id:int}/revoke", status_code=200)
async def revoke_my_device(request: Request[Any, Any, State], device_id: FromPath[int]) -> dict[str, Any]:
    """Any signed-in user: revoke one of their own devices (another user's device is 404)."""
    user = current_user(request)
    address = client_address(request.scope, auth_runtime(request.app))
    ended = await _db(request).write_async(lambda conn: users.revoke_device(
        conn, device_id, owner_id=user.user_id, actor_id=user.user_id, address=address))
    _publish(request, ended)
    return {"revoked": device_id, "ended_sessions": len(ended)}


@post("/api/me/invites", status_code=201)
async def invite_my_device(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: a one-time link (and QR code) to add another device of their own."""
    user = current_user(request)
    return await _invite(request, user.user_id, user)


@get("/api/admin/users", guards=[admin_only])
async def admin_users(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Admins: every user with their devices and a child's grants."""
    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        listed = users.list_users(conn)
        for user in listed:
            user["grants"] = grants.list_grants(conn, user["id"]) if user["role"] == "child" else None
        return listed

    return {"users": await _db(request).write_async(read)}


@post("/api/admin/users", guards=[admin_only], status_code=201)
async def admin_add_user(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Admins: add a family member (name, role) and get their first invite link."""
    actor = current_user(request)
    if not isinstance(data, dict):
        raise InvalidInput("send a JSON object with name and role")
    name, role = data.get("name"), data.get("role", "member")
    user = await _db(request).write_async(lambda conn: users.create_user(
        conn, name, role, actor_id=actor.user_id))  # type: ignore[arg-type]
    return await _invite(request, user["id"], actor)


@put("/api/admin/users/{user_id:int}/role", guards=[admin_only])
async def admin_set_role(request: Request[Any, Any, State], user_id: FromPath[int],
                         data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Admins: make a user an admin, a member or a child (the last admin cannot step down)."""
    actor = current_user(request)
    if not isinstance(data, dict) or not isinstance(data.get("role"), str):
        raise InvalidInput("send a JSON object with the new role")
    user = await _db(request).write_async(lambda conn: users.set_role(
        conn, user_id, data["role"], actor_id=actor.user_id))
    await recheck_viewers(request.app.state.play, {user_id})  # their open games follow at once
    return {"user": user}


@post("/api/admin/users/{user_id:int}/invites", guards=[admin_only], status_code=201)
async def admin_invite(request: Request[Any, Any, State], user_id: FromPath[int]) -> dict[str, Any]:
    """Admins: a new invite link for any user (a new device, or recovery)."""
    return await _invite(request, user_id, current_user(request))


@post("/api/admin/users/{user_id:int}/revoke", guards=[admin_only], status_code=200)
async def admin_revoke_user(request: Request[Any, Any, State], user_id: FromPath[int]) -> dict[str, Any]:
    """Admins: revoke every device and pending invite of a user (their saves stay)."""
    actor = current_user(request)
    ended = await _db(request).write_async(lambda conn: users.revoke_user(conn, user_id, actor_id=actor.user_id))
    _publish(request, ended)
    return {"revoked_user": user_id, "ended_sessions": len(ended)}


@post("/api/admin/devices/{device_id:int}/revoke", guards=[admin_only], status_code=200)
async def admin_revoke_device(request: Request[Any, Any, State], device_id: FromPath[int]) -> dict[str, Any]:
    """Admins: revoke any device and end its sessions at once."""
    actor = current_user(request)
    address = client_address(request.scope, auth_runtime(request.app))
    ended = await _db(request).write_async(lambda conn: users.revoke_device(
        conn, device_id, actor_id=actor.user_id, address=address))
    _publish(request, ended)
    return {"revoked": device_id, "ended_sessions": len(ended)}


@get("/api/admin/users/{user_id:int}/grants", guards=[admin_only])
async def admin_get_grants(request: Request[Any, Any, State], user_id: FromPath[int]) -> dict[str, Any]:
    """Admins: the platforms and collections a child may see."""
    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        users.get_user(conn, user_id)
        return grants.list_grants(conn, user_id)

    return await _db(request).write_async(read)


@put("/api/admin/users/{user_id:int}/grants", guards=[admin_only])
async def admin_set_grants(request: Request[Any, Any, State], user_id: FromPath[int],
                           data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Admins: replace a child's grants with ``{"platforms": [...], "collections": [...]}``."""
    actor = current_user(request)
    platforms, collections = data.get("platforms", []), data.get("collections", [])
    if not isinstance(platforms, list) or not isinstance(collections, list):
        raise InvalidInput("platforms and collections must be lists")
    granted = await _db(request).write_async(lambda conn: grants.set_grants(
        conn, user_id, platforms, collections, actor_id=actor.user_id))
    await recheck_viewers(request.app.state.play, {user_id})  # a game no longer granted closes at once
    return granted


@get("/api/admin/audit", guards=[admin_only])
async def admin_audit(request: Request[Any, Any, State], limit: FromQuery[int] = 100,
                      before: FromQuery[int | None] = None) -> dict[str, Any]:
    """Admins: the audit log, newest first (``before`` pages back by id)."""
    return {"entries": await _db(request).write_async(lambda conn: audit.recent(conn, limit, before))}


ACCOUNT_ROUTES: list[Any] = [
    my_devices, revoke_my_device, invite_my_device, admin_users, admin_add_user, admin_set_role, admin_invite,
    admin_revoke_user, admin_revoke_device, admin_get_grants, admin_set_grants, admin_audit, *PAGE_ROUTES,
]
