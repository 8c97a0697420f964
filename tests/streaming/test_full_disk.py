"""Ending a game on a full disk: the game still ends, the person is told what was not saved, and the
session's row is closed as soon as the disk has room again. The data directory is a real, small tmpfs."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.streaming.client import PlayServer, StreamClient, play_server
from tests.support.identity import sign_up
from treazr.services import Services
from treazr.settings import Settings, load_settings
from treazr.web.app import create_app


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs (mounting needs root, which the project's test command has on its machines)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def settings(small_disk: Path) -> Settings:
    return load_settings(overrides={"data_dir": str(small_disk / "data"), "emulation": {"saveram_flush_s": 0.5},
                                    "server": {"host": "127.0.0.1", "tls": "off"}}, environ={})


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    block = b"\0" * (1 << 16)
    with filler.open("wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(block)
            out.flush()
    with pytest.raises(OSError) as full, filler.open("ab") as out:
        out.write(block)
    assert full.value.errno == errno.ENOSPC
    return filler


@pytest.mark.slow
async def test_ending_a_game_on_a_full_disk_ends_it_says_what_was_lost_and_closes_the_row_later(
        server: PlayServer, services: Services, small_disk: Path) -> None:
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada")
        started = await client.post("/api/play/sessions", json={"game_id": 0}, headers=ada.headers)
        assert started.status_code == 201, started.text
        session = started.json()["session"]
        async with StreamClient.connect(server, session["token"], ada) as viewer:
            await viewer.receive(frames=10)
        filler = fill(small_disk)
        try:
            ended = await client.post(f"/api/play/sessions/{session['token']}/end", headers=ada.headers)
            assert ended.status_code == 200, ended.text
            assert ended.json()["warning"] == ("the Continue state could not be saved: could not save state: "
                                               "No space left on device")
            assert session["token"] not in server.manager.sessions
            # the game is over for the player: starting it again is a new session
            row = services.db.query_one("SELECT ended_at FROM play_sessions WHERE id = ?", (session["id"],))
            assert row == {"ended_at": None}  # the disk is full: its end could not be written yet
        finally:
            filler.unlink()
        async with asyncio.timeout(30):  # housekeeping (every second) closes it once there is room
            while services.db.query_one("SELECT 1 AS done FROM play_sessions WHERE id = ? AND ended_at IS NOT NULL",
                                        (session["id"],)) is None:
                await asyncio.sleep(0.1)
        assert services.db.query_one("PRAGMA integrity_check") == {"integrity_check": "ok"}
        assert not list((services.data.states).rglob("*.tmp"))  # no half-written state left behind
        again = await client.post("/api/play/sessions", json={"game_id": 0}, headers=ada.headers)
        assert again.status_code == 201 and again.json()["session"]["started_from"] == "new"


@pytest.mark.slow
async def test_a_battery_save_that_cannot_be_written_reaches_the_player_and_recovers(
        server: PlayServer, services: Services, small_disk: Path) -> None:
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada")
        started = await client.post("/api/play/sessions", json={"game_id": 0}, headers=ada.headers)
        assert started.status_code == 201, started.text
        session = started.json()["session"]
    srm = services.data.saves / str(ada.user_id) / "0.srm"
    async with StreamClient.connect(server, session["token"], ada) as viewer:
        # the demo core's save RAM changes with every point played (the first at frame 118); each flush is
        # recorded in the database as it happens, not only when the game ends
        async with asyncio.timeout(60):
            while services.db.query_one("SELECT size FROM save_ram WHERE user_id = ?", (ada.user_id,)) is None:
                await viewer.receive(frames=10)
        row = services.db.query_one("SELECT core_name, size FROM save_ram WHERE user_id = ?", (ada.user_id,))
        assert row == {"core_name": "Treazr Demo", "size": 16}
        filler = fill(small_disk)
        try:
            good = srm.read_bytes()
            await viewer.receive(until="save_status", timeout=60)
            failed = viewer.control_of("save_status")[-1]
            assert failed["ok"] is False and "No space left on device" in failed["message"], failed
            assert srm.read_bytes() == good  # the last good save is still whole
            assert not list(srm.parent.glob("*.tmp"))
            listed = (await client_get(server, f"/api/play/sessions/{session['token']}", ada))["session"]
            assert listed["save_error"] == failed["message"]  # a page that joins now learns it too
        finally:
            filler.unlink()
        async with asyncio.timeout(60):
            while len(viewer.control_of("save_status")) < 2:
                await viewer.receive(frames=1)
        assert viewer.control_of("save_status")[-1]["ok"] is True


async def client_get(server: PlayServer, path: str, who: object) -> dict[str, object]:
    async with server.client() as client:
        response = await client.get(path, headers=who.headers)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body
