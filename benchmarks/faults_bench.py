"""Fault trials: kill -9 at random moments, a full disk, and count what was lost, corrupt or left behind.

    .venv/bin/python benchmarks/faults_bench.py            # 20 trials of each kind
    .venv/bin/python benchmarks/faults_bench.py --quick    # 3 of each (under a minute)

Every process is a real ``treazr`` on loopback, started here and stopped (or killed) by its own id.

- ``import``: ``treazr import`` of 200 generated NES files (valid headers, random bodies; every other
  trial with ``--copy``) is killed with SIGKILL at a random moment; then ``PRAGMA integrity_check`` must
  say ok, a rerun must finish, and afterwards every file must be in the library exactly once, with no
  temporary or partial file left in the data directory.
- ``server``: a real ``treazr serve`` plays the demo core for one member while a client saves states in
  slots 1 to 3 as fast as the server answers and the battery save is flushed every 0.5 s; the server
  (every other trial with its workers too) is killed with SIGKILL at a random moment and started again.
  Then the database must be ok, every state file whole (its size is the one its note records and the
  core accepts it: the next session loads it), the battery save whole (16 bytes), no temporary file
  left, and the server must serve again.
- ``disk``: (root only: a real 24 MB tmpfs) the same server on a full disk: saving a state must answer
  one clear error and keep the slot's last state, signing in answers 507, and once there is room both
  work again.

Counted in every trial: ``lost`` (a state or save the server had confirmed that is gone), ``corrupt``
(integrity_check not ok, a state or save not whole), ``crashes`` (a server that does not come back or
stops answering), ``tracebacks`` (Python tracebacks in a server's or the CLI's output), ``leftovers``
(temporary files after restart). Targets: all zero. The last line is one JSON object with the figures,
the targets and whether each was met.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGETS = {"lost": 0, "corrupt": 0, "crashes": 0, "tracebacks": 0, "leftovers": 0}
LEFTOVER_GLOBS = (".*.tmp", "*.part", ".*.shot")


# -- helpers ----------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREAZR_")}
    env["TREAZR_LIBRARY_AUTO_COVERS"] = "0"  # the trials are about saves and imports, not cover runs
    return env


def _treazr(data_dir: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "treazr", "--data-dir", str(data_dir), *args], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO, env=_env(), start_new_session=True)


def _integrity_ok(data_dir: Path) -> bool:
    with contextlib.closing(sqlite3.connect(data_dir / "treazr.db")) as conn:
        return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def _leftovers(data_dir: Path) -> list[Path]:
    return [p for pattern in LEFTOVER_GLOBS for p in data_dir.rglob(pattern) if p.is_file()]


def _tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback (most recent call last)") if log.exists() else 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _kill(process: subprocess.Popen[bytes], *, group: bool) -> None:
    """SIGKILL to the process by its id (with ``group``, to its session: its workers too)."""
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    process.wait()


# -- import trials ------------------------------------------------------------------------------------
def _nes_files(folder: Path, count: int, rng: random.Random) -> list[Path]:
    folder.mkdir(parents=True)
    files = []
    for n in range(count):
        header = b"NES\x1a" + bytes([2, 1, 0, 0]) + bytes(8)
        path = folder / f"Game {n:03d}.nes"
        path.write_bytes(header + rng.randbytes(32768 + 8192))
        files.append(path)
    return files


def import_trial(work: Path, n: int, rng: random.Random, folder: Path, count: int) -> Counter[str]:
    got: Counter[str] = Counter()
    data_dir = work / f"import-{n}"
    log = work / f"import-{n}.log"
    copy = ["--copy"] if n % 2 else []
    first = _treazr(data_dir, "import", *copy, "--no-covers", str(folder), log=log)
    time.sleep(rng.uniform(0.3, 2.5))  # start-up is ~0.3 s; the whole import about 2 s here
    _kill(first, group=True)
    if (data_dir / "treazr.db").exists() and not _integrity_ok(data_dir):
        got["corrupt"] += 1
    before = _tracebacks(log)
    rerun = _treazr(data_dir, "import", *copy, "--no-covers", str(folder), log=log)
    if rerun.wait(timeout=300) != 0:
        got["crashes"] += 1
    got["tracebacks"] += _tracebacks(log) - before  # the killed run's output can end anywhere; the rerun's not
    with contextlib.closing(sqlite3.connect(data_dir / "treazr.db")) as conn:
        paths = [row[0] for row in conn.execute("SELECT path FROM files WHERE missing = 0")]
    if len(paths) != count or len(set(paths)) != count:
        got["lost"] += abs(count - len(set(paths)))
        got["corrupt"] += len(paths) - len(set(paths))
    if not _integrity_ok(data_dir):
        got["corrupt"] += 1
    got["leftovers"] += len(_leftovers(data_dir))
    got["trials"] += 1
    return got


# -- server trials --------------------------------------------------------------------------------------
class Server:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.data_dir, self.log = data_dir, log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        self.process = _treazr(self.data_dir, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                               "--http-port", "0", "--tls", "off", log=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _kill(self.process, group=True)


def _configure(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.toml").write_text("[emulation]\nsaveram_flush_s = 0.5\n")


def _sign_up(server: Server) -> tuple[dict[str, str], Any]:
    """A member signed in the real way: the headers of their session, and their identity (key)."""
    import httpx

    from tests.support.identity import sign_up_sync
    from treazr.composition import open_treazr
    from treazr.settings import load_settings

    services = open_treazr(load_settings(overrides={"data_dir": str(server.data_dir)}, environ={}))
    try:
        with httpx.Client(base_url=server.url) as client:
            who = sign_up_sync(client, services, "Ada")
    finally:
        services.close()
    return {"Cookie": f"{who.cookie_name}={who.session}", "Origin": server.url}, who


def _sign_in_status(server: Server, who: Any) -> int:
    """The HTTP status a sign-in ends with (the challenge's, when that already fails)."""
    import httpx

    from tests.support.identity import _signed

    origin = {"Origin": server.url}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        challenge = client.post("/api/auth/challenge", json={"public_key": who.public_key}, headers=origin)
        if challenge.status_code != 200:
            return challenge.status_code
        verified = client.post("/api/auth/verify", json=_signed(challenge.json(), who.key, who.origin), headers=origin)
        return verified.status_code


async def _play_and_save(server: Server, headers: dict[str, str], until: float) -> set[int]:
    """Play the demo and save states round the slots until ``until``; the slots the server confirmed."""
    import httpx
    import websockets

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        started = await client.post("/api/play/sessions", json={"game_id": 0}, headers=headers)
        started.raise_for_status()
        token = started.json()["session"]["token"]
    confirmed: set[int] = set()
    ws_url = server.url.replace("http://", "ws://") + f"/api/play/sessions/{token}/ws"
    with contextlib.suppress(OSError, websockets.ConnectionClosed):
        async with websockets.connect(ws_url, additional_headers=headers, max_size=1 << 24, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "hello", "protocol": 1, "chroma444": True}))
            slot = 1
            await ws.send(json.dumps({"type": "save_state", "slot": slot}))
            while time.monotonic() < until:
                try:
                    message = await asyncio.wait_for(ws.recv(), 0.2)
                except TimeoutError:
                    continue
                if isinstance(message, str) and json.loads(message).get("type") == "saved":
                    confirmed.add(slot)
                    slot = slot % 3 + 1
                    await ws.send(json.dumps({"type": "save_state", "slot": slot}))
    return confirmed


