"""The one-file executable: its size, cold start to a healthy ``/healthz`` over HTTPS, and idle memory.

    .venv/bin/python benchmarks/executable_bench.py [--quick] [--executable dist/treazr] [--tmpdir /dev/shm]

Each start runs the executable from an empty environment (only ``HOME`` and ``TMPDIR``) in a fresh
temporary folder; a one-file executable unpacks itself into ``TMPDIR`` on every start, so the file system
there (disk or tmpfs) weighs on the start time more than anything else, and the figures name it.
"first start" uses an empty data directory (the local CA and certificate are made, migrations applied);
"restart" reuses it. The reference, measured in the same run, is the checkout (``python -m treazr``).
Memory is the idle resident set of the whole process tree (one-file bootloader + Python), summed.
Targets: start <= 3 s, idle RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START_TARGET_S = 3.0
RSS_TARGET_MB = 150.0
IDLE_WAIT_S = 2.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            pending += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except OSError:
            continue
    return found


def _memory_mb(pid: int) -> tuple[float, float]:
    """Summed RSS and PSS (shared pages split between processes) of ``pid``'s tree, in MB."""
    rss = pss = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


def _cpu_s(pid: int) -> float:
    """CPU time (user + system, including reaped children) of ``pid``'s tree: a figure load barely moves."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _has_child(pid: int) -> bool:
    try:
        return bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
    except OSError:
        return False


def _healthy(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2, context=context) as response:
            return response.status == 200
    except OSError:
        return False


def start_once(command: list[str], data_dir: Path, workdir: Path, env: dict[str, str],
               measure_memory: bool, frozen: bool) -> dict[str, float]:
    """Start ``serve``, time it to the first healthy ``/healthz``, optionally read idle memory, stop it."""
    port = _free_port()
    argv = [*command, "--data-dir", str(data_dir), "serve", "--host", "127.0.0.1", "--port", str(port),
            "--http-port", "0", "--tls", "auto"]
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    unpacked = 0.0
    try:
        while not _healthy(f"https://127.0.0.1:{port}", context):
            if frozen and not unpacked and _has_child(process.pid):
                # The one-file bootloader starts Python as a child once the bundle is unpacked.
                unpacked = time.perf_counter() - started
            if process.poll() is not None:
                raise SystemExit(f"serve exited with {process.returncode}: {process.stderr.read().decode()[-2000:]}"
                                 if process.stderr else "serve exited")
            if time.perf_counter() - started > 60:
                raise SystemExit("serve did not become healthy within 60 s")
            time.sleep(0.01)
        figures = {"start_s": time.perf_counter() - started, "start_cpu_s": _cpu_s(process.pid)}
        if frozen:
            figures["unpack_s"] = unpacked
        if measure_memory:
            time.sleep(IDLE_WAIT_S)
            figures["rss_mb"], figures["pss_mb"] = _memory_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
    return figures


def version_time(command: list[str], workdir: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([*command, "--version"], cwd=workdir, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(label: str, command: list[str], rounds: int, env: dict[str, str], frozen: bool) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="treazr-bench-") as scratch:
            data = Path(scratch) / "data"
            samples.setdefault("version_s", []).append(version_time(command, Path(scratch), env))
            first = start_once(command, data, Path(scratch), env, False, frozen)
            again = start_once(command, data, Path(scratch), env, True, frozen)
            for key, value in first.items():
                samples.setdefault(f"first_{key}", []).append(value)
            for key, value in again.items():
                samples.setdefault(key if key.endswith("_mb") else f"restart_{key}", []).append(value)
    figures = {key.replace("rss_mb", "idle_rss_mb").replace("pss_mb", "idle_pss_mb"): statistics.median(values)
               for key, values in samples.items()}
    # The fastest start says what the machine can do when the other jobs sharing it leave it alone.
    figures["first_start_min_s"] = min(samples["first_start_s"])
    unpack = f", of which unpacking {figures['first_unpack_s']:.2f} s" if frozen else ""
    print(f"{label:>10}: --version {figures['version_s']:.2f} s; first start {figures['first_start_s']:.2f} s"
          f"{unpack} ({figures['first_start_cpu_s']:.2f} s CPU, fastest {figures['first_start_min_s']:.2f} s); "
          f"restart {figures['restart_start_s']:.2f} s; "
          f"idle RSS {figures['idle_rss_mb']:.0f} MB (PSS {figures['idle_pss_mb']:.0f} MB)  [median of {rounds}]")
    return figures


def _filesystem(path: Path) -> str:
    """The type of the file system holding ``path`` (tmpfs, ext4, ...), from /proc/mounts."""
    best, kind = "", "unknown"
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount_point, fs_type = line.split()[:3]
        if str(path.resolve()).startswith(mount_point.rstrip("/") + "/") and len(mount_point) > len(best):
            best, kind = mount_point, fs_type
    return kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 7 (about a minute)")
    parser.add_argument("--executable", type=Path, default=REPO / "dist" / "treazr")
    parser.add_argument("--tmpdir", type=Path, help="TMPDIR for the executable, where it unpacks itself "
                        "(default: a fresh folder under the system temp folder; try /dev/shm for tmpfs)")
    args = parser.parse_args()
    if not args.executable.is_file():
        raise SystemExit(f"{args.executable} does not exist: build it with  bash packaging/build.sh")
    rounds = 2 if args.quick else 7

    with tempfile.TemporaryDirectory(prefix="treazr-bench-home-") as home:
        copy = Path(home) / "treazr"  # run a copy outside the checkout, as a download would be
        shutil.copy2(args.executable, copy)
        size_mb = copy.stat().st_size / 1e6
        print(f"executable: {args.executable} ({size_mb:.1f} MB)")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        unpack_root = Path(tempfile.mkdtemp(prefix="treazr-bench-tmp-", dir=args.tmpdir))
        unpack_fs = _filesystem(unpack_root)
        print(f"the executable unpacks into {unpack_root} ({unpack_fs})")
        try:
            frozen = measure("executable", [str(copy)], rounds, {"HOME": home, "TMPDIR": str(unpack_root)}, True)
        finally:
            shutil.rmtree(unpack_root, ignore_errors=True)
        checkout = measure("checkout", [sys.executable, "-m", "treazr"], rounds,
                           {"HOME": home, "PYTHONPATH": str(REPO)}, False)
        print(f"load average after: {os.getloadavg()[0]:.2f}")

    start = frozen["first_start_s"]
    ratios = {key: round(frozen[key] / checkout[key], 2) for key in checkout if checkout[key]}
    print("executable / checkout: " + ", ".join(f"{key} x{ratio}" for key, ratio in ratios.items()))
    result = {
        "benchmark": "executable",
        "quick": args.quick,
        "rounds": rounds,
        "unpack_filesystem": unpack_fs,
        "load_average": round(os.getloadavg()[0], 2),
        "size_mb": round(size_mb, 1),
        **{key: round(value, 3) for key, value in frozen.items()},
        "checkout": {key: round(value, 3) for key, value in checkout.items()},
        "ratio_to_checkout": ratios,
        "start_target_s": START_TARGET_S,
        "start_met": start <= START_TARGET_S and frozen["restart_start_s"] <= START_TARGET_S,
        "idle_rss_target_mb": RSS_TARGET_MB,
        "idle_rss_met": frozen["idle_rss_mb"] <= RSS_TARGET_MB,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
