from __future__ import annotations

import pytest
from nacl.signing import SigningKey

from treazr.auth.invites import issue_invite, redeem_invite
from treazr.auth.sessions import start_session
from treazr.auth.users import create_user, get_user, list_users, revoke_device, revoke_user
from treazr.errors import Conflict, InvalidInput, NotFound
from treazr.services import Services


def _device(services: Services, user_id: int) -> int:
    key = bytes(SigningKey.generate().verify_key)

    def enrol(conn):  # type: ignore[no-untyped-def]
        invite = issue_invite(conn, user_id, 24)
        return redeem_invite(conn, invite.token, key, "phone")["id"]

    return int(services.db.write(enrol))


def test_names_are_unique_case_insensitively_and_validated(services: Services) -> None:
    services.db.write(lambda conn: create_user(conn, "  Ada   Lovelace ", "admin"))
    assert services.db.write(lambda conn: get_user(conn, "ada lovelace"))["name"] == "Ada Lovelace"
    with pytest.raises(Conflict):
        services.db.write(lambda conn: create_user(conn, "ADA LOVELACE", "member"))
    for bad_name in ("", "   ", "x" * 41, "tab\x07bell"):
        with pytest.raises(InvalidInput):
            services.db.write(lambda conn, n=bad_name: create_user(conn, n, "member"))
    with pytest.raises(InvalidInput, match="role"):
        services.db.write(lambda conn: create_user(conn, "Bob", "owner"))
    with pytest.raises(NotFound):
        services.db.write(lambda conn: get_user(conn, "nobody"))
    assert [u["name"] for u in services.db.write(list_users)] == ["Ada Lovelace"]


def test_revoking_a_device_ends_only_its_sessions_and_checks_the_owner(services: Services) -> None:
    ada = services.db.write(lambda conn: create_user(conn, "Ada", "member"))["id"]
    bob = services.db.write(lambda conn: create_user(conn, "Bob", "member"))["id"]
    phone, laptop, bobs = _device(services, ada), _device(services, ada), _device(services, bob)
    s1 = services.db.write(lambda conn: start_session(conn, ada, phone, 30))[1]
    s2 = services.db.write(lambda conn: start_session(conn, ada, laptop, 30))[1]
    with pytest.raises(NotFound):  # Ada cannot revoke Bob's device: it looks like it does not exist
        services.db.write(lambda conn: revoke_device(conn, bobs, owner_id=ada))
    assert services.db.write(lambda conn: revoke_device(conn, phone, owner_id=ada)) == {s1}
    assert services.db.write(lambda conn: revoke_device(conn, phone)) == set()  # idempotent
    assert services.db.query("SELECT ended_at FROM web_sessions WHERE id = ?", (s2,))[0]["ended_at"] is None
    assert services.db.query("SELECT revoked_at FROM devices WHERE id = ?", (bobs,))[0]["revoked_at"] is None


def test_revoking_a_user_ends_every_device_session_and_pending_invite(services: Services) -> None:
    ada = services.db.write(lambda conn: create_user(conn, "Ada", "member"))["id"]
    phone = _device(services, ada)
    session = services.db.write(lambda conn: start_session(conn, ada, phone, 30))[1]
    pending = services.db.write(lambda conn: issue_invite(conn, ada, 24))
    assert services.db.write(lambda conn: revoke_user(conn, ada)) == {session}
    assert services.db.query("SELECT revoked_at FROM devices WHERE id = ?", (phone,))[0]["revoked_at"]
    with pytest.raises(Exception, match="does not work any more"):
        services.db.write(lambda conn: redeem_invite(conn, pending.token, b"\x05" * 32, "tablet"))
    events = [r["event"] for r in services.db.query("SELECT event FROM audit_log ORDER BY id")]
    assert events[-1] == "user_revoked" and "enroll" in events and "user_added" in events