def _states_whole(data_dir: Path) -> tuple[int, int]:
    """(states whose file and note disagree, states recorded in the database whose file is gone)."""
    bad = gone = 0
    with contextlib.closing(sqlite3.connect(data_dir / "treazr.db")) as conn:
        rows = conn.execute("SELECT path, size FROM save_states").fetchall()
    for path, _size in rows:
        state = Path(path)
        if not state.is_file():
            gone += 1
            continue
        try:
            note = json.loads(state.with_suffix(".json").read_text())
        except (OSError, ValueError):
            bad += 1
            continue
        if int(note.get("size", -1)) != state.stat().st_size:
            bad += 1
    return bad, gone


def server_trial(work: Path, n: int, rng: random.Random) -> Counter[str]:
    got: Counter[str] = Counter()
    data_dir, log = work / f"server-{n}", work / f"server-{n}.log"
    _configure(data_dir)
    server = Server(data_dir, log)
    if not server.start():
        got["crashes"] += 1
        return got
    try:
        headers, _ = _sign_up(server)
        kill_at = time.monotonic() + rng.uniform(1.0, 4.0)

        async def play() -> set[int]:
            saving = asyncio.create_task(_play_and_save(server, headers, kill_at + 5))
            await asyncio.sleep(max(0.0, kill_at - time.monotonic()))
            assert server.process is not None
            _kill(server.process, group=n % 2 == 1)  # every other trial: the workers die too
            return await saving

        confirmed = asyncio.run(play())
        got["states_confirmed"] += len(confirmed)
        if not _integrity_ok(data_dir):
            got["corrupt"] += 1
        restarted = Server(data_dir, log)
        restarted.port, restarted.url = server.port, server.url
        if not restarted.start():
            got["crashes"] += 1
            return got
        server = restarted
        bad, gone = _states_whole(data_dir)
        got["corrupt"] += bad
        with contextlib.closing(sqlite3.connect(data_dir / "treazr.db")) as conn:
            kept = {row[0] for row in conn.execute("SELECT slot FROM save_states WHERE slot > 0")}
        got["lost"] += gone + len(confirmed - kept)
        srm = data_dir / "saves"
        for save in srm.rglob("*.srm"):
            if save.stat().st_size != 16:  # the demo core's save RAM
                got["corrupt"] += 1
        got["leftovers"] += len(_leftovers(data_dir))
        if confirmed:  # a state that survived must load: the next session starts from slot 1
            import httpx

            answer = httpx.post(f"{server.url}/api/play/sessions", json={"game_id": 0, "slot": min(kept or {1})},
                                headers=headers, timeout=60)
            if answer.status_code != 201 or answer.json()["session"]["started_from"] == "new":
                got["corrupt"] += 1
    finally:
        server.stop()
    got["tracebacks"] += _tracebacks(log)
    got["trials"] += 1
    return got


