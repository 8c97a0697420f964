"""The auth middleware, CSRF check, security headers and proxy handling, against the real app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar, WebSocket, websocket
from litestar.datastructures import State
from litestar.exceptions import WebSocketDisconnect
from litestar.routes import HTTPRoute, WebSocketRoute
from litestar.testing import AsyncTestClient

from tests.support.identity import sign_up
from treazr.services import Services
from treazr.web.app import create_app
from treazr.web.assets import AssetManifest
from treazr.web.routes import auth as auth_routes
from treazr.web.security import AuthRuntime, client_address, current_user, request_origin, security_middleware

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
async def client(services: Services) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(services)) as test_client:
        yield test_client


def _concrete(path: str, number: str = "1") -> str:
    """A request path for a route pattern: every path parameter filled with a plausible value."""
    def fill(match: re.Match[str]) -> str:
        kind = match.group(2) or "str"
        return {"int": number, "path": "x", "uuid": "00000000-0000-0000-0000-000000000001"}.get(kind, "x")

    return re.sub(r"\{(\w+)(?::(\w+))?\}", fill, path)


def _private_http_routes(app: Litestar, number: str = "1") -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if handler.opt.get("public"):
                    continue
                for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                    found.append((method, _concrete(route.path, number)))
    return found


async def test_every_non_public_route_answers_401_to_anonymous_requests(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    routes = _private_http_routes(client.app)
    assert ("GET", "/api/me") in routes and ("POST", "/api/me/invites") in routes  # the walk sees real routes
    origin = {"Origin": "http://testserver.local"}
    for method, path in routes:
        response = await client.request(method, path, headers=origin, json={} if method in STATE_CHANGING else None)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"] == "Please sign in first."


async def test_numbers_past_64_bits_are_a_clear_400_on_every_route(client: AsyncTestClient,  # type: ignore[type-arg]
                                                                   services: Services) -> None:
    admin = await sign_up(client, services, "Ada")
    huge = str(2**63)
    queries = [f"?{name}={huge}" for name in ("page", "per_page", "collection", "game_id", "user_id", "slot")]
    body = {"game_id": 2**63, "slot": 2**63}
    for method, path in _private_http_routes(client.app, huge):
        for query in queries if method == "GET" else [""]:
            response = await client.request(method, path + query, headers=admin.headers,
                                            json=body if method in STATE_CHANGING else None)
            assert response.status_code < 500, (method, path + query, response.status_code, response.text)
    too_large = await client.get(f"/api/games?page={huge}", headers=admin.headers)
    assert too_large.status_code == 400 and too_large.json()["error"] == "a number in this request is too large"
    started = await client.post("/api/play/sessions", json={"game_id": 2**64}, headers=admin.headers)
    assert started.status_code in (400, 404), started.text


async def test_every_non_public_websocket_refuses_anonymous_connections(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    for route in client.app.routes:
        if isinstance(route, WebSocketRoute) and not route.route_handler.opt.get("public"):
            with pytest.raises(WebSocketDisconnect) as refused, \
                    await client.websocket_connect(_concrete(route.path)) as socket:
                socket.receive()
            assert refused.value.code == 4401, route.path


def test_every_route_says_who_may_call_it(services: Services) -> None:
    app = create_app(services)
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [getattr(route, "route_handler", None)]
        for handler in handlers:
            if not getattr(getattr(handler, "fn", None), "__module__", "").startswith("treazr."):
                continue  # Litestar's own handlers (OPTIONS preflight, OpenAPI schema)
            doc = (getattr(handler, "fn", None).__doc__ or "").strip() if handler else ""  # type: ignore[union-attr]
            assert re.match(r"^[A-Z][^.:]*:", doc), f"{route.path}: docstring must start with who may call it"


async def test_state_changing_requests_need_this_sites_origin(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada = await sign_up(client, services, "Ada")
    cookie = {"Cookie": ada.headers["Cookie"]}
    for headers in (cookie, {**cookie, "Origin": "http://evil.example"}, {**cookie, "Origin": "null"},
                    {**cookie, "Origin": "https://testserver.local"}):
        refused = await client.post("/api/me/invites", headers=headers)
        assert refused.status_code == 403, headers
        assert "another site" in refused.json()["error"]
    # sign-in routes too: a page elsewhere must not sign a visitor into someone else's account
    crossed = await client.post("/api/auth/challenge", json={"public_key": ada.public_key},
                                headers={"Origin": "http://evil.example"})
    assert crossed.status_code == 403
    assert (await client.post("/api/me/invites", headers=ada.headers)).status_code == 201
    assert (await client.get("/api/me", headers=cookie)).status_code == 200  # reads need no Origin


def _import_map_hash(page: str) -> str:
    body = re.search(r'<script type="importmap">(.*?)</script>', page, re.S)
    assert body, "the page has no import map"
    return base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode()


async def test_security_headers_and_a_csp_that_allows_only_the_import_map_inline(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    page = await client.get("/signin")
    csp = page.headers["content-security-policy"]
    assert f"'sha256-{_import_map_hash(page.text)}'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    inline = [s for s in re.findall(r"<script([^>]*)>", page.text) if "src=" not in s and "importmap" not in s]
    assert inline == []
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-frame-options"] == "DENY"
    api = await client.get("/api/me")
    assert api.headers["content-security-policy"] == csp and api.headers["cache-control"] == "no-store"
    static = await client.get(page.text.split('<script type="module" src="')[1].split('"')[0])
    assert static.status_code == 200 and "immutable" in static.headers["cache-control"]


def _scope(client: str, headers: dict[str, str], scheme: str = "http") -> dict[str, Any]:
    return {"type": "http", "scheme": scheme, "client": (client, 5000),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


def test_forwarded_headers_count_only_from_trusted_proxies(services: Services) -> None:
    services.settings.server.trusted_proxies = ["10.0.0.0/30", "fd00::1"]
    runtime = AuthRuntime(services.settings, "{}")
    forwarded = {"Host": "10.0.0.1:8080", "X-Forwarded-For": "6.6.6.6, 192.168.1.50, 10.0.0.2",
                 "X-Forwarded-Proto": "https", "X-Forwarded-Host": "treazr.home"}
    proxied = _scope("10.0.0.1", forwarded)
    assert client_address(proxied, runtime) == "192.168.1.50"  # the first hop the proxies did not add
    assert request_origin(proxied, runtime) == "https://treazr.home"
    direct = _scope("192.168.1.77", forwarded)  # anyone else's X-Forwarded-* is ignored
    assert client_address(direct, runtime) == "192.168.1.77"
    assert request_origin(direct, runtime) == "http://10.0.0.1:8080"
    assert request_origin(_scope("fd00::1", {"Host": "x", "X-Forwarded-Proto": "https"}), runtime) == "https://x"
    assert request_origin(_scope("1.2.3.4", {"Host": "Box:443"}, "https"), runtime) == "https://box"
    services.settings.server.public_url = "https://games.example.home:8443/"
    assert request_origin(direct, AuthRuntime(services.settings, "{}")) == "https://games.example.home:8443"


async def test_sign_in_verifies_against_the_public_url_origin(services: Services) -> None:
    services.settings.server.public_url = "https://games.example.home"
    async with AsyncTestClient(app=create_app(services), base_url="https://games.example.home") as client:
        ada = await sign_up(client, services, "Ada")
        assert (await client.get("/api/me", headers=ada.headers)).status_code == 200


def _socket_app(services: Services) -> Litestar:
    @websocket("/ws/me")
    async def me_socket(socket: WebSocket[Any, Any, Any]) -> None:
        """Signed-in users: says who they are, and closes the moment their session ends."""
        user = current_user(socket)
        loop, ended = asyncio.get_running_loop(), asyncio.Event()

        def on_revoked(ids: set[int]) -> None:
            if user.session_id in ids:
                loop.call_soon_threadsafe(ended.set)

        unsubscribe = services.revocations.subscribe(on_revoked)
        try:
            await socket.accept()
            await socket.send_json({"name": user.name})
            await ended.wait()
            await socket.close(code=4401, reason="signed out")
        finally:
            unsubscribe()

    return Litestar(route_handlers=[*auth_routes.ROUTES, me_socket], middleware=[security_middleware],
                    state=State({"services": services, "assets": AssetManifest.build()}))


async def test_websockets_need_a_session_and_close_when_it_ends(services: Services) -> None:
    async with AsyncTestClient(app=_socket_app(services)) as client:
        ada = await sign_up(client, services, "Ada")
        with pytest.raises(WebSocketDisconnect) as anonymous, await client.websocket_connect("/ws/me") as socket:
            socket.receive_json()
        assert anonymous.value.code == 4401
        evil = {**ada.headers, "Origin": "http://evil.example"}
        with pytest.raises(WebSocketDisconnect) as cross_site, \
                await client.websocket_connect("/ws/me", headers=evil) as socket:
            socket.receive_json()
        assert cross_site.value.code == 4403
        with await client.websocket_connect("/ws/me", headers=ada.headers) as socket:
            assert socket.receive_json() == {"name": "Ada"}
            assert (await client.post("/api/auth/logout", headers=ada.headers)).status_code == 200
            with pytest.raises(WebSocketDisconnect) as closed:
                socket.receive_json()
            assert closed.value.code == 4401
    await services.db.close_async_reader()


async def test_oversized_request_bodies_are_refused(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    limit = services.settings.server.max_request_kb * 1024
    huge = {"public_key": "A" * (limit + 10)}
    response = await client.post("/api/auth/challenge", json=huge, headers={"Origin": "http://testserver.local"})
    assert response.status_code == 413


def _guarded_routes(app: Litestar, guard: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                layers = [g for layer in handler.ownership_layers for g in (layer.guards or [])]
                if guard in layers:
                    found.extend((m, _concrete(route.path)) for m in sorted(handler.http_methods - {"OPTIONS", "HEAD"}))
    return found


async def test_admin_and_member_guards_refuse_every_lesser_role(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    from treazr.web.security import admin_only, members_only

    member = await sign_up(client, services, "Mum", role="member")
    child = await sign_up(client, services, "Kid", role="child")
    admin_routes = _guarded_routes(client.app, admin_only)
    assert ("GET", "/api/admin/audit") in admin_routes
    for identity, routes in ((member, admin_routes), (child, admin_routes),
                             (child, _guarded_routes(client.app, members_only))):
        for method, path in routes:
            body = {} if method in STATE_CHANGING else None
            response = await client.request(method, path, headers=identity.headers, json=body)
            assert response.status_code == 403, (identity.role, method, path, response.status_code)


async def test_names_the_server_is_not_known_by_are_refused_against_dns_rebinding(services: Services) -> None:
    services.settings.server.allowed_hosts = ["treazr.fritz.box"]
    app = create_app(services)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        for host in ("attacker.example", "treazr.example.com:8443", "evil.fritz.box"):
            refused = await client.get("/healthz", headers={"Host": host})
            assert refused.status_code == 421, host
            assert "add it to server.allowed_hosts" in refused.json()["error"]
            with pytest.raises(WebSocketDisconnect) as closed, \
                    await client.websocket_connect("/api/play/sessions/x/ws", headers={"Host": host}) as socket:
                socket.receive()
            assert closed.value.code == 4421, host
        for host in ("192.168.1.20:8443", "[fe80::1]:8443", "localhost:8080", "nas", "nas.local", "nas.home.arpa",
                     "treazr.fritz.box", "127.0.0.1"):
            answered = await client.get("/healthz", headers={"Host": host})
            assert answered.status_code == 200, (host, answered.text)
            assert "strict-transport-security" not in answered.headers  # plain HTTP: HSTS would be ignored


async def test_a_flood_from_someone_not_signed_in_is_slowed_and_refused_and_the_family_is_not(
        services: Services) -> None:
    services.settings.server.anonymous_per_minute = 10
    async with AsyncTestClient(app=create_app(services), base_url="http://testserver.local") as client:
        ada = await sign_up(client, services, "Ada")  # the sign-up's own requests count: 2 of the 10
        answers = [(await client.get("/healthz")).status_code for _ in range(12)]
        assert answers == [200] * 8 + [429] * 4, answers
        refused = await client.get("/healthz")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"].startswith("Too many requests from this address")
        for _ in range(20):  # signed in, from the same address: never counted
            assert (await client.get("/api/me", headers=ada.headers)).status_code == 200
        assert (await client.get("/static/favicon.svg")).status_code != 429  # static files are not counted
