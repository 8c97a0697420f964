"""Sign people in for tests, the real way: a PyNaCl key, an invite, a signed challenge, a session cookie.

    from tests.support.identity import sign_up

    async with AsyncTestClient(app=create_app(services)) as client:
        ada = await sign_up(client, services, "Ada", role="member")
        response = await client.get("/api/me", headers=ada.headers)

``Identity.headers`` carries the session cookie and this site's ``Origin`` (needed on every POST, PUT,
PATCH and DELETE). The client's own cookie jar is left empty, so a request without ``headers`` is
anonymous and several people can share one client. The same functions work against a real server
(``httpx.AsyncClient(base_url=url, verify=ssl.create_default_context(cafile=ca))``, with
``services_for(data_dir)`` for the database side); ``sign_up_sync`` is for ``httpx.Client``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from nacl.signing import SigningKey

from treazr.auth.invites import issue_invite
from treazr.auth.keys import b64url, signed_message
from treazr.auth.sessions import COOKIE, SECURE_COOKIE
from treazr.auth.users import create_user
from treazr.composition import open_treazr
from treazr.services import Services
from treazr.settings import load_settings

__all__ = [
    "Identity",
    "add_user",
    "enroll",
    "enroll_sync",
    "new_invite",
    "origin_of",
    "services_for",
    "sign_in",
    "sign_in_sync",
    "sign_up",
    "sign_up_sync",
]


@dataclass
class Identity:
    """One person on one device: their user id, role, Ed25519 key and live session cookie."""

    user_id: int
    name: str
    role: str
    key: SigningKey
    origin: str
    session: str = ""
    device_id: int = 0
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def public_key(self) -> str:
        return b64url(bytes(self.key.verify_key))

    @property
    def cookies(self) -> dict[str, str]:
        return {self.cookie_name: self.session}

    @property
    def cookie_name(self) -> str:
        """``__Host-treazr_session`` over HTTPS, ``treazr_session`` over plain HTTP."""
        return SECURE_COOKIE if self.origin.startswith("https://") else COOKIE

    @property
    def headers(self) -> dict[str, str]:
        """Cookie + Origin: pass as ``headers=`` on HTTP requests and WebSocket connects."""
        return {"Cookie": f"{self.cookie_name}={self.session}", "Origin": self.origin, **self.extra_headers}


def origin_of(client: httpx.AsyncClient | httpx.Client) -> str:
    """The origin a browser on ``client.base_url`` would report (default ports left out)."""
    parts = urlsplit(str(client.base_url))
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def add_user(services: Services, name: str, role: str = "member") -> int:
    """A user straight in the database (no device yet); returns the id."""
    return int(services.db.write(lambda conn: create_user(conn, name, role))["id"])


def new_invite(services: Services, user_id: int) -> str:
    """A fresh invite token for ``user_id`` (what goes after ``/invite#``)."""
    ttl = services.settings.auth.invite_ttl_hours
    return services.db.write(lambda conn: issue_invite(conn, user_id, ttl)).token


def _signed(challenge: dict[str, Any], key: SigningKey, origin: str) -> dict[str, str]:
    message = signed_message(origin, challenge["challenge_id"], challenge["nonce"])
    return {"challenge_id": challenge["challenge_id"], "public_key": b64url(bytes(key.verify_key)),
            "signature": b64url(key.sign(message).signature)}


def _take_session(response: httpx.Response, client: httpx.AsyncClient | httpx.Client,
                  identity: Identity) -> httpx.Response:
    if response.status_code == 200:
        identity.session = response.cookies.get(identity.cookie_name) or ""
        identity.device_id = int(response.json()["device"]["id"])
    client.cookies.clear()  # keep the jar anonymous: each Identity carries its own cookie
    return response


async def enroll(client: httpx.AsyncClient, identity: Identity, invite: str, label: str = "test device"
                 ) -> httpx.Response:
    """POST challenge + enroll with the identity's key; on 200 the identity holds the session."""
    origin = {"Origin": identity.origin}
    challenge = await client.post("/api/auth/challenge", json={"public_key": identity.public_key}, headers=origin)
    challenge.raise_for_status()
    body = {**_signed(challenge.json(), identity.key, identity.origin), "invite": invite, "device_label": label}
    return _take_session(await client.post("/api/auth/enroll", json=body, headers=origin), client, identity)


async def sign_in(client: httpx.AsyncClient, identity: Identity) -> httpx.Response:
    """POST challenge + verify; on 200 the identity holds a new session."""
    origin = {"Origin": identity.origin}
    challenge = await client.post("/api/auth/challenge", json={"public_key": identity.public_key}, headers=origin)
    challenge.raise_for_status()
    body = _signed(challenge.json(), identity.key, identity.origin)
    return _take_session(await client.post("/api/auth/verify", json=body, headers=origin), client, identity)


async def sign_up(client: httpx.AsyncClient, services: Services, name: str, role: str = "member") -> Identity:
    """Create the user, invite them and enrol a fresh key: a signed-in Identity."""
    user_id = add_user(services, name, role)
    identity = Identity(user_id, name, role, SigningKey.generate(), origin_of(client))
    response = await enroll(client, identity, new_invite(services, user_id), label=f"{name}'s test device")
    assert response.status_code == 200, response.text
    return identity


def enroll_sync(client: httpx.Client, identity: Identity, invite: str, label: str = "test device") -> httpx.Response:
    origin = {"Origin": identity.origin}
    challenge = client.post("/api/auth/challenge", json={"public_key": identity.public_key}, headers=origin)
    challenge.raise_for_status()
    body = {**_signed(challenge.json(), identity.key, identity.origin), "invite": invite, "device_label": label}
    return _take_session(client.post("/api/auth/enroll", json=body, headers=origin), client, identity)


def sign_in_sync(client: httpx.Client, identity: Identity) -> httpx.Response:
    origin = {"Origin": identity.origin}
    challenge = client.post("/api/auth/challenge", json={"public_key": identity.public_key}, headers=origin)
    challenge.raise_for_status()
    body = _signed(challenge.json(), identity.key, identity.origin)
    return _take_session(client.post("/api/auth/verify", json=body, headers=origin), client, identity)


def sign_up_sync(client: httpx.Client, services: Services, name: str, role: str = "member") -> Identity:
    """``sign_up`` for a synchronous httpx client (e.g. against a live server)."""
    user_id = add_user(services, name, role)
    identity = Identity(user_id, name, role, SigningKey.generate(), origin_of(client))
    response = enroll_sync(client, identity, new_invite(services, user_id), label=f"{name}'s test device")
    assert response.status_code == 200, response.text
    return identity


@contextmanager
def services_for(data_dir: Path) -> Iterator[Services]:
    """Open a running server's data directory from the test process (SQLite WAL allows both)."""
    services = open_treazr(load_settings(overrides={"data_dir": str(data_dir)}, environ={}))
    try:
        yield services
    finally:
        services.close()
