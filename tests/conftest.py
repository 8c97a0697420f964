"""Fixtures shared by every test: a settings object on a temporary data dir, opened services, ROM paths."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.rom_folder import rom_folder
from treazr.composition import open_treazr
from treazr.services import Services
from treazr.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
ROMS = rom_folder()  # $TREAZR_TEST_ROMS, by default ../shared/roms


@pytest.fixture
def roms() -> Path:
    assert ROMS.is_dir(), f"the test ROMs are missing at {ROMS}: python3 tests/support/rom_folder.py says more"
    return ROMS


# Automatic covers after imports would run emulators behind most tests' backs (and a test expecting "no cover
# yet" would see one): they are off in tests, for the CLI, servers and in-process apps alike, unless a test
# turns them on (tests/emulation/test_auto_covers.py and the tests next to it).
AUTO_COVERS_OFF = {"TREAZR_LIBRARY_AUTO_COVERS": "0"}


@pytest.fixture(autouse=True)
def _no_auto_covers(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AUTO_COVERS_OFF.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(overrides={"data_dir": str(tmp_path / "data"), "library": {"auto_covers": False},
                                    "server": {"host": "127.0.0.1", "tls": "off"}}, environ={})


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Opened services; the aiosqlite reader is closed on the test's own event loop, then the rest."""
    opened = open_treazr(settings)
    try:
        yield opened
    finally:
        await opened.db.close_async_reader()
        opened.close()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class LiveServer:
    """A real ``treazr serve`` process on loopback."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path
    http_port: int

    @property
    def ca_path(self) -> Path:
        return self.data_dir / "certificates" / "ca.pem"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM by pid, then wait; returns the exit code (kills after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_server(data_dir: Path, log_path: Path, *, tls: str = "auto", env: dict[str, str] | None = None,
                 extra_args: tuple[str, ...] = ()) -> LiveServer:
    """Start ``treazr serve`` on 127.0.0.1 and wait until /healthz answers (or fail with its log)."""
    port, http_port = free_port(), free_port()
    command = [sys.executable, "-m", "treazr", "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--http-port", str(http_port), "--tls", tls, *extra_args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TREAZR_")}
    environment.update({**AUTO_COVERS_OFF, **(env or {})})
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child owns it until it exits
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=environment, cwd=REPO)
    log_file.close()
    scheme = "https" if tls != "off" else "http"
    server = LiveServer(process, f"{scheme}://127.0.0.1:{port}", data_dir, log_path, http_port)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"treazr serve exited with {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2, context=context) as response:
                if response.status == 200:
                    return server
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"treazr serve did not answer /healthz within 60 s:\n{server.log()}")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real HTTPS server (automatic local CA) on loopback with an empty data directory."""
    server = start_server(tmp_path / "server-data", tmp_path / "server.log")
    try:
        yield server
    finally:
        server.stop()
