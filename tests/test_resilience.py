"""A killed server (SIGKILL, no chance to clean up) loses nothing: database, saves and sign-ins survive,
its emulation workers do not linger, and the restarted server serves as before."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer, start_server
from tests.support.identity import services_for, sign_up_sync


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=str(server.ca_path)),
                        timeout=30)


@pytest.mark.slow
def test_sigkill_loses_no_save_no_sign_in_and_leaves_no_worker(tmp_path: Path, roms: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, tmp_path / "first.log")
    try:
        imported = subprocess.run(
            [sys.executable, "-m", "treazr", "--data-dir", str(data), "--json", "import", str(roms / "nes")],
            capture_output=True, text=True, timeout=120, check=False)
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["added"] >= 1
        with _client(server) as client, services_for(data) as services:
            ada = sign_up_sync(client, services, "Ada")
            game_id = services.db.query("SELECT id FROM games ORDER BY id LIMIT 1")[0]["id"]
            save = os.urandom(8192)
            uploaded = client.put(f"/api/games/{game_id}/srm", content=save, headers=ada.headers)
            assert uploaded.status_code == 200, uploaded.text
            started = client.post("/api/play/sessions", json={"game_id": 0}, headers=ada.headers)
            assert started.status_code in (200, 201), started.text
        deadline = time.monotonic() + 30
        while not (workers := _children(server.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers, "the play session started no worker process"
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)

    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    lingering = [pid for pid in workers if _alive(pid)]
    for pid in lingering:
        os.kill(pid, signal.SIGKILL)
    assert not lingering, "emulation workers outlived their killed server"

    check = sqlite3.connect(data / "treazr.db")
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()

    again = start_server(data, tmp_path / "second.log")
    try:
        with _client(again) as client:
            cookie = {"Cookie": ada.headers["Cookie"]}
            me = client.get("/api/me", headers=cookie)
            assert me.status_code == 200 and me.json()["user"]["name"] == "Ada", me.text
            kept = client.get(f"/api/games/{game_id}/srm", headers=cookie)
            assert kept.status_code == 200 and kept.content == save
            running = client.get("/api/play/sessions", headers=cookie)
            assert running.status_code == 200
            assert running.json()["sessions"] == [], "a session of the killed server still shows as running"
    finally:
        assert again.stop() == 0, again.log()
