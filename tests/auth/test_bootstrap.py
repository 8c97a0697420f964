from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import SigningKey

from treazr.auth.bootstrap import first_start_lines, invite_base_urls
from treazr.auth.invites import redeem_invite
from treazr.auth.users import revoke_user
from treazr.errors import AuthenticationError
from treazr.services import Services
from treazr.web.server import ServerPlan


def _plan() -> ServerPlan:
    return ServerPlan("127.0.0.1", 8443, 8080, Path("c.pem"), Path("k.pem"))


def _token(lines: list[str]) -> str:
    urls = [line.strip() for line in lines if "/invite#" in line]
    assert urls, lines
    return urls[0].split("#", 1)[1]


def test_first_start_prints_one_admin_invite_until_an_admin_has_a_device(services: Services) -> None:
    lines = first_start_lines(services, _plan())
    assert any(line.strip().startswith("https://127.0.0.1:8443/invite#") for line in lines), lines
    first = _token(lines)
    second = _token(first_start_lines(services, _plan()))  # restarted before using it: a fresh link, same admin
    assert first != second
    assert services.db.query("SELECT name, role FROM users") == [{"name": "admin", "role": "admin"}]
    with pytest.raises(AuthenticationError):  # each start's link replaces the last: one in a log stays dead
        services.db.write(lambda conn: redeem_invite(conn, first, bytes(SigningKey.generate().verify_key), "Old"))
    services.db.write(lambda conn: redeem_invite(conn, second, bytes(SigningKey.generate().verify_key), "PC"))
    assert first_start_lines(services, _plan()) == []
    services.db.write(lambda conn: revoke_user(conn, 1))  # locked out: the next start offers a way back in
    assert _token(first_start_lines(services, _plan()))


def test_invite_urls_prefer_the_public_url(services: Services) -> None:
    services.settings.server.public_url = "https://games.example.home/"
    assert invite_base_urls(services.settings) == ["https://games.example.home"]
    services.settings.server.public_url = ""
    services.settings.server.host = "0.0.0.0"
    urls = invite_base_urls(services.settings, "https")
    assert urls[-1] == "https://localhost:8443" and all(u.startswith("https://") for u in urls)
