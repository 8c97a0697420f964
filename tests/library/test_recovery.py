"""A killed import, killed for real, leaves nothing half-done after the next start.

Each trial runs a real ``import --copy`` in a child process and SIGKILLs it: once in the middle of
copying a large ROM (a partial ``.incoming-*`` file on disk) and once right after a ROM was copied into
the content store but before its batch reached the database (a content file no row points to). The next
import, or the server's start, closes the ``running`` row and removes both; a rerun imports the lot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from litestar.testing import AsyncTestClient

from tests.conftest import REPO
from treazr.library.recovery import import_lease, recover
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.web.app import create_app


def stored_files(services: Services) -> set[str]:
    content = services.data.content
    return {str(p.relative_to(content)) for p in content.glob("??/*") if p.is_file()}


def recorded(services: Services) -> set[str]:
    return {row["store_path"] for row in services.db.query("SELECT store_path FROM files WHERE store_path NOT NULL")}


def partials(services: Services) -> list[Path]:
    return list(services.data.content.glob(".incoming-*"))


def statuses(services: Services) -> list[str]:
    return [row["status"] for row in services.db.query("SELECT status FROM imports ORDER BY id")]


def big_rom(folder: Path, roms: Path) -> Path:
    """A real N64 ROM padded to 192 MB, so that copying it takes long enough to be killed half-way."""
    folder.mkdir(parents=True, exist_ok=True)
    source = (roms / "n64" / "HelloWorldCPU32BPP320X240.N64").read_bytes()
    target = folder / "Big.n64"
    with target.open("wb") as out:
        out.write(source)
        for _ in range(192):
            out.write(os.urandom(1 << 20))
    return target


def test_killed_while_copying(services: Services, roms: Path, tmp_path: Path) -> None:
    big_rom(tmp_path / "big", roms)
    child = subprocess.Popen([sys.executable, "-m", "treazr", "--data-dir", str(services.data.root), "import",
                              str(tmp_path / "big"), "--copy"], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size > 0 for p in partials(services) if p.exists()):
            assert child.poll() is None, "the import finished before it could be killed half-way"
            assert time.monotonic() < deadline, "the copy never started"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
    assert statuses(services) == ["running"] and partials(services)

    done = recover(services.db, services.data)

    assert done.ran and done.runs == 1 and done.partials >= 1
    assert statuses(services) == ["interrupted"] and partials(services) == []
    report = import_paths(services, [tmp_path / "big"], copy=True)
    assert report.added == 1 and statuses(services)[-1] == "done"
    assert stored_files(services) == recorded(services) and len(recorded(services)) == 1


KILL_AFTER_FIRST_COPY = textwrap.dedent("""
    import os, signal, sys
    from treazr.library.scanner import import_paths
    from treazr.composition import open_treazr
    from treazr.settings import load_settings

    settings = load_settings(overrides={"data_dir": sys.argv[1]}, environ={})
    services = open_treazr(settings)

    def progress(done, total, bytes_done, bytes_total):
        if done >= 1:  # the first ROM is in the content store, its batch not yet written
            os.kill(os.getpid(), signal.SIGKILL)

    import_paths(services, sys.argv[2:], copy=True, progress=progress)
""")


def test_killed_between_copy_and_record_then_the_next_import_tidies(services: Services, roms: Path) -> None:
    folders = [str(roms / platform) for platform in ("nes", "gb", "pce")]
    child = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_COPY, str(services.data.root), *folders],
                           cwd=REPO, capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert statuses(services) == ["running"]
    orphans = stored_files(services) - recorded(services)
    assert orphans, "the kill came after the batch was written; nothing was left to tidy"

    report = import_paths(services, folders, copy=True)  # the next import tidies first, then runs

    assert statuses(services) == ["interrupted", "done"]
    assert stored_files(services) == recorded(services) and partials(services) == []
    assert report.failed == [] and len(recorded(services)) == report.added + report.unchanged


def test_nothing_is_judged_while_an_import_runs(services: Services) -> None:
    services.data.content.mkdir(parents=True, exist_ok=True)
    young = services.data.content / ".incoming-live"
    young.write_bytes(b"being copied right now")
    with import_lease(services.data):
        assert recover(services.db, services.data).ran is False
    assert young.exists()
    assert recover(services.db, services.data).ran is True and not young.exists()


async def test_the_server_tidies_at_start(services: Services, roms: Path) -> None:
    """What the CLI import killed above leaves, the server's next start puts right before it serves."""
    folders = [str(roms / platform) for platform in ("nes", "gb")]
    child = subprocess.run([sys.executable, "-c", KILL_AFTER_FIRST_COPY, str(services.data.root), *folders],
                           cwd=REPO, capture_output=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert statuses(services) == ["running"] and stored_files(services) - recorded(services)

    async with AsyncTestClient(app=create_app(services)) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert statuses(services) == ["interrupted"]
        assert stored_files(services) == recorded(services)
