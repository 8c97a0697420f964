"""Uploading ROMs: streamed to disk, identified like ``treazr import``, size-limited, scanned by the hook,
refused for children, and cleaned up when the connection drops half-way (against a real server)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import start_server
from tests.support.identity import sign_up_sync
from tests.web._webapp import Family, sign_up_family
from treazr.composition import open_treazr
from treazr.services import Services
from treazr.settings import Settings, load_settings
from treazr.web.app import create_app

OCTETS = {"Content-Type": "application/octet-stream"}


def _settings(tmp_path: Path, **library: object) -> Settings:
    return load_settings(overrides={"data_dir": str(tmp_path / "data"), "server": {"tls": "off"},
                                    "library": library}, environ={})


@pytest.fixture
def library_settings() -> dict[str, object]:
    return {}


@pytest.fixture
def upload_services(tmp_path: Path, library_settings: dict[str, object]) -> Iterator[Services]:
    opened = open_treazr(_settings(tmp_path, **library_settings))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
async def client(upload_services: Services) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(upload_services), timeout=60) as test_client:
        yield test_client


@pytest.fixture
async def family(client: AsyncTestClient, upload_services: Services) -> Family:
    return await sign_up_family(client, upload_services)


def _leftovers(services: Services) -> list[Path]:
    partial = services.data.uploads / ".partial"
    return list(partial.iterdir()) if partial.is_dir() else []


async def test_upload_is_recognised_and_playable(client: AsyncTestClient, family: Family,
                                                 upload_services: Services, roms: Path) -> None:
    rom = (roms / "nes" / "nestest.nes").read_bytes()
    response = await client.post("/api/uploads?name=nestest.nes", content=rom, headers={**family.ada.headers, **OCTETS})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["game"]["title"] == "nestest" and body["game"]["platform"] == "nes"
    assert body["identified"]["size"] == len(rom) and body["report"]["added"] == 1 and body["size"] == len(rom)
    stored = upload_services.data.uploads / "library" / "nes" / "nestest.nes"
    assert stored.read_bytes() == rom and _leftovers(upload_services) == []
    games = (await client.get("/api/games", headers=family.bob.headers)).json()["games"]
    assert [g["title"] for g in games] == ["nestest"] and games[0]["playable"]
    again = await client.post("/api/uploads?name=nestest.nes", content=rom, headers={**family.ada.headers, **OCTETS})
    assert again.status_code == 201 and again.json()["game"]["id"] == body["game"]["id"]  # same content, same game


async def test_a_zip_is_identified_by_its_rom(client: AsyncTestClient, family: Family,
                                              roms: Path, tmp_path: Path) -> None:
    import zipfile

    archive = tmp_path / "pad.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(roms / "gb" / "cpu_instrs.gb", "cpu_instrs.gb")
    response = await client.post("/api/uploads?name=Blargg%20CPU.zip", content=archive.read_bytes(),
                                 headers={**family.admin.headers, **OCTETS})
    assert response.status_code == 201, response.text
    assert response.json()["game"]["platform"] == "gb"


async def test_not_a_rom_is_refused_and_nothing_is_kept(client: AsyncTestClient, family: Family,
                                                        upload_services: Services) -> None:
    response = await client.post("/api/uploads?name=notes.xyz", content=b"hello" * 100,
                                 headers={**family.ada.headers, **OCTETS})
    assert response.status_code == 422, response.text
    assert "notes" in response.json()["error"]
    assert _leftovers(upload_services) == [] and not (upload_services.data.uploads / "library").exists()
    nameless = await client.post("/api/uploads?name=..", content=b"x", headers={**family.ada.headers, **OCTETS})
    assert nameless.status_code == 400


async def test_children_never_upload(client: AsyncTestClient, family: Family, roms: Path) -> None:
    response = await client.post("/api/uploads?name=a.nes", content=(roms / "nes" / "nestest.nes").read_bytes(),
                                 headers={**family.kid.headers, **OCTETS})
    assert response.status_code == 403
    page = await client.get("/upload", headers=family.kid.headers)
    assert page.status_code == 200 and "cannot upload" in page.text and 'id="dropzone"' not in page.text


@pytest.mark.parametrize("library_settings", [{"member_uploads": False}])
async def test_members_upload_only_when_allowed(client: AsyncTestClient, family: Family, roms: Path) -> None:
    rom = (roms / "nes" / "nestest.nes").read_bytes()
    refused = await client.post("/api/uploads?name=a.nes", content=rom, headers={**family.ada.headers, **OCTETS})
    assert refused.status_code == 403 and "Only admins" in refused.json()["error"]
    allowed = await client.post("/api/uploads?name=a.nes", content=rom, headers={**family.admin.headers, **OCTETS})
    assert allowed.status_code == 201


@pytest.mark.parametrize("library_settings", [{"max_upload_mb": 1}])
async def test_too_large_is_refused_declared_or_streamed(client: AsyncTestClient, family: Family,
                                                         upload_services: Services) -> None:
    big = b"\0" * ((1 << 20) + 1)
    declared = await client.post("/api/uploads?name=big.nes", content=big, headers={**family.ada.headers, **OCTETS})
    assert declared.status_code == 413 and "1 MB" in declared.json()["error"]

    assert _leftovers(upload_services) == []


@pytest.mark.parametrize("library_settings", [{"scan_hook": "sh -c 'echo FOUND Eicar-Test-Signature; exit 1' {path}"}])
async def test_scan_hook_rejects_and_admins_see_why(client: AsyncTestClient, family: Family,
                                                    upload_services: Services, roms: Path) -> None:
    rom = (roms / "nes" / "nestest.nes").read_bytes()
    member = await client.post("/api/uploads?name=a.nes", content=rom, headers={**family.ada.headers, **OCTETS})
    assert member.status_code == 422 and "exit status 1" in member.json()["error"]
    assert "Eicar" not in member.json()["error"]
    admin = await client.post("/api/uploads?name=a.nes", content=rom, headers={**family.admin.headers, **OCTETS})
    assert admin.status_code == 422 and "FOUND Eicar-Test-Signature" in admin.json()["error"]
    assert _leftovers(upload_services) == [] and upload_services.db.query("SELECT id FROM games") == []


@pytest.mark.parametrize("library_settings", [{"scan_hook": "sh -c 'test -s \"$0\"' {path}"}])
async def test_scan_hook_that_passes_sees_the_file(client: AsyncTestClient, family: Family, roms: Path) -> None:
    rom = (roms / "gb" / "cpu_instrs.gb").read_bytes()
    response = await client.post("/api/uploads?name=c.gb", content=rom, headers={**family.ada.headers, **OCTETS})
    assert response.status_code == 201, response.text


@pytest.mark.slow
def test_an_interrupted_upload_leaves_nothing_behind(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", tmp_path / "server.log", tls="off",
                          env={"TREAZR_LIBRARY_MAX_UPLOAD_MB": "1"})
    try:
        services = open_treazr(load_settings(overrides={"data_dir": str(server.data_dir)}, environ={}))
        try:
            with httpx.Client(base_url=server.url) as http:
                ada = sign_up_sync(http, services, "Ada")

                def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what arrives
                    for _ in range(3):
                        yield b"\0" * (512 * 1024)

                streamed = http.post("/api/uploads?name=big.nes", content=chunks(), headers={**ada.headers, **OCTETS})
                assert streamed.status_code == 413, streamed.text
        finally:
            services.close()
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall((f"POST /api/uploads?name=half.nes HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         f"Cookie: {ada.headers['Cookie']}\r\nOrigin: {ada.origin}\r\n"
                         "Content-Type: application/octet-stream\r\nContent-Length: 900000\r\n\r\n").encode())
            raw.sendall(b"\0" * 300_000)  # of the 900 kB announced, then the line drops
            partial = server.data_dir / "uploads" / ".partial"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (partial.is_dir() and any(partial.iterdir())):
                time.sleep(0.05)
            assert any(partial.iterdir()), "the upload never started writing"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(partial.iterdir()):
            time.sleep(0.05)
        assert list(partial.iterdir()) == []
    finally:
        assert server.stop() == 0
    assert "Traceback" not in server.log()
