from __future__ import annotations

import time

import pytest

from treazr.auth.invites import invite_url, issue_invite, redeem_invite
from treazr.auth.keys import token_hash
from treazr.auth.users import create_user
from treazr.errors import AuthenticationError, Conflict, InvalidInput
from treazr.services import Services


@pytest.fixture
def ada(services: Services) -> int:
    return int(services.db.write(lambda conn: create_user(conn, "Ada", "member"))["id"])


def test_invite_is_stored_hashed_and_works_once(services: Services, ada: int) -> None:
    invite = services.db.write(lambda conn: issue_invite(conn, ada, 24))
    assert invite.url("https://h:8443/") == f"https://h:8443/invite#{invite.token}" == invite_url("https://h:8443",
                                                                                                  invite.token)
    stored = services.db.query("SELECT token_hash FROM invites")
    assert stored == [{"token_hash": token_hash(invite.token)}]
    assert invite.token.encode() not in services.data.database.read_bytes()
    device = services.db.write(lambda conn: redeem_invite(conn, invite.token, b"\x01" * 32, "Phone"))
    assert device["user_id"] == ada and device["label"] == "Phone"
    with pytest.raises(AuthenticationError, match="already used"):
        services.db.write(lambda conn: redeem_invite(conn, invite.token, b"\x02" * 32, "Phone"))


def test_expired_unknown_and_bad_invites_are_refused_and_nothing_changes(services: Services, ada: int) -> None:
    old = services.db.write(lambda conn: issue_invite(conn, ada, 24, now=time.time() - 25 * 3600))
    for token in (old.token, "not-a-real-invite", ""):
        with pytest.raises(AuthenticationError):
            services.db.write(lambda conn, t=token: redeem_invite(conn, t, b"\x01" * 32, "Phone"))
    fresh = services.db.write(lambda conn: issue_invite(conn, ada, 24))
    with pytest.raises(InvalidInput):
        services.db.write(lambda conn: redeem_invite(conn, fresh.token, b"\x01" * 32, ""))
    assert services.db.query("SELECT count(*) AS n FROM devices")[0]["n"] == 0
    # the rejected label did not spend the invite
    services.db.write(lambda conn: redeem_invite(conn, fresh.token, b"\x01" * 32, "Phone"))


def test_a_new_invite_beyond_the_cap_cancels_the_oldest_unused_one(services: Services, ada: int) -> None:
    issued = [services.db.write(lambda conn: issue_invite(conn, ada, 24, keep=3)) for _ in range(5)]
    live = services.db.query("SELECT token_hash FROM invites WHERE cancelled_at IS NULL ORDER BY id")
    assert live == [{"token_hash": token_hash(i.token)} for i in issued[2:]]
    for dead in issued[:2]:
        with pytest.raises(AuthenticationError):
            services.db.write(lambda conn, t=dead.token: redeem_invite(conn, t, b"\x01" * 32, "Phone"))
    services.db.write(lambda conn: redeem_invite(conn, issued[2].token, b"\x01" * 32, "Phone"))
    services.db.write(lambda conn: issue_invite(conn, ada, 24, keep=3))  # a used invite does not count
    assert services.db.query("SELECT count(*) AS n FROM invites WHERE cancelled_at IS NULL AND used_at IS NULL") \
        == [{"n": 3}]


def test_a_key_can_only_be_one_device(services: Services, ada: int) -> None:
    first = services.db.write(lambda conn: issue_invite(conn, ada, 24))
    second = services.db.write(lambda conn: issue_invite(conn, ada, 24))
    services.db.write(lambda conn: redeem_invite(conn, first.token, b"\x01" * 32, "Phone"))
    with pytest.raises(Conflict):
        services.db.write(lambda conn: redeem_invite(conn, second.token, b"\x01" * 32, "Phone"))
    assert services.db.query("SELECT used_at FROM invites WHERE id = 2")[0]["used_at"] is None
