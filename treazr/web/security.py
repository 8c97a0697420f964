"""Who is asking, and may they: the auth middleware, guards, CSRF check and security headers.

Every HTTP and WebSocket route needs a signed-in user unless its handler says ``opt={"public": True}``.
The middleware sets ``connection.user`` to an :class:`AuthUser` (or ``None`` on a public route when
nobody is signed in), refuses state-changing requests whose ``Origin`` is not this site's, and adds
the security headers (a CSP without inline scripts: the one inline import map is allowed by hash;
HSTS over HTTPS). A request for a name this server is not known by is refused first (``web.hosts``).

The request's own origin, as the browser sees it, is ``server.public_url`` when set, else the scheme
and Host header, or ``X-Forwarded-Proto``/``X-Forwarded-Host`` when the peer is a trusted proxy.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Message, Receive, Scope, Send

from treazr.auth.challenges import ChallengeStore
from treazr.auth.ratelimit import RateLimiter
from treazr.auth.sessions import COOKIE, SECURE_COOKIE, AuthUser, SessionInfo, lookup_session
from treazr.errors import AuthenticationError, PermissionDenied, RateLimited
from treazr.settings import Settings
from treazr.web.hosts import KnownHosts

__all__ = [
    "AuthRuntime",
    "AuthUser",
    "admin_only",
    "auth_runtime",
    "client_address",
    "current_user",
    "members_only",
    "request_origin",
    "security_middleware",
    "session_cookie_header",
]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TARPIT_S = 1.0  # how long a request over the anonymous budget waits for its 429
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthRuntime:
    """Per-app sign-in state kept in memory: pending challenges and rate limits, plus derived settings."""

    def __init__(self, settings: Settings, import_map: str) -> None:
        auth, server = settings.auth, settings.server
        self.settings = settings
        self.challenges = ChallengeStore(auth.challenge_ttl_s)
        self.by_address = RateLimiter(auth.rate_limit_per_minute)
        self.by_key = RateLimiter(auth.rate_limit_per_minute)
        self.anonymous = RateLimiter(server.anonymous_per_minute, what="requests from this address")
        self.proxies: tuple[Network, ...] = tuple(_networks(server.trusted_proxies))
        public = urlsplit(server.public_url) if server.public_url else None
        self.public_origin = _normalise_origin(public.scheme, public.netloc) if public else ""
        self.hosts = KnownHosts([*server.allowed_hosts, *([public.hostname or ""] if public else [])])
        import_map_hash = base64.b64encode(hashlib.sha256(import_map.encode()).digest()).decode()
        self.csp = ("default-src 'self'; "
                    f"script-src 'self' 'sha256-{import_map_hash}'; "
                    "style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                    "connect-src 'self'; worker-src 'self' blob:; font-src 'self'; "
                    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

    def is_proxy(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.proxies)


def _networks(values: Iterable[str]) -> Iterable[Network]:
    for value in values:
        yield ipaddress.ip_network(value.strip(), strict=False)


def auth_runtime(app: Any) -> AuthRuntime:
    """The app's AuthRuntime, made on first use (one per app, so tests get fresh limits)."""
    state = app.state
    runtime: AuthRuntime | None = state.get("auth_runtime")
    if runtime is None:
        runtime = AuthRuntime(state.services.settings, state.assets.import_map())
        state.auth_runtime = runtime
    return runtime


