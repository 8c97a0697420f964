"""The sign-in protocol against the real app, with real Ed25519 signatures (PyNaCl)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from nacl.signing import SigningKey

from tests.support.identity import Identity, add_user, enroll, new_invite, origin_of, sign_in, sign_up
from treazr.auth.keys import b64url, b64url_decode, signed_message
from treazr.auth.tls import ensure_server_certificate
from treazr.services import Services
from treazr.web.app import create_app
from treazr.web.security import auth_runtime

GENERIC = "Sign-in failed."


@pytest.fixture
async def client(services: Services) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(app=create_app(services)) as test_client:
        yield test_client


def _stranger(client: AsyncTestClient, name: str = "Eve") -> Identity:  # type: ignore[type-arg]
    return Identity(0, name, "member", SigningKey.generate(), origin_of(client))


async def _challenge(client: AsyncTestClient, identity: Identity) -> dict[str, str]:  # type: ignore[type-arg]
    response = await client.post("/api/auth/challenge", json={"public_key": identity.public_key},
                                 headers={"Origin": identity.origin})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _answer(identity: Identity, challenge: dict[str, str], *, origin: str | None = None,
            signer: SigningKey | None = None) -> dict[str, str]:
    message = signed_message(origin or identity.origin, challenge["challenge_id"], challenge["nonce"])
    return {"challenge_id": challenge["challenge_id"], "public_key": identity.public_key,
            "signature": b64url((signer or identity.key).sign(message).signature)}


async def _verify(client: AsyncTestClient, identity: Identity, body: dict[str, str]):  # type: ignore[no-untyped-def,type-arg]
    return await client.post("/api/auth/verify", json=body, headers={"Origin": identity.origin})


async def test_enrol_then_sign_in_again_with_the_same_key(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada = await sign_up(client, services, "Ada", role="admin")
    me = await client.get("/api/me", headers=ada.headers)
    assert me.status_code == 200
    assert me.json()["user"] == {"id": ada.user_id, "name": "Ada", "role": "admin"}
    assert me.json()["device"]["label"] == "Ada's test device"
    first = ada.session
    response = await sign_in(client, ada)
    assert response.status_code == 200 and ada.session != first
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={30 * 86400}"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain http test client
    assert (await client.get("/api/me", headers=ada.headers)).status_code == 200
    events = [r["event"] for r in services.db.query("SELECT event FROM audit_log ORDER BY id")]
    assert events.count("signin") == 2 and "enroll" in events


async def test_cookie_is_secure_under_https(services: Services) -> None:
    async with AsyncTestClient(app=create_app(services), base_url="https://treazr.home.arpa") as client:
        ada = await sign_up(client, services, "Ada")
        assert ada.origin == "https://treazr.home.arpa"
        response = await sign_in(client, ada)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-treazr_session=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie  # the prefix's rules: Secure, Path=/, host-only
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_a_sign_in_from_before_the_prefix_keeps_working_and_is_renamed(services: Services) -> None:
    async with AsyncTestClient(app=create_app(services), base_url="https://treazr.home.arpa") as client:
        ada = await sign_up(client, services, "Ada")
        old = {"Cookie": f"treazr_session={ada.session}", "Origin": ada.origin}
        me = await client.get("/api/me", headers=old)
        assert me.status_code == 200 and me.json()["user"]["name"] == "Ada"
        renamed = me.headers.get_list("set-cookie")
        assert renamed[0].startswith(f"__Host-treazr_session={ada.session};")
        assert renamed[1].startswith("treazr_session=;") and "Max-Age=0" in renamed[1]
        again = await client.get("/api/me", headers=ada.headers)  # the new name: nothing more to rename
        assert again.status_code == 200 and "set-cookie" not in again.headers
        shadowed = {"Cookie": f"treazr_session=planted; __Host-treazr_session={ada.session}", "Origin": ada.origin}
        assert (await client.get("/api/me", headers=shadowed)).json()["user"]["name"] == "Ada"  # prefixed wins


async def test_padded_base64_is_accepted(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada = await sign_up(client, services, "Ada")
    challenge = await _challenge(client, ada)
    body = {k: v + "=" * (-len(v) % 4) if k != "challenge_id" else v for k, v in _answer(ada, challenge).items()}
    assert (await _verify(client, ada, body)).status_code == 200


async def test_replayed_expired_altered_wrong_origin_and_wrong_key_all_fail(
        client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada = await sign_up(client, services, "Ada")
    good = _answer(ada, await _challenge(client, ada))
    assert (await _verify(client, ada, good)).status_code == 200
    replay = await _verify(client, ada, good)
    assert replay.status_code == 401 and replay.json()["error"].startswith(GENERIC)

    runtime = auth_runtime(client.app)
    expired = runtime.challenges.issue(bytes(ada.key.verify_key), now=time.time() - 61)
    body = _answer(ada, {"challenge_id": expired.challenge_id, "nonce": expired.nonce})
    assert (await _verify(client, ada, body)).status_code == 401

    altered = _answer(ada, await _challenge(client, ada))
    signature = bytearray(b64url_decode(altered["signature"], "signature"))
    signature[10] ^= 0x01
    altered["signature"] = b64url(bytes(signature))
    assert (await _verify(client, ada, altered)).status_code == 401

    wrong_origin = _answer(ada, await _challenge(client, ada), origin="https://evil.example")
    assert (await _verify(client, ada, wrong_origin)).status_code == 401

    mallory = _stranger(client, "Mallory")
    wrong_key = _answer(ada, await _challenge(client, ada), signer=mallory.key)
    assert (await _verify(client, ada, wrong_key)).status_code == 401
    # a challenge asked for by Mallory's key cannot be answered for Ada's key
    stolen = await _challenge(client, mallory)
    assert (await _verify(client, ada, _answer(ada, stolen))).status_code == 401
    failures = services.db.query("SELECT count(*) AS n FROM audit_log WHERE event = 'signin_failed'")
    assert failures[0]["n"] == 6


async def test_unknown_and_revoked_keys_get_the_same_looking_challenge_and_fail(
        client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada = await sign_up(client, services, "Ada")
    eve = _stranger(client)
    known, unknown = await _challenge(client, ada), await _challenge(client, eve)
    assert set(known) == set(unknown)
    assert [len(known[k]) for k in sorted(known)] == [len(unknown[k]) for k in sorted(unknown)]
    failed = await _verify(client, eve, _answer(eve, unknown))
    assert failed.status_code == 401 and failed.json()["error"].startswith(GENERIC)

    admin = await sign_up(client, services, "Admin", role="admin")
    revoked = await client.post(f"/api/admin/devices/{ada.device_id}/revoke", headers=admin.headers)
    assert revoked.status_code == 200 and revoked.json()["ended_sessions"] == 1
    again = await _verify(client, ada, _answer(ada, await _challenge(client, ada)))
    assert again.status_code == 401 and again.json() == failed.json()


async def test_used_expired_and_unknown_invites_are_refused(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada_id = add_user(services, "Ada")
    invite = new_invite(services, ada_id)
    first = _stranger(client, "Ada")
    assert (await enroll(client, first, invite)).status_code == 200
    second = _stranger(client, "Ada")
    reused = await enroll(client, second, invite)
    assert reused.status_code == 401 and "does not work any more" in reused.json()["error"]
    services.db.execute("UPDATE invites SET expires_at = '2000-01-01T00:00:00Z'")
    services.db.execute("UPDATE invites SET used_at = NULL")
    assert (await enroll(client, second, invite)).status_code == 401
    assert (await enroll(client, second, "x" * 43)).status_code == 401
    devices = services.db.query("SELECT count(*) AS n FROM devices")
    assert devices[0]["n"] == 1
    bad = await client.post("/api/auth/enroll", json={"invite": invite}, headers={"Origin": first.origin})
    assert bad.status_code == 400


async def test_enrol_with_a_bad_signature_spends_nothing(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    invite = new_invite(services, add_user(services, "Ada"))
    ada = _stranger(client, "Ada")
    challenge = await _challenge(client, ada)
    body = {**_answer(ada, challenge, origin="https://evil.example"), "invite": invite, "device_label": "PC"}
    response = await client.post("/api/auth/enroll", json=body, headers={"Origin": ada.origin})
    assert response.status_code == 401
    assert (await enroll(client, ada, invite)).status_code == 200  # the invite still works


async def test_sign_in_is_rate_limited_with_retry_after(services: Services) -> None:
    services.settings.auth.rate_limit_per_minute = 3
    async with AsyncTestClient(app=create_app(services)) as client:
        eve = _stranger(client)
        for _ in range(3):
            await _challenge(client, eve)
        limited = await client.post("/api/auth/challenge", json={"public_key": eve.public_key},
                                    headers={"Origin": eve.origin})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        other = _stranger(client, "Other")  # same address: the address budget is spent too
        blocked = await client.post("/api/auth/challenge", json={"public_key": other.public_key},
                                    headers={"Origin": other.origin})
        assert blocked.status_code == 429


async def test_logout_ends_the_session_at_once_and_publishes_it(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    published: list[set[int]] = []
    services.revocations.subscribe(published.append)
    ada = await sign_up(client, services, "Ada")
    session_id = services.db.query("SELECT id FROM web_sessions")[0]["id"]
    out = await client.post("/api/auth/logout", headers=ada.headers)
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    assert published == [{session_id}]
    assert (await client.get("/api/me", headers=ada.headers)).status_code == 401
    assert (await client.post("/api/auth/logout", headers={"Origin": ada.origin})).status_code == 200


async def test_members_manage_only_their_own_devices(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    published: list[set[int]] = []
    services.revocations.subscribe(published.append)
    ada = await sign_up(client, services, "Ada")
    bob = await sign_up(client, services, "Bob")
    kid = await sign_up(client, services, "Kid", role="child")
    listed = (await client.get("/api/me/devices", headers=bob.headers)).json()["devices"]
    assert [d["id"] for d in listed] == [bob.device_id] and listed[0]["this_device"]
    for intruder in (bob, kid):
        attempt = await client.post(f"/api/me/devices/{ada.device_id}/revoke", headers=intruder.headers)
        assert attempt.status_code == 404
        for path in ("/api/admin/users", "/api/admin/audit", f"/api/admin/users/{ada.user_id}/grants"):
            assert (await client.get(path, headers=intruder.headers)).status_code == 403
        forbidden = await client.post(f"/api/admin/devices/{ada.device_id}/revoke", headers=intruder.headers)
        assert forbidden.status_code == 403
    assert (await client.get("/api/me", headers=ada.headers)).status_code == 200
    assert published == []
    # Ada removes her own device: her session ends on the spot
    own = await client.post(f"/api/me/devices/{ada.device_id}/revoke", headers=ada.headers)
    assert own.status_code == 200 and len(published) == 1
    assert (await client.get("/api/me", headers=ada.headers)).status_code == 401


async def test_a_member_invites_another_device_of_their_own(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    ada = await sign_up(client, services, "Ada")
    made = await client.post("/api/me/invites", headers=ada.headers)
    assert made.status_code == 201
    body = made.json()
    assert body["user"]["name"] == "Ada" and body["qr_svg"].startswith("data:image/svg+xml;base64,")
    token = body["url"].split("/invite#", 1)[1]
    tablet = Identity(ada.user_id, "Ada", "member", SigningKey.generate(), ada.origin)
    assert (await enroll(client, tablet, token, "Tablet")).status_code == 200
    devices = (await client.get("/api/me/devices", headers=tablet.headers)).json()["devices"]
    assert sorted(d["label"] for d in devices) == ["Ada's test device", "Tablet"]


async def test_admin_adds_users_sets_grants_revokes_and_reads_the_audit_log(
        client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    admin = await sign_up(client, services, "Admin", role="admin")
    added = await client.post("/api/admin/users", json={"name": "Kid", "role": "child"}, headers=admin.headers)
    assert added.status_code == 201, added.text
    kid_id = added.json()["user"]["id"]
    dup = await client.post("/api/admin/users", json={"name": "kid", "role": "child"}, headers=admin.headers)
    assert dup.status_code == 409
    grants = await client.put(f"/api/admin/users/{kid_id}/grants", json={"platforms": ["nes"], "collections": []},
                              headers=admin.headers)
    assert grants.status_code == 200 and grants.json() == {"platforms": ["nes"], "collections": []}
    kid = Identity(kid_id, "Kid", "child", SigningKey.generate(), admin.origin)
    assert (await enroll(client, kid, added.json()["url"].split("#", 1)[1])).status_code == 200
    users = (await client.get("/api/admin/users", headers=admin.headers)).json()["users"]
    assert [u["name"] for u in users] == ["Admin", "Kid"] and users[1]["grants"]["platforms"] == ["nes"]
    revoked = await client.post(f"/api/admin/users/{kid_id}/revoke", headers=admin.headers)
    assert revoked.status_code == 200 and revoked.json()["ended_sessions"] == 1
    assert (await client.get("/api/me", headers=kid.headers)).status_code == 401
    audit = (await client.get("/api/admin/audit?limit=50", headers=admin.headers)).json()["entries"]
    events = [e["event"] for e in audit]
    assert events[0] == "user_revoked"
    assert {"user_added", "invite", "enroll", "signin", "grant_changed"} <= set(events)
    page = (await client.get(f"/api/admin/audit?limit=2&before={audit[1]['id']}", headers=admin.headers)).json()
    assert [e["id"] for e in page["entries"]] == [audit[2]["id"], audit[3]["id"]]


async def test_admin_changes_roles_which_apply_at_once_and_never_drops_the_last_admin(
        client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    admin = await sign_up(client, services, "Admin", role="admin")
    ada = await sign_up(client, services, "Ada", role="member")
    assert (await client.get("/api/admin/users", headers=ada.headers)).status_code == 403
    refused = await client.put(f"/api/admin/users/{ada.user_id}/role", json={"role": "admin"}, headers=ada.headers)
    assert refused.status_code == 403
    bad = await client.put(f"/api/admin/users/{ada.user_id}/role", json={"role": "owner"}, headers=admin.headers)
    assert bad.status_code == 400 and "owner" in bad.json()["error"]
    made = await client.put(f"/api/admin/users/{ada.user_id}/role", json={"role": "admin"}, headers=admin.headers)
    assert made.status_code == 200 and made.json()["user"]["role"] == "admin"
    assert (await client.get("/api/admin/users", headers=ada.headers)).status_code == 200  # no new sign-in needed
    down = await client.put(f"/api/admin/users/{admin.user_id}/role", json={"role": "child"}, headers=ada.headers)
    assert down.status_code == 200
    last = await client.put(f"/api/admin/users/{ada.user_id}/role", json={"role": "member"}, headers=ada.headers)
    assert last.status_code == 409 and "only admin" in last.json()["error"]
    assert (await client.get("/api/me", headers=admin.headers)).json()["user"]["role"] == "child"
    events = [e["event"] for e in (await client.get("/api/admin/audit", headers=ada.headers)).json()["entries"]]
    assert events.count("role_changed") == 2


async def test_pages_render_and_the_ca_certificate_downloads(client: AsyncTestClient, services: Services) -> None:  # type: ignore[type-arg]
    for path in ("/signin", "/invite", "/certificate", "/secure-context"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "/static/auth." in page.text
    assert (await client.get("/certificate/treazr-ca.crt")).status_code == 404  # tls off: no local CA
    ensure_server_certificate(services.data.certificates, "127.0.0.1")
    pem = await client.get("/certificate/treazr-ca.crt")
    assert pem.status_code == 200 and pem.content.startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE" not in pem.content
    der = await client.get("/certificate/treazr-ca.crt?der=true")
    assert der.content[:1] == b"\x30"
    guide = await client.get("/certificate")
    assert "iPhone" in guide.text and "Android" in guide.text and "Windows" in guide.text
    redirect = await client.get("/devices", headers={"Accept": "text/html"}, follow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["location"] == "/signin?next=%2Fdevices"
    ada = await sign_up(client, services, "Ada")
    assert (await client.get("/devices", headers=ada.headers)).status_code == 200
    signin = await client.get("/signin?next=//evil.example/x")
    assert 'data-next="/"' in signin.text


@pytest.mark.slow
def test_against_a_live_server_and_a_revocation_from_the_terminal(live_server) -> None:  # type: ignore[no-untyped-def]
    import ssl

    import httpx
    from click.testing import CliRunner

    from tests.support.identity import services_for, sign_up_sync
    from treazr.cli import main

    trust = ssl.create_default_context(cafile=str(live_server.ca_path))  # the real chain, checked
    with httpx.Client(base_url=live_server.url, verify=trust) as client:
        with services_for(live_server.data_dir) as services:
            ada = sign_up_sync(client, services, "Ada")
        assert client.get("/api/me", headers=ada.headers).json()["user"]["name"] == "Ada"
        result = CliRunner().invoke(main, ["--data-dir", str(live_server.data_dir), "users", "revoke", "Ada"])
        assert result.exit_code == 0, result.output
        assert client.get("/api/me", headers=ada.headers).status_code == 401
