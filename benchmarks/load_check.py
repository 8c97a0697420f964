"""Load check: while one member runs the worst requests we know, does the rest of the house stay served?

    .venv/bin/python benchmarks/load_check.py            # 300 measured requests per phase
    .venv/bin/python benchmarks/load_check.py --quick    # 100 (under a minute)

A real ``treazr serve`` on loopback (plain HTTP) with a 10,000-game library and one real Game Boy ROM.
Two members sign in the real way. First, idle: the calm member asks for ``/api/me`` and the home page
in turn, one at a time, and their p95 is the reference. Then the same again while the heavy member runs,
each in its own threads: 2,000-word searches, an anonymous ``/healthz`` flood, new cover screenshots
(each a full-speed emulator) and uploads of a zip with 5,000 empty members (refused by the archive
member limit). The server's memory (the web process and its emulator workers) is sampled all along.
Targets: the calm member's p95 under load within 2x of idle for each route, and the memory under
its budget. The last line is one JSON object with the figures, the targets and whether each was met.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from web_bench import WORDS, percentile, populate, request, sign_in, start_server, stop_server  # noqa: E402

from tests.support.rom_folder import rom_folder  # noqa: E402
from treazr.composition import open_treazr  # noqa: E402
from treazr.library.scanner import import_paths  # noqa: E402
from treazr.settings import load_settings  # noqa: E402

ROM = rom_folder() / "gb" / "cpu_instrs.gb"
TARGET_RATIO = 2.0
MEMORY_BUDGET_MB = 600.0  # the web process plus the emulators the limits allow (2 cover runs)


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (emulator workers), from /proc."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for each in [str(pid), *children]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _calm(port: int, headers: dict[str, str], count: int) -> dict[str, list[float]]:
    """One person using the site as usual: their own page and the home page, one request at a time."""
    times: dict[str, list[float]] = {"me": [], "home": []}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for n in range(count):
            kind, path = ("me", "/api/me") if n % 2 == 0 else ("home", "/")
            started = time.perf_counter()
            status, _, _ = request(port, "GET", path, headers, conn=conn)
            times[kind].append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"the calm member's {path} answered {status}")
            time.sleep(0.02)
    finally:
        conn.close()
    return times


KINDS = ("long_search", "healthz_flood", "cover_run", "archive_upload")


def _heavy(port: int, headers: dict[str, str], game_id: int, stop: threading.Event,
           only: str | None = None) -> dict[str, Any]:
    """The worst requests the review found, each in its own threads, until ``stop``."""
    counts: dict[str, dict[int, int]] = {}
    lock = threading.Lock()
    rng = random.Random(3)
    long_query = "%20".join(rng.choice(WORDS) for _ in range(2000))
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as archive:
        for n in range(5000):
            archive.writestr(f"e{n}.nes", b"")
    upload_headers = {**headers, "Content-Type": "application/octet-stream"}

    def loop(kind: str, method: str, path: str, send: dict[str, str],
             body: bytes | None = None) -> Callable[[], None] | None:
        if only is not None and kind != only:
            return None

        def run() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                while not stop.is_set():
                    try:
                        status, _, _ = request(port, method, path, send, body, conn=conn)
                    except (OSError, http.client.HTTPException):
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                        status = 0
                    with lock:
                        counts.setdefault(kind, {})
                        counts[kind][status] = counts[kind].get(status, 0) + 1
            finally:
                conn.close()
        return run

    jobs = [loop("long_search", "GET", f"/api/games?q={long_query}", headers),
            loop("long_search", "GET", f"/api/games?q={long_query}&sort=recent", headers),
            loop("healthz_flood", "GET", "/healthz", {}), loop("healthz_flood", "GET", "/healthz", {}),
            loop("cover_run", "POST", f"/api/games/{game_id}/cover", headers),
            loop("cover_run", "POST", f"/api/games/{game_id}/cover", headers),
            loop("archive_upload", "POST", "/api/uploads?name=bomb.zip", upload_headers, hostile.getvalue())]
    threads = [threading.Thread(target=job, daemon=True) for job in jobs if job is not None]
    for thread in threads:
        thread.start()
    return {"threads": threads, "counts": counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 measured requests per phase (under a minute)")
    parser.add_argument("--only", choices=KINDS, help="run just one kind of heavy request (to see which one costs)")
    args = parser.parse_args()
    count = 100 if args.quick else 300
    with tempfile.TemporaryDirectory(prefix="treazr-load-check-") as scratch:
        data_dir = Path(scratch) / "data"
        populate(data_dir, random.Random(7))
        services = open_treazr(load_settings(overrides={"data_dir": str(data_dir)}, environ={}))
        import_paths(services, [ROM])
        game_id = int(services.db.query_one("SELECT id FROM games WHERE title LIKE '%cpu%'")["id"])  # type: ignore[index]
        services.close()
        process, port = start_server(data_dir)
        peak = [0.0]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], _rss_mb(process.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            calm = sign_in(data_dir, port, "Calm")
            heavy = sign_in(data_dir, port, "Heavy")
            _calm(port, calm, 10)  # warm up
            idle = _calm(port, calm, count)
            idle_rss = _rss_mb(process.pid)
            stop = threading.Event()
            load = _heavy(port, {**heavy, "Origin": f"http://127.0.0.1:{port}"}, game_id, stop, args.only)
            time.sleep(2)  # let every kind of heavy request get going
            loaded = _calm(port, calm, count)
            stop.set()
            for thread in load["threads"]:
                thread.join(timeout=60)
        finally:
            sampling.set()
            stop_server(process, timeout=30)
    report(idle, loaded, load["counts"], idle_rss, peak[0], count)


def report(idle: dict[str, list[float]], loaded: dict[str, list[float]], counts: dict[str, dict[int, int]],
           idle_rss: float, peak_rss: float, count: int) -> None:
    figures: dict[str, Any] = {"measured_requests": count}
    met = True
    print(f"the calm member, {count} requests per phase (p95, idle -> under the heavy member's load):")
    for kind in ("me", "home"):
        before, after = percentile(idle[kind], 0.95), percentile(loaded[kind], 0.95)
        ratio = after / before
        figures[f"{kind}_idle_p95_ms"], figures[f"{kind}_loaded_p95_ms"] = round(before, 2), round(after, 2)
        figures[f"{kind}_ratio"] = round(ratio, 2)
        figures[f"{kind}_met"] = ratio <= TARGET_RATIO
        met = met and ratio <= TARGET_RATIO
        print(f"  {kind:5s} {before:7.1f} ms -> {after:7.1f} ms  ({ratio:.2f}x, target <= {TARGET_RATIO}x)")
    print("the heavy member's requests, by answer:")
    for kind, answers in sorted(counts.items()):
        print(f"  {kind:15s} " + ", ".join(f"{status}: {n}" for status, n in sorted(answers.items())))
        figures[f"{kind}_answers"] = {str(k): v for k, v in answers.items()}
    memory_met = peak_rss <= MEMORY_BUDGET_MB
    print(f"server memory: {idle_rss:.0f} MB idle, {peak_rss:.0f} MB at peak (budget {MEMORY_BUDGET_MB:.0f} MB)")
    figures.update(idle_rss_mb=round(idle_rss, 1), peak_rss_mb=round(peak_rss, 1), memory_met=memory_met)
    print(json.dumps({**figures, "target_ratio": TARGET_RATIO, "memory_budget_mb": MEMORY_BUDGET_MB,
                      "met": met and memory_met}))


if __name__ == "__main__":
    main()