# -- a full disk ----------------------------------------------------------------------------------------
def disk_trial(work: Path, n: int) -> Counter[str]:
    got: Counter[str] = Counter()
    mount = work / f"disk-{n}"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        data_dir, log = mount / "data", work / f"disk-{n}.log"
        _configure(data_dir)
        server = Server(data_dir, log)
        if not server.start():
            got["crashes"] += 1
            return got
        try:
            got += _full_disk_checks(server, mount)
        finally:
            server.stop()
        got["leftovers"] += len(_leftovers(data_dir))
        if not _integrity_ok(data_dir):
            got["corrupt"] += 1
        got["tracebacks"] += _tracebacks(log)
        got["trials"] += 1
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    return got


def _full_disk_checks(server: Server, mount: Path) -> Counter[str]:
    got: Counter[str] = Counter()
    headers, who = _sign_up(server)
    asyncio.run(_play_and_save(server, headers, time.monotonic() + 1.5))  # slot 1 holds a state now
    slot1 = next((server.data_dir / "states").rglob("slot1.state"), None)
    before = slot1.read_bytes() if slot1 else None
    filler = mount / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:  # closing can fail too: the disk is full
        while True:
            out.write(b"\0" * (1 << 16))
            out.flush()
    try:
        confirmed = asyncio.run(_play_and_save(server, headers, time.monotonic() + 1.5))  # saves answer an error
        if slot1 is not None and 1 not in confirmed and slot1.read_bytes() != before:
            got["corrupt"] += 1  # the last good state stays as it was (unless pruning freed room for a new one)
        if _sign_in_status(server, who) != 507:  # one clear "the disk is full", not a 500
            got["crashes"] += 1
    finally:
        filler.unlink()
    if _sign_in_status(server, who) != 200:
        got["crashes"] += 1
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{server.url}/healthz", timeout=5):
        return got
    got["crashes"] += 1
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 trials of each kind instead of 20")
    parser.add_argument("--trials", type=int, default=0)
    args = parser.parse_args()
    trials = args.trials or (3 if args.quick else 20)
    rng = random.Random(20261207)
    work = Path(tempfile.mkdtemp(prefix="treazr-faults-"))
    totals: dict[str, Counter[str]] = {}
    try:
        files = _nes_files(work / "roms", 200, rng)
        totals["import"] = sum((import_trial(work, n, rng, work / "roms", len(files)) for n in range(trials)),
                               Counter())
        totals["server"] = sum((server_trial(work, n, rng) for n in range(trials)), Counter())
        if os.geteuid() == 0:
            totals["disk"] = sum((disk_trial(work, n) for n in range(min(trials, 5))), Counter())
        else:
            print("disk trials need root (a small tmpfs); not run")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures: dict[str, Any] = {kind: dict(counts) for kind, counts in totals.items()}
    overall = sum(totals.values(), Counter())
    for kind, counts in totals.items():
        print(f"{kind}: {counts['trials']} trials ({counts['states_confirmed']} states confirmed); lost"
              f" {counts['lost']}, corrupt {counts['corrupt']}, crashes {counts['crashes']}, tracebacks"
              f" {counts['tracebacks']}, leftovers {counts['leftovers']}")
    figures["total"] = {key: overall[key] for key in ("trials", *TARGETS)}
    met = {key: overall[key] <= target for key, target in TARGETS.items()}
    print(json.dumps({"figures": figures, "targets": TARGETS, "met": met, "quick": args.quick}))


if __name__ == "__main__":
    main()
