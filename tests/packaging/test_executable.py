"""The one-file executable stands alone: built once per session, then run from an empty environment.

Each test runs in two places: on this machine, from a copy of ``dist/treazr`` outside the repository,
and inside a bare Debian root made by ``debootstrap`` (``packaging/debian_root.sh``: glibc and coreutils,
no Python, no libretro), entered with ``chroot`` in a private mount namespace. Either way the process
gets an environment holding only ``HOME`` (and ``TMPDIR``) and a working directory outside the
repository, and the server test checks the whole process tree's memory maps: nothing may come from the
checkout, and in the Debian root nothing from outside that root. The checkout's own ``treazr`` serves
only as the reference the executable's output must match.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import websockets

import treazr
from tests.conftest import free_port
from tests.support.identity import Identity, sign_up_sync
from tests.support.rom_folder import rom_folder
from treazr.composition import open_treazr
from treazr.settings import load_settings
from treazr.streaming.protocol import KIND_VIDEO, PROTOCOL_VERSION

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent.parent
ROMS = rom_folder()
ROM = Path("nes") / "nes15-NTSC.nes"
BUILD_TIMEOUT_S = 30 * 60
# Enter the Debian root: a private mount namespace (undone when the process ends) with /proc and the
# shared ROMs (read-only) mounted, then chroot. Every step execs, so the pid is the executable's own.
_ENTER_ROOT = ('root=$1 roms=$2; shift 2; /usr/bin/mount -t proc proc "$root/proc" && '
               '/usr/bin/mount -o bind,ro "$roms" "$root/mnt/roms" && exec /usr/sbin/chroot "$root" "$@"')


@dataclass(frozen=True)
class Place:
    """Where the executable runs: this machine (root ``/``) or a bare Debian root."""

    name: str
    root: Path
    executable: Path  # as the executable itself sees paths

    @property
    def roms(self) -> Path:
        return ROMS if self.name == "host" else Path("/mnt/roms")

    def outside(self, inner: Path) -> Path:
        """``inner`` (a path as the executable sees it) as this test process sees it."""
        return self.root / inner.relative_to("/")

    def popen(self, args: list[str], env: dict[str, str], cwd: Path, **options: object) -> subprocess.Popen[bytes]:
        """Start the executable with exactly ``env`` in ``cwd`` (both as it sees them)."""
        if self.name == "host":
            return subprocess.Popen([str(self.executable), *args], env=env, cwd=cwd,  # type: ignore[call-overload]
                                    **options)
        inner = ["/usr/bin/env", "-i", "-C", str(cwd), *(f"{key}={value}" for key, value in env.items()),
                 str(self.executable), *args]
        return subprocess.Popen(  # type: ignore[call-overload]
            ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", _ENTER_ROOT, "sh",
             str(self.root), str(ROMS), *inner], env={}, cwd="/", **options)


@pytest.fixture(scope="session")
def built_executable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``packaging/build.sh`` (which reuses dist/treazr when it is newer than all it bundles), then a copy."""
    subprocess.run(["bash", str(REPO / "packaging" / "build.sh")], cwd=REPO, check=True, timeout=BUILD_TIMEOUT_S,
                   stdout=subprocess.DEVNULL)
    copy = tmp_path_factory.mktemp("executable") / "treazr"
    shutil.copy2(REPO / "dist" / "treazr", copy)
    return copy


@pytest.fixture(scope="session", params=["host", "debian"])
def place(request: pytest.FixtureRequest, built_executable: Path) -> Iterator[Place]:
    if request.param == "host":
        yield Place("host", Path("/"), built_executable)
        return
    made = subprocess.run(["bash", str(REPO / "packaging" / "debian_root.sh")], check=True, capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT_S)
    root = Path(made.stdout.strip().splitlines()[-1])
    assert not (root / "usr" / "bin" / "python3").exists(), "the Debian root should have no Python"
    (root / "mnt" / "roms").mkdir(parents=True, exist_ok=True)
    folder = Path("/opt") / f"treazr-{uuid.uuid4().hex[:8]}"
    (root / folder.relative_to("/")).mkdir(parents=True)
    shutil.copy2(built_executable, root / folder.relative_to("/") / "treazr")
    try:
        yield Place("debian", root, folder / "treazr")
    finally:
        shutil.rmtree(root / folder.relative_to("/"))