def _normalise_origin(scheme: str, netloc: str) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme.lower())
    host = netloc.strip().lower()
    default = {"https": ":443", "http": ":80"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def client_address(scope: Scope, runtime: AuthRuntime) -> str:
    """The peer address, or the nearest untrusted address in X-Forwarded-For behind trusted proxies."""
    peer = (scope.get("client") or ("", 0))[0] or ""
    if not runtime.is_proxy(peer):
        return str(peer)
    forwarded = [part.strip() for part in _headers(scope).get("x-forwarded-for", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        if not runtime.is_proxy(address):
            return address
    return forwarded[0] if forwarded else str(peer)


def _asked_for(scope: Scope, runtime: AuthRuntime) -> tuple[str, str]:
    """The scheme and host (with port) the browser asked for, through a trusted proxy if any."""
    headers = _headers(scope)
    scheme, host = str(scope.get("scheme", "http")), headers.get("host", "")
    if runtime.is_proxy((scope.get("client") or ("", 0))[0] or ""):
        scheme = _first(headers.get("x-forwarded-proto", "")) or scheme
        host = _first(headers.get("x-forwarded-host", "")) or host
    return scheme, host


def request_origin(scope: Scope, runtime: AuthRuntime) -> str:
    """This site's origin as the browser sees it (what ``location.origin`` says there)."""
    return _origin(runtime, *_asked_for(scope, runtime))


def _origin(runtime: AuthRuntime, scheme: str, host: str) -> str:
    return runtime.public_origin or _normalise_origin(scheme, host)


def _host_name(netloc: str) -> str:
    """``nas:8443`` -> ``nas``, ``[fe80::1]:8443`` -> ``fe80::1``; unparsable -> as given."""
    try:
        return urlsplit(f"//{netloc}").hostname or ""
    except ValueError:
        return netloc


def session_cookie_header(token: str, max_age: int, secure: bool, *, name: str | None = None) -> str:
    """The Set-Cookie value for the session (an empty token with max_age 0 deletes it). Over HTTPS the
    cookie is ``__Host-`` prefixed, so no other site on the network (a sibling name) can set or shadow it."""
    name = name or (SECURE_COOKIE if secure else COOKIE)
    parts = [f"{name}={token}", "HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={max_age}"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def _cookies(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        if name.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                found.setdefault(key, val.strip())
    return found


def _cookie(scope: Scope, secure: bool) -> tuple[str, bool]:
    """The session token, and whether it came in the old unprefixed cookie over HTTPS (to be renamed)."""
    cookies = _cookies(scope)
    if secure and cookies.get(SECURE_COOKIE):
        return cookies[SECURE_COOKIE], False
    legacy = cookies.get(COOKIE, "")
    return legacy, secure and bool(legacy)


def _security_headers(runtime: AuthRuntime) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", runtime.csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    ]


async def _reply(send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await _respond(send, status, [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *extra],
                   payload)


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status,
                                     "headers": [*headers, (b"content-length", str(len(body)).encode())]}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def _wants_page(scope: Scope) -> bool:
    return (scope.get("method") == "GET" and not scope["path"].startswith("/api/")
            and "text/html" in _headers(scope).get("accept", ""))


def security_middleware(app: ASGIApp) -> ASGIApp:
    """Authenticate every routed HTTP/WebSocket request, check CSRF, and add the security headers."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        runtime = auth_runtime(scope["app"])
        handler = scope.get("route_handler")
        public = bool(getattr(handler, "opt", {}).get("public"))
        headers = _security_headers(runtime) if scope["type"] == "http" else []
        scheme, host = _asked_for(scope, runtime)
        name = _host_name(host)
        if not runtime.hosts.allows(name):
            await _refuse(scope, send, 421, f"This Treazr server does not answer to the name {name[:80]!r}. "
                          "If that name is yours, add it to server.allowed_hosts in config.toml.", headers)
            return
        if scheme == "https" and scope["type"] == "http":
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        origin = _headers(scope).get("origin")
        expected = _origin(runtime, scheme, host)  # request_origin(), from the scheme and host read above
        cross_site = (origin is not None and origin != expected) if scope["type"] == "websocket" else (
            scope.get("method") not in _SAFE_METHODS and origin != expected)
        if cross_site:
            await _refuse(scope, send, 403, "This request came from another site, so it was refused.", headers)
            return
        # Static files are public and identical for everyone: no database lookup for them.
        secure = expected.startswith("https://")
        static = public and scope["path"].startswith("/static/")
        token, legacy = ("", False) if static else _cookie(scope, secure)
        if not token and not static:
            try:
                runtime.anonymous.hit(client_address(scope, runtime))
            except RateLimited as error:
                # a flood: answering at once only invites the next request, so its connection waits first
                await asyncio.sleep(TARPIT_S)
                retry = (b"retry-after", str(error.retry_after).encode())
                await _refuse(scope, send, 429, str(error), [*headers, retry])
                return
        info = await lookup_session(scope["app"].state.services.db, token, runtime.settings.auth.session_days)
        if info is None and not public:
            await _refuse(scope, send, 401, "Please sign in first.", headers)
            return
        scope["user"] = _user(info)
        scope["auth"] = info
        if info is not None and (info.refreshed or legacy) and scope["type"] == "http":
            headers.append((b"set-cookie", session_cookie_header(
                token, runtime.settings.auth.session_days * 86400, secure).encode()))
            if legacy:  # signed in before cookies were prefixed: the old one goes
                headers.append((b"set-cookie", session_cookie_header("", 0, secure, name=COOKIE).encode()))
        await app(scope, receive, _with_headers(send, headers, scope["path"]) if headers else send)

    return middleware


def _user(info: SessionInfo | None) -> AuthUser | None:
    if info is None:
        return None
    return AuthUser(info.user_id, info.name, info.role, info.device_id, info.session_id)


async def _refuse(scope: Scope, send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4000 + status, "reason": message})
        return
    if status == 401 and _wants_page(scope):
        target = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        location = "/signin?next=" + quote(target, safe="")
        await _respond(send, 303, [(b"location", location.encode()), *headers], b"")
        return
    await _reply(send, status, {"error": message, "status": status}, headers)


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]], path: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            added = [(k, v) for k, v in extra if k == b"set-cookie" or k not in present]
            if path.startswith("/api/") and b"cache-control" not in present:
                added.append((b"cache-control", b"no-store"))
            message["headers"] = [*message.get("headers", []), *added]
        await send(message)

    return wrapped


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> AuthUser:
    """The signed-in user of a non-public route (AuthenticationError if there is none)."""
    user = connection.scope.get("user")
    if not isinstance(user, AuthUser):
        raise AuthenticationError("Please sign in first.")
    return user


def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only admins."""
    if current_user(connection).role != "admin":
        raise PermissionDenied("Only an admin may do this.")


def members_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: admins and members (not children)."""
    if current_user(connection).role not in ("admin", "member"):
        raise PermissionDenied("Ask a grown-up: children's accounts cannot do this.")
