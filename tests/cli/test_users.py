from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from nacl.signing import SigningKey

from treazr.auth.invites import redeem_invite
from treazr.auth.sessions import start_session
from treazr.cli import main
from treazr.composition import open_treazr
from treazr.settings import load_settings


def _run(data: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data), *args], env={"TREAZR_SERVER_PUBLIC_URL": ""})
    return result.exit_code, result.output


def _enrol(data: Path, url: str) -> None:
    services = open_treazr(load_settings(overrides={"data_dir": str(data)}, environ={}))
    try:
        token = url.split("/invite#", 1)[1]
        device = services.db.write(lambda conn: redeem_invite(conn, token, bytes(SigningKey.generate().verify_key),
                                                              "Laptop"))
        services.db.write(lambda conn: start_session(conn, device["user_id"], device["id"], 30))
    finally:
        services.close()


def test_add_prints_an_invite_url_and_a_qr_code(tmp_path: Path) -> None:
    code, output = _run(tmp_path, "users", "add", "Ada", "--role", "admin")
    assert code == 0, output
    assert "Invite for Ada (admin)" in output
    assert "/invite#" in output and output.count("█") > 100  # the terminal QR code
    code, output = _run(tmp_path, "--json", "users", "add", "Kid", "--role", "child")
    assert code == 0, output
    payload = json.loads(output)
    assert payload["user"]["role"] == "child" and payload["url"].startswith("https://")


def test_list_invite_and_revoke(tmp_path: Path) -> None:
    code, output = _run(tmp_path, "--json", "users", "add", "Ada")
    _enrol(tmp_path, json.loads(output)["url"])
    code, output = _run(tmp_path, "--json", "users", "invite", "ada")
    assert code == 0 and json.loads(output)["user"]["name"] == "Ada"
    code, output = _run(tmp_path, "users", "list")
    assert code == 0 and "Ada (member), 1 device(s)" in output and "#1 Laptop" in output
    code, output = _run(tmp_path, "--json", "users", "list")
    assert json.loads(output)["users"][0]["devices"][0]["revoked_at"] is None
    code, output = _run(tmp_path, "users", "revoke", "Ada", "--device", "7")
    assert code == 1 and "Ada has no device #7" in output
    code, output = _run(tmp_path, "users", "revoke", "Ada", "--device", "1")
    assert code == 0 and "1 sign-in session(s) ended" in output
    code, output = _run(tmp_path, "--json", "users", "list")
    assert json.loads(output)["users"][0]["devices"][0]["revoked_at"]
    code, output = _run(tmp_path, "users", "revoke", "Ada")
    assert code == 0 and "every device of Ada" in output


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    assert _run(tmp_path, "users", "add", "Ada")[0] == 0
    code, output = _run(tmp_path, "users", "add", "ada")
    assert code == 1 and output.strip() == "Error: there is already a user called ada"
    code, output = _run(tmp_path, "users", "invite", "Nobody")
    assert code == 1 and "no user called Nobody" in output and "Traceback" not in output
    code, output = _run(tmp_path, "users", "add", "Bob", "--role", "owner")
    assert code == 2 and "owner" in output
    code, output = _run(tmp_path, "users", "list")
    assert "Bob" not in output