@dataclass
class Frozen:
    """The executable in its place, with a private home (holding the data), working directory and TMPDIR."""

    place: Place
    home: Path  # inner paths, as the executable sees them

    @property
    def workdir(self) -> Path:
        return self.home / "cwd"

    @property
    def data_dir(self) -> Path:
        return self.home / "treazr-data"

    @property
    def tmp(self) -> Path:
        """Where the one-file bootloader unpacks the bundle (and must clean up)."""
        return self.home / "tmp"

    def outside(self, inner: Path) -> Path:
        return self.place.outside(inner)

    def start(self, *args: str, **options: object) -> subprocess.Popen[bytes]:
        return self.place.popen(["--data-dir", str(self.data_dir), *args],
                                {"HOME": str(self.home), "TMPDIR": str(self.tmp)}, self.workdir, **options)

    def run(self, *args: str, timeout: float = 180) -> str:
        process = self.start(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"treazr {' '.join(args)} exited {process.returncode}:\n{err.decode()}"
        return str(out.decode())


@pytest.fixture
def frozen(place: Place, tmp_path: Path) -> Iterator[Frozen]:
    home = tmp_path / "home" if place.name == "host" else Path("/tmp") / f"treazr-test-{uuid.uuid4().hex[:8]}"
    made = Frozen(place, home)
    for folder in (made.home, made.workdir, made.tmp):
        made.outside(folder).mkdir(parents=True)
    assert REPO not in made.outside(home).parents
    try:
        yield made
    finally:
        if place.name != "host":
            shutil.rmtree(made.outside(home), ignore_errors=True)


def test_version_in_an_empty_environment(place: Place, tmp_path: Path) -> None:
    process = place.popen(["--version"], {}, tmp_path if place.name == "host" else Path("/"),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == f"treazr, version {treazr.__version__}"


def _plain(frozen: Frozen, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run without ``--data-dir``, so the executable picks its data directory itself; (exit code, stderr)."""
    process = frozen.place.popen(args, {"TMPDIR": str(frozen.tmp), **env}, frozen.workdir,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=180)
    return process.returncode, err.decode()


@pytest.mark.parametrize("place", ["host"], indirect=True)  # the same code decides in the Debian root
def test_data_directory_defaults_and_config_file(frozen: Frozen) -> None:
    """XDG data home, else ~/.local/share; next to the executable with --portable; config.toml read there."""
    rom = str(frozen.place.roms / ROM)
    xdg = frozen.home / "xdg"
    assert _plain(frozen, ["import", rom], {"HOME": str(frozen.home), "XDG_DATA_HOME": str(xdg)})[0] == 0
    assert frozen.outside(xdg / "treazr" / "treazr.db").is_file()
    assert _plain(frozen, ["import", rom], {"HOME": str(frozen.home)})[0] == 0
    assert frozen.outside(frozen.home / ".local" / "share" / "treazr" / "treazr.db").is_file()

    portable = frozen.outside(frozen.place.executable.parent / "treazr-data")
    try:
        assert _plain(frozen, ["--portable", "import", rom], {"HOME": str(frozen.home)})[0] == 0
        assert (portable / "treazr.db").is_file()
    finally:
        shutil.rmtree(portable, ignore_errors=True)

    (frozen.outside(xdg / "treazr" / "config.toml")).write_text("[server]\nport = 70000\n")
    code, err = _plain(frozen, ["serve"], {"HOME": str(frozen.home), "XDG_DATA_HOME": str(xdg)})
    assert code != 0 and "server.port" in err and "Traceback" not in err, err


def test_every_bundled_core_loads_from_the_bundle(frozen: Frozen) -> None:
    """The build machine's cores travel inside the executable and load there, with the libraries they need."""
    machine_cores = Path(os.environ.get("TREAZR_BUNDLE_CORES_FROM", "/usr/lib/x86_64-linux-gnu/libretro"))
    expected = {path.name.removesuffix("_libretro.so") for path in machine_cores.glob("*_libretro.so")}
    assert expected, f"no libretro cores on this build machine in {machine_cores}"
    listing = json.loads(frozen.run("--json", "cores", "list"))
    found = {core["id"]: core for core in listing["cores"]}
    assert expected | {"treazr_demo"} <= set(found), listing
    for core_id in expected | {"treazr_demo"}:
        assert found[core_id]["error"] is None, found[core_id]
        assert "/_MEI" in found[core_id]["path"], f"{core_id} was not taken from the bundle: {found[core_id]}"


def test_service_unit_is_accepted_by_systemd(built_executable: Path, tmp_path: Path) -> None:
    unit = (REPO / "packaging" / "treazr.service").read_text()
    settings = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    command = settings["ExecStart"].split()
    assert command[1:] == ["--data-dir", f"/var/lib/{settings['StateDirectory']}", "serve"]
    assert settings["User"] not in ("root", "") and settings["Restart"] == "on-failure"
    copy = tmp_path / "treazr.service"
    copy.write_text(unit.replace(command[0], str(built_executable)))
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _png_pixels(path: Path) -> np.ndarray:
    """The image decoded by FFmpeg's PNG decoder: a second, independent reader of our PNG writer."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def test_import_then_run_a_rom_for_300_frames_with_a_screenshot(frozen: Frozen, tmp_path: Path) -> None:
    rom = frozen.place.roms / ROM
    frozen.run("import", str(rom))
    with sqlite3.connect(frozen.outside(frozen.data_dir) / "treazr.db") as conn:
        games = conn.execute("SELECT g.platform FROM games g JOIN files f ON f.game_id = g.id").fetchall()
    conn.close()
    assert games == [("nes",)]

    shot = frozen.home / "frozen.png"
    report = json.loads(frozen.run("--json", "run", str(rom), "--frames", "300", "--screenshot", str(shot)))
    assert report["frames"] == 300
    assert "/_MEI" in report["core_path"], "the executable should play with its bundled core"
    assert _png_size(frozen.outside(shot)) == (report["width"], report["height"])

    # The checkout, with the build machine's own core, must produce the very same picture.
    reference_shot = tmp_path / "checkout.png"
    reference = subprocess.run(
        [sys.executable, "-m", "treazr", "--data-dir", str(tmp_path / "checkout-data"), "--json", "run",
         str(ROMS / ROM), "--frames", "300", "--screenshot", str(reference_shot)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    expected = json.loads(reference.stdout)
    assert (report["width"], report["height"], report["frame_hash"]) == (
        expected["width"], expected["height"], expected["frame_hash"])
    pixels = _png_pixels(frozen.outside(shot))
    assert pixels.shape == (expected["height"], expected["width"], 3)
    assert np.array_equal(pixels, _png_pixels(reference_shot))
    assert pixels.std() > 0, "the screenshot is one flat colour"


@dataclass
class FrozenServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the one-file bootloader, Python, and any workers)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending += [int(child) for child in children]
    return found


def _mapped_files(pids: list[int]) -> set[str]:
    """Every file mapped into these processes, as this (unchrooted) process names it."""
    files: set[str] = set()
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
        except OSError:
            continue
        files |= {line.split(maxsplit=5)[5] for line in lines if len(line.split(maxsplit=5)) == 6}
    # Shared anonymous memory shows up as "/dev/zero (deleted)", "/memfd:..." or "/SYSV...": no file.
    return {name for name in files
            if name.startswith("/") and not name.startswith(("/memfd:", "/SYSV", "/dev/zero (deleted)"))}


@pytest.fixture
def frozen_server(frozen: Frozen, tmp_path: Path) -> Iterator[FrozenServer]:
    port, http_port = free_port(), free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = frozen.start("serve", "--host", "127.0.0.1", "--port", str(port), "--http-port", str(http_port),
                               "--tls", "auto", stdout=log, stderr=subprocess.STDOUT)
    server = FrozenServer(process, f"https://127.0.0.1:{port}", log_path)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _wait_healthy(server: FrozenServer, ca: Path) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.process.poll() is None, f"serve exited with {server.process.returncode}:\n{server.log()}"
        if ca.is_file():
            try:
                context = ssl.create_default_context(cafile=str(ca))
                url = server.url.replace("127.0.0.1", "localhost")
                with urllib.request.urlopen(f"{url}/healthz", timeout=5, context=context) as response:
                    return dict(json.loads(response.read()))
            except (OSError, urllib.error.URLError, ssl.SSLError):
                pass
        time.sleep(0.1)
    raise AssertionError(f"/healthz did not answer over HTTPS within 120 s:\n{server.log()}")


def _start_demo_session(data_dir: Path, url: str, ca: Path) -> tuple[Identity, str]:
    """Sign an admin in (the real way: key, invite, signed challenge) and start the demo core (game 0)."""
    settings = load_settings(overrides={"data_dir": str(data_dir)}, environ={})
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(ca)), timeout=30) as client:
        services = open_treazr(settings)
        try:
            admin = sign_up_sync(client, services, "Ada", role="admin")
        finally:
            services.close()
        response = client.post("/api/play/sessions", json={"game_id": 0, "chroma": "420"}, headers=admin.headers)
    assert response.status_code == 201, response.text
    session = response.json()["session"]
    assert session["game_id"] == 0 and session["platform"] == "demo"
    return admin, str(session["token"])


async def _watch(ws_url: str, who: Identity, ca: Path, pictures: int) -> list[tuple[int, np.ndarray]]:
    """Join the stream like a player page and decode ``pictures`` H.264 frames with FFmpeg."""
    decoder = av.CodecContext.create("h264", "r")
    decoded: list[tuple[int, np.ndarray]] = []
    async with websockets.connect(ws_url, additional_headers=who.headers, max_size=1 << 24,
                                  ssl=ssl.create_default_context(cafile=str(ca))) as socket:
        await socket.send(json.dumps({"type": "hello", "protocol": PROTOCOL_VERSION, "chroma444": False}))
        async with asyncio.timeout(60):
            while len(decoded) < pictures:
                message = await socket.recv()
                if isinstance(message, bytes) and message[0] == KIND_VIDEO:
                    frame_no = int.from_bytes(message[4:8], "big")
                    packet = av.Packet(message[16:])
                    decoded += [(frame_no, frame.to_ndarray(format="rgb24")) for frame in decoder.decode(packet)]
    return decoded


def _foreign_files(frozen: Frozen, pids: list[int]) -> set[str]:
    """Mapped files the executable should not be using: the checkout's, or (in the Debian root) the host's."""
    mapped = _mapped_files(pids)
    if frozen.place.name == "host":
        return {name for name in mapped if name.startswith(str(REPO))}
    return {name for name in mapped if not name.startswith(str(frozen.place.root) + "/")}


def test_serve_over_https_play_the_demo_core_then_stop_cleanly(frozen: Frozen, frozen_server: FrozenServer) -> None:
    ca = frozen.outside(frozen.data_dir / "certificates" / "ca.pem")
    health = _wait_healthy(frozen_server, ca)
    assert health["status"] == "ok" and health["database"] == "ok"

    url = frozen_server.url.replace("127.0.0.1", "localhost")
    who, token = _start_demo_session(frozen.outside(frozen.data_dir), url, ca)
    pictures = asyncio.run(_watch(f"{url.replace('https', 'wss')}/api/play/sessions/{token}/ws", who, ca, 10))
    numbers = [number for number, _ in pictures]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert any(picture.std() > 0 for _, picture in pictures), "the demo core's pictures are blank"

    tree = _tree(frozen_server.process.pid)
    workers = [pid for pid in tree if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    assert workers, "the game should run in a worker process of the executable"
    foreign = _foreign_files(frozen, tree)
    assert not foreign, f"the executable uses files from outside its place: {sorted(foreign)}"
    unpacked = {name.split("/_MEI", 1)[1].split("/", 1)[0] for name in _mapped_files(tree) if "/_MEI" in name}
    assert len(unpacked) == 1, f"the worker unpacked the bundle again instead of reusing the server's: {unpacked}"

    frozen_server.process.send_signal(signal.SIGTERM)  # with the game still running
    assert frozen_server.process.wait(timeout=60) == 0, frozen_server.log()
    assert not [pid for pid in tree if os.path.exists(f"/proc/{pid}")], "processes outlived the server"
    assert not list(frozen.outside(frozen.tmp).glob("_MEI*")), "the unpacked bundle was left behind"


def test_killing_the_bootloader_stops_the_server_and_removes_its_unpacked_files(
        frozen: Frozen, frozen_server: FrozenServer) -> None:
    """``kill -9`` of the process a supervisor started (the one-file bootloader) used to orphan the server."""
    _wait_healthy(frozen_server, frozen.outside(frozen.data_dir / "certificates" / "ca.pem"))
    tree = _tree(frozen_server.process.pid)
    executable = frozen.outside(frozen.place.executable)
    ours = [pid for pid in tree if os.path.samefile(f"/proc/{pid}/exe", executable)]
    assert len(ours) == 2, f"expected the bootloader and the program it started, found {ours}"
    bootloader = next(pid for pid in ours if int(Path(f"/proc/{pid}/stat").read_text().split()[3]) not in ours)
    assert list(frozen.outside(frozen.tmp).glob("_MEI*")), "the bundle should be unpacked while it serves"

    os.kill(bootloader, signal.SIGKILL)

    deadline = time.monotonic() + 60
    while [pid for pid in tree if os.path.exists(f"/proc/{pid}")] and time.monotonic() < deadline:
        frozen_server.process.poll()
        time.sleep(0.1)
    assert not [pid for pid in tree if os.path.exists(f"/proc/{pid}")], f"the server outlived its bootloader:\n" \
                                                                         f"{frozen_server.log()}"
    assert not list(frozen.outside(frozen.tmp).glob("_MEI*")), "the unpacked bundle was left behind"
    assert "Application shutdown complete." in frozen_server.log(), "the server was not stopped cleanly"
