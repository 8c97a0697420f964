"""The sign-in protocol (challenge, verify, enroll, logout), ``/api/me`` and the account routes.

Protocol (``docs/design.md``): the browser asks for a challenge for its public key, signs the UTF-8
of ``treazr-auth-v1|<origin>|<challenge_id>|<nonce>`` with its Ed25519 key and sends the signature;
enrolment does the same and also spends an invite. Every failure answers with one generic message.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from treazr.auth import audit
from treazr.auth.invites import redeem_invite
from treazr.auth.keys import b64url, parse_public_key, parse_signature
from treazr.auth.sessions import end_session, start_session
from treazr.errors import AuthenticationError, InvalidInput
from treazr.web.routes.accounts import ACCOUNT_ROUTES
from treazr.web.security import (
    AuthRuntime,
    auth_runtime,
    client_address,
    current_user,
    request_origin,
    session_cookie_header,
)

__all__ = ["ROUTES"]

SIGNIN_FAILED = "Sign-in failed. If this keeps happening, ask whoever runs Treazr for a new invite link."


def _field(data: Any, name: str) -> str:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} is required")
    return value


def _limit(request: Request[Any, Any, State], runtime: AuthRuntime, public_key: str) -> str:
    address = client_address(request.scope, runtime)
    runtime.by_address.hit(address)
    runtime.by_key.hit(public_key)
    return address


def _signed_in(request: Request[Any, Any, State], runtime: AuthRuntime, payload: dict[str, Any], token: str,
               ) -> Response[dict[str, Any]]:
    secure = request_origin(request.scope, runtime).startswith("https://")
    cookie = session_cookie_header(token, runtime.settings.auth.session_days * 86400, secure)
    return Response(payload, status_code=200, headers={"Set-Cookie": cookie, "Cache-Control": "no-store"})


@post("/api/auth/challenge", status_code=200, opt={"public": True})
async def challenge(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, str]:
    """Anyone: a fresh single-use challenge for a public key (unknown keys get one too, which never verifies)."""
    runtime = auth_runtime(request.app)
    text = _field(data, "public_key")
    public_key = parse_public_key(text)
    _limit(request, runtime, b64url(public_key))
    return runtime.challenges.issue(public_key).payload()


def _me(user_id: int, name: str, role: str, device_id: int, label: str) -> dict[str, Any]:
    return {"user": {"id": user_id, "name": name, "role": role}, "device": {"id": device_id, "label": label}}


@post("/api/auth/verify", status_code=200, opt={"public": True})
async def verify(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
    """Anyone: answer a challenge with a signature; a live device's key gets a session cookie."""
    runtime = auth_runtime(request.app)
    public_key = parse_public_key(_field(data, "public_key"))
    signature = parse_signature(_field(data, "signature"))
    challenge_id = _field(data, "challenge_id")
    address = _limit(request, runtime, b64url(public_key))
    ok = runtime.challenges.consume(challenge_id, public_key, signature, request_origin(request.scope, runtime))
    agent = request.headers.get("user-agent", "")

    def sign_in(conn: sqlite3.Connection) -> tuple[dict[str, Any], str] | None:
        device = conn.execute(
            "SELECT d.id, d.label, d.user_id, d.revoked_at, u.name, u.role FROM devices d "
            "JOIN users u ON u.id = d.user_id WHERE d.public_key = ?", (public_key,)).fetchone()
        if not ok or device is None or device["revoked_at"] is not None:
            audit.record(conn, "signin_failed", user_id=device and device["user_id"],
                         device_id=device and device["id"], address=address,
                         detail={"reason": "revoked" if device and ok else "signature" if device else "unknown key"})
            return None
        token, _ = start_session(conn, device["user_id"], device["id"], runtime.settings.auth.session_days,
                                 address=address, user_agent=agent)
        audit.record(conn, "signin", user_id=device["user_id"], device_id=device["id"], address=address)
        return _me(device["user_id"], device["name"], device["role"], device["id"], device["label"]), token

    result = await request.app.state.services.db.write_async(sign_in)
    if result is None:
        raise AuthenticationError(SIGNIN_FAILED)
    return _signed_in(request, runtime, *result)


@post("/api/auth/enroll", status_code=200, opt={"public": True})
async def enroll(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> Response[dict[str, Any]]:
    """Anyone holding an invite: add this browser's key as a device of the invited user and sign in."""
    runtime = auth_runtime(request.app)
    invite = _field(data, "invite")
    public_key = parse_public_key(_field(data, "public_key"))
    signature = parse_signature(_field(data, "signature"))
    challenge_id, label = _field(data, "challenge_id"), _field(data, "device_label")
    address = _limit(request, runtime, b64url(public_key))
    ok = runtime.challenges.consume(challenge_id, public_key, signature, request_origin(request.scope, runtime))
    agent = request.headers.get("user-agent", "")
    db = request.app.state.services.db
    if not ok:
        await db.write_async(lambda conn: audit.record(conn, "enroll_failed", address=address,
                                                        detail={"reason": "signature"}))
        raise AuthenticationError(SIGNIN_FAILED)

    def enrol(conn: sqlite3.Connection) -> tuple[dict[str, Any], str]:
        device = redeem_invite(conn, invite, public_key, label, address=address)
        user = conn.execute("SELECT name, role FROM users WHERE id = ?", (device["user_id"],)).fetchone()
        token, _ = start_session(conn, device["user_id"], device["id"], runtime.settings.auth.session_days,
                                 address=address, user_agent=agent)
        audit.record(conn, "signin", user_id=device["user_id"], device_id=device["id"], address=address)
        return _me(device["user_id"], user["name"], user["role"], device["id"], device["label"]), token

    try:
        payload, token = await db.write_async(enrol)
    except AuthenticationError:
        await db.write_async(lambda conn: audit.record(conn, "enroll_failed", address=address,
                                                        detail={"reason": "invite"}))
        raise
    return _signed_in(request, runtime, payload, token)


@post("/api/auth/logout", status_code=200, opt={"public": True})
async def logout(request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
    """Anyone: end this browser's sign-in session, if it has one, and forget the cookie."""
    runtime = auth_runtime(request.app)
    user = request.scope.get("user")
    services = request.app.state.services
    if user is not None:
        address = client_address(request.scope, runtime)

        def end(conn: sqlite3.Connection) -> set[int]:
            audit.record(conn, "logout", user_id=user.user_id, device_id=user.device_id, address=address)
            return end_session(conn, user.session_id)

        services.revocations.publish(await services.db.write_async(end))
    secure = request_origin(request.scope, runtime).startswith("https://")
    return Response({"signed_out": True}, headers={"Set-Cookie": session_cookie_header("", 0, secure)})


@get("/api/me")
async def me(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Any signed-in user: who am I, with which role, on which device."""
    user = current_user(request)
    info = request.scope.get("auth")
    payload = _me(user.user_id, user.name, user.role, user.device_id, getattr(info, "device_label", ""))
    payload["session"] = {"expires_at": getattr(info, "expires_at", "")}
    return payload


ROUTES: list[Any] = [challenge, verify, enroll, logout, me, *ACCOUNT_ROUTES]
