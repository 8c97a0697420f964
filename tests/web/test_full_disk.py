"""A full disk everywhere: signing in, uploading and importing say so in one clear line (HTTP 507, CLI
``Error:``), keep what was on disk, and work again once there is room; logging never raises; /healthz and
the admin page warn; the temporary files of writes a kill interrupted are swept at start. The data
directory is a real, small tmpfs (see ``tests/streaming/test_full_disk.py``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.streaming.client import PlayServer, play_server
from tests.streaming.test_full_disk import fill, settings, small_disk  # noqa: F401 - fixtures
from tests.support.identity import _signed, sign_up
from treazr.cli import main
from treazr.services import Services
from treazr.web.app import create_app
from treazr.web.logs import configure_logging, dropped_records

pytestmark = pytest.mark.slow
FULL = "the server's disk is full"


@pytest.fixture
async def server(services: Services) -> AsyncIterator[PlayServer]:
    async with play_server(create_app(services)) as running:
        yield running


async def test_signing_in_and_uploading_on_a_full_disk_say_so_and_work_again_after(
        server: PlayServer, services: Services, small_disk: Path, roms: Path) -> None:  # noqa: F811
    async with server.client() as client:
        ada = await sign_up(client, services, "Ada", "admin")
        rom = (roms / "nes" / "nestest.nes").read_bytes()
        filler = fill(small_disk)
        try:
            origin = {"Origin": ada.origin}
            challenge = await client.post("/api/auth/challenge", json={"public_key": ada.public_key}, headers=origin)
            if challenge.status_code == 200:
                answer = await client.post("/api/auth/verify", json=_signed(challenge.json(), ada.key, ada.origin),
                                           headers=origin)
            else:
                answer = challenge
            assert answer.status_code == 507, answer.text
            assert answer.json()["error"].startswith(FULL) and "free some space" in answer.json()["error"]

            upload = await client.post("/api/uploads?name=nestest.nes", content=rom,
                                       headers={**ada.headers, "Content-Type": "application/octet-stream"})
            assert upload.status_code == 507, upload.text
            assert "not enough room" in upload.json()["error"] or FULL in upload.json()["error"]
            health = (await client.get("/healthz")).json()
            assert health["status"] == "ok" and health["disk"] == "low"  # still serving, and warning
            admin = await client.get("/admin/server", headers=ada.headers)
            assert admin.status_code == 200 and "nearly full" in admin.text
        finally:
            filler.unlink()
        assert not [p for p in services.data.uploads.rglob("*") if p.is_file()]  # nothing half-received kept
        again = await client.post("/api/auth/challenge", json={"public_key": ada.public_key},
                                  headers={"Origin": ada.origin})
        verified = await client.post("/api/auth/verify", json=_signed(again.json(), ada.key, ada.origin),
                                     headers={"Origin": ada.origin})
        assert verified.status_code == 200, verified.text
        uploaded = await client.post("/api/uploads?name=nestest.nes", content=rom,
                                     headers={**ada.headers, "Content-Type": "application/octet-stream"})
        assert uploaded.status_code == 201, uploaded.text
    assert services.db.query_one("PRAGMA integrity_check") == {"integrity_check": "ok"}


def test_a_copying_import_that_cannot_fit_is_refused_up_front_and_a_full_disk_is_one_error_line(
        services: Services, small_disk: Path, roms: Path) -> None:  # noqa: F811
    data_dir = str(services.data.root)
    runner = CliRunner()
    filler = fill(small_disk)
    try:
        for extra in (["--copy"], []):
            result = runner.invoke(main, ["--data-dir", data_dir, "import", *extra, "--no-covers", str(roms / "nes")])
            assert result.exit_code != 0, result.output
            assert "Error:" in result.output and "Traceback" not in result.output, result.output
            assert "not enough room" in result.output or FULL in result.output, result.output
    finally:
        filler.unlink()
    result = runner.invoke(main, ["--data-dir", data_dir, "import", "--no-covers", str(roms / "nes")])
    assert result.exit_code == 0, result.output
    assert services.db.query_one("PRAGMA integrity_check") == {"integrity_check": "ok"}


def test_logging_to_a_full_disk_drops_the_record_instead_of_raising(
        small_disk: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    logs = small_disk / "logs"
    logs.mkdir()
    treazr = logging.getLogger("treazr")
    kept = list(treazr.handlers), treazr.level, treazr.propagate
    filler = fill(small_disk)
    try:
        configure_logging("info", logs)
        before = dropped_records()
        for n in range(50):
            logging.getLogger("treazr.test").info("a record that cannot be kept on disk %d %s", n, "x" * 2000)
        assert dropped_records() > before
        assert "Logging error" not in capsys.readouterr().err
    finally:
        filler.unlink()
        for handler in list(treazr.handlers):
            treazr.removeHandler(handler)
            handler.close()
        for name in ("uvicorn", "uvicorn.error"):
            for handler in list(logging.getLogger(name).handlers):
                logging.getLogger(name).removeHandler(handler)
                handler.close()
        for handler in kept[0]:
            treazr.addHandler(handler)
        treazr.setLevel(kept[1])
        treazr.propagate = kept[2]


async def test_the_server_sweeps_the_temporary_files_of_interrupted_writes_at_start(services: Services) -> None:
    folder = services.data.states / "1" / "2"
    folder.mkdir(parents=True)
    state = folder / "slot1.state"
    state.write_bytes(b"the whole state")
    leftovers = [folder / ".slot1.state.k2j3h4.tmp", folder / ".slot1.png.x8y7.tmp",
                 services.data.saves / "1" / ".2.srm.ab12.tmp"]
    for leftover in leftovers:
        leftover.parent.mkdir(parents=True, exist_ok=True)
        leftover.write_bytes(b"half")
    async with play_server(create_app(services)):
        assert not [p for p in leftovers if p.exists()]
        assert state.read_bytes() == b"the whole state"
