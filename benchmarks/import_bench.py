"""Import benchmark: a synthetic ROM library, imported, compared with a plain single-process hash loop.

    .venv/bin/python benchmarks/import_bench.py            # 10,000 files, about 2 GB
    .venv/bin/python benchmarks/import_bench.py --quick    # 1,000 files, about 150 MB

Prints (1) first-import throughput in MB/s and its ratio to a reference measured in the same run: one
Python process computing the same four hashes (CRC32, MD5, SHA-1, SHA-256) over the same files with
1 MiB chunks (zip members decompressed, as the import does); (2) the time of a rescan of the unchanged
library; (3) the import's peak RSS. Then a breakdown of the first import without its database: the
reference's loop and the import's hashing jobs, each shared out to one thread per CPU. Also the parallel
ceiling at the time of the run: how much faster all CPUs hash in-memory buffers than one thread (other
users of a shared machine lower it), so the ratio can be read against what the machine allowed. The
import runs in a child process so its RSS is its own. The last line is one JSON object with the figures,
the targets and whether each was met.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"ratio": 1.8, "rescan_s_per_10k": 2.0, "peak_rss_mb": 200.0}
# (platform folder, extension, share of files, size range in KiB)
MIX = [("nes", ".nes", 0.22, (24, 512)), ("snes", ".sfc", 0.15, (256, 1024)), ("gb", ".gb", 0.12, (32, 256)),
       ("gbc", ".gbc", 0.08, (128, 1024)), ("gba", ".gba", 0.06, (512, 2048)), ("md", ".md", 0.1, (256, 1024)),
       ("sms", ".sms", 0.07, (32, 256)), ("gg", ".gg", 0.05, (32, 256)), ("pce", ".pce", 0.06, (128, 512)),
       ("a2600", ".a26", 0.07, (2, 16)), ("n64", ".z64", 0.02, (1024, 4096))]
_GB_LOGO = bytes.fromhex("ceed6666cc0d000b03730083000c000d0008111f8889000e"
                         "dccc6ee6ddddd999bbbb67636e0eecccdddc999fbbb9333e")


def _header(platform: str, size: int, index: int, rng: random.Random) -> tuple[bytes, int]:
    """(bytes to place at the offset, offset) giving each platform a valid header."""
    title = f"GAME{index:06d}".encode()
    if platform == "nes":
        return b"NES\x1a" + bytes([max(1, (size - 16) // 16384), 0, 0x12, 0]) + bytes(8), 0
    if platform == "snes":
        block = bytearray(title.ljust(21)) + bytes([0x20, 0, 9, 0, 1, 0x33, 0]) + struct.pack("<HH", 0x1234, 0xEDCB)
        return bytes(block), 0x7FC0
    if platform in ("gb", "gbc"):
        block = bytearray(0x50)
        block[4:0x34] = _GB_LOGO
        block[0x34:0x34 + len(title)] = title
        block[0x43] = 0xC0 if platform == "gbc" else 0
        return bytes(block), 0x100
    if platform == "gba":
        block = bytearray(0xC0)
        block[3] = 0xEA
        block[0xA0:0xA0 + len(title[:12])] = title[:12]
        block[0xB2] = 0x96
        return bytes(block), 0
    if platform == "md":
        return b"SEGA MEGA DRIVE " + bytes(16) + title.ljust(48) + title.ljust(48), 0x100
    if platform in ("sms", "gg"):
        return b"TMR SEGA" + bytes(7) + bytes([0x4C if platform == "sms" else 0x6C]), 0x7FF0
    if platform == "n64":
        return b"\x80\x37\x12\x40" + bytes(28) + title.ljust(20), 0
    return b"", 0


def _sizes(count: int, total_bytes: int, rng: random.Random) -> list[tuple[str, str, int]]:
    picks = rng.choices(MIX, weights=[m[2] for m in MIX], k=count)
    raw = [rng.randint(*m[3]) * 1024 for m in picks]
    scale = total_bytes / sum(raw)
    out = []
    for (platform, extension, _, _range), size in zip(picks, raw, strict=True):
        if platform == "a2600":
            scaled = rng.choice((2048, 4096, 8192, 16384))
        else:
            scaled = max(64 * 1024, int(size * scale) // 16384 * 16384)
        out.append((platform, extension, scaled + (16 if platform == "nes" else 0)))
    return out


def generate(root: Path, count: int, total_bytes: int, seed: int = 7) -> int:
    """Write the synthetic library; returns its size on disk in bytes."""
    rng = random.Random(seed)
    pool = os.urandom(16 << 20)
    written = 0
    plan = _sizes(count, total_bytes, rng)
    for index, (platform, extension, size) in enumerate(plan):
        start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
        body = bytearray(pool[start:start + size]) if size < len(pool) else bytearray(os.urandom(size))
        header, offset = _header(platform, size, index, rng)
        body[offset:offset + len(header)] = header
        body[-8:] = struct.pack("<Q", index)  # unique content per file
        folder = root / "roms" / platform / f"{index // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"Game {index:06d} (USA){extension}"
        if index % 20 == 7:  # some zips
            with zipfile.ZipFile(folder / f"Game {index:06d} (USA).zip", "w", zipfile.ZIP_DEFLATED,
                                 compresslevel=1) as archive:
                archive.writestr(name, bytes(body))
        else:
            (folder / name).write_bytes(body)
        written += size
        if index % 50 == 3:  # some duplicates, elsewhere
            dupes = root / "roms" / platform / "copies"
            dupes.mkdir(parents=True, exist_ok=True)
            (dupes / name).write_bytes(body)
            written += size
    return written


def _hash_reference(stream: object) -> int:
    crc, md5, sha1, sha256 = 0, hashlib.md5(), hashlib.sha1(), hashlib.sha256()
    total = 0
    while chunk := stream.read(1 << 20):  # type: ignore[attr-defined]
        crc = zlib.crc32(chunk, crc)
        md5.update(chunk)
        sha1.update(chunk)
        sha256.update(chunk)
        total += len(chunk)
    return total


def _reference_file(path: Path) -> int:
    if path.suffix == ".zip":
        hashed = 0
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    hashed += _hash_reference(member)
        return hashed
    with open(path, "rb") as handle:
        return _hash_reference(handle)


def _files(root: Path) -> list[Path]:
    return [Path(folder, name) for folder, _dirs, files in os.walk(root) for name in sorted(files)]


def reference(root: Path) -> tuple[float, int, float]:
    """The plain loop: one process, 1 MiB chunks, the same four hashes over every file (zip members too).

    Returns (wall seconds, bytes hashed, CPU seconds).
    """
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    hashed = sum(_reference_file(path) for path in _files(root))
    return time.perf_counter() - started, hashed, _cpu_seconds() - cpu_started


def _in_threads(items: list[Any], work: Any) -> tuple[float, float]:
    """``work(item)`` for every item on one thread per CPU; returns (wall seconds, CPU seconds)."""
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for _ in pool.map(work, items):
            pass
    return time.perf_counter() - started, _cpu_seconds() - cpu_started


def breakdown(root: Path) -> dict[str, tuple[float, float]]:
    """Where the import's time goes, without the import's database: (wall s, CPU s) of
    - ``reference_threads``: the reference's own loop, files shared out to one thread per CPU (what splitting
      exactly the reference's work over the CPUs gives);
    - ``jobs_threads``: the import's hashing jobs (identification, headerless hashes, archives) the same way,
      with no database, no batching and no progress.
    """
    sys.path.insert(0, str(REPO))
    from treazr.library.probe import ProbeOptions, run_job
    from treazr.library.walk import walk_roots

    jobs = walk_roots([root.resolve()], {}).jobs
    options = ProbeOptions()
    return {"reference_threads": _in_threads(_files(root), _reference_file),
            "jobs_threads": _in_threads(jobs, lambda job: run_job(job, options))}


def _hash_buffer(rounds: int, buffer: bytes) -> None:
    for _ in range(rounds):
        zlib.crc32(buffer)
        hashlib.md5(buffer)
        hashlib.sha1(buffer)
        hashlib.sha256(buffer)


def parallel_ceiling(seconds: float = 1.0) -> float:
    """How much faster all CPUs hash in-memory 1 MiB buffers than one thread does, right now.

    No file, no database, no Python per file: the most any import could gain over the reference on this
    machine at this moment (other users' load lowers it). Measured in each round, next to the reference.
    """
    buffer = os.urandom(1 << 20)
    rates = []
    for threads in (1, os.cpu_count() or 1):
        rounds = max(1, int(seconds * 300 / threads))  # about 300 MiB per CPU-second
        workers = [threading.Thread(target=_hash_buffer, args=(rounds, buffer)) for _ in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        rates.append(rounds * threads / (time.perf_counter() - started))
    return rates[1] / rates[0]


def child_import(data_dir: str, library: str, hashing: str) -> None:
    """Runs in the child process: one import, timed in-process; prints its figures as JSON."""
    sys.path.insert(0, str(REPO))
    from treazr.composition import open_treazr
    from treazr.library.scanner import import_paths
    from treazr.settings import load_settings

    services = open_treazr(load_settings(overrides={"data_dir": data_dir}, environ={}))
    try:
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        report = import_paths(services, [library], hashing=hashing)
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    finally:
        services.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "bytes_read": report.bytes_read, "peak_rss_mb": peak_mb,
                      "report": {**report.as_json(), "failed": len(report.failed)}}))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_child(data_dir: Path, library: Path, hashing: str = "threads") -> dict[str, Any]:
    process = subprocess.run([sys.executable, __file__, "--child-import", str(data_dir), str(library), hashing],
                             capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    return result


@dataclass
class _Best:
    reference: tuple[float, int, float]  # wall s, bytes, CPU s
    threads: dict[str, Any]  # the child's figures
    data_dir: Path  # the threads import's data directory, for the rescan
    processes: dict[str, Any]
    parts: dict[str, tuple[float, float]]  # breakdown(): wall s, CPU s


def _rounds(work: Path, library: Path, repeat: int, ceilings: list[float]) -> _Best:
    """Best of ``repeat`` rounds of: the reference, a first import with hashing threads (the default), one
    with processes, the breakdown. Interleaved, so that load from other users of the machine hits them all
    alike; the parallel ceiling is measured before and after the imports of each round (appended to
    ``ceilings``)."""
    references: list[tuple[float, int, float]] = []
    runs: dict[str, list[dict[str, Any]]] = {"threads": [], "processes": []}
    parts: dict[str, list[tuple[float, float]]] = {}
    for attempt in range(repeat):
        references.append(reference(library))
        ceilings.append(parallel_ceiling())
        for mode, found in runs.items():
            found.append(_run_child(work / f"data-{mode}{attempt}", library, mode))
        for name, figures in breakdown(library).items():
            parts.setdefault(name, []).append(figures)
        ceilings.append(parallel_ceiling())
    best = {mode: min(found, key=lambda run: float(run["seconds"])) for mode, found in runs.items()}
    data_dir = work / f"data-threads{runs['threads'].index(best['threads'])}"
    return _Best(min(references), best["threads"], data_dir, best["processes"],
                 {name: min(found) for name, found in parts.items()})


def _rescan_cli(data_dir: Path, library: Path) -> float:
    """The whole ``treazr import`` command on the unchanged library: interpreter start included."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "treazr", "--data-dir", str(data_dir), "import", str(library), "--json"],
                   cwd=REPO, capture_output=True, check=True)
    return time.perf_counter() - started


def measure(library: Path, work: Path, repeat: int) -> dict[str, Any]:
    load = os.getloadavg()[0]
    print(f"load average before the runs: {load:.2f} on {os.cpu_count()} CPUs")
    ceilings: list[float] = []
    rounds = _rounds(work, library, repeat, ceilings)
    (ref_seconds, ref_bytes, ref_cpu), first, data_dir, processes = (rounds.reference, rounds.threads,
                                                                      rounds.data_dir, rounds.processes)
    parts = rounds.parts
    ceiling = max(ceilings)
    print(f"parallel ceiling now: {os.cpu_count()} threads hash in-memory buffers "
          f"{', '.join(f'{c:.2f}' for c in ceilings)}x as fast as one (before / after the imports)")
    ref_rate = ref_bytes / ref_seconds / 1e6
    print(f"reference (1 process, 1 MiB chunks, 4 hashes): {ref_rate:.0f} MB/s ({ref_seconds:.2f} s, "
          f"{ref_cpu:.2f} CPU s)")
    rate = ref_bytes / float(first["seconds"]) / 1e6
    print(f"first import: {rate:.0f} MB/s ({float(first['seconds']):.2f} s, {float(first['cpu_s']):.2f} CPU s), "
          f"ratio {rate / ref_rate:.2f} to the reference; {first['report']}")
    process_rate = ref_bytes / float(processes["seconds"]) / 1e6
    print(f"first import hashing in worker processes instead: {process_rate:.0f} MB/s, "
          f"ratio {process_rate / ref_rate:.2f} (peak RSS of the parent alone {processes['peak_rss_mb']:.0f} MB)")
    rescan = _run_child(data_dir, library)
    files = int(first["report"]["added"])
    per_10k = float(rescan["seconds"]) * 10_000 / max(files, 1)
    cli = _rescan_cli(data_dir, library)
    print(f"unchanged rescan: {float(rescan['seconds']):.2f} s in-process, {cli:.2f} s as a command, for {files} "
          f"files ({per_10k:.2f} s per 10,000); {rescan['report']}")
    peak = float(first["peak_rss_mb"])
    print(f"peak RSS of the import: {peak:.0f} MB")
    for name, label in (("reference_threads", "the reference's loop shared out to every CPU"),
                        ("jobs_threads", "the import's hashing jobs on every CPU, no database")):
        seconds, cpu = parts[name]
        print(f"breakdown: {label}: {seconds:.2f} s, {cpu:.2f} CPU s, ratio {ref_seconds / seconds:.2f}")
    ratio = rate / ref_rate
    return {"files": files, "mb": round(ref_bytes / 1e6), "reference_mb_s": round(ref_rate, 1),
            "reference_cpu_s": round(ref_cpu, 2), "import_mb_s": round(rate, 1),
            "import_cpu_s": round(float(first["cpu_s"]), 2), "ratio": round(ratio, 2),
            # CPU work of the import relative to the reference (headerless hashes, identification, database):
            # on an otherwise idle machine the ratio cannot exceed cpu_count * work_ratio
            "work_ratio": round(ref_cpu / float(first["cpu_s"]), 2),
            "rescan_s": round(float(rescan["seconds"]), 3), "rescan_s_per_10k": round(per_10k, 3),
            "rescan_command_s": round(cli, 2), "processes_ratio": round(process_rate / ref_rate, 2),
            "peak_rss_mb": round(peak, 1), "parallel_ceiling": round(ceiling, 2),
            # the import's ratio as a share of what the CPUs the machine left free allowed during the run
            "ratio_of_ceiling": round(ratio / ceiling, 2), "load_before": round(load, 2),
            # the same work without the import around it: the reference's loop and the import's hashing jobs
            # (no database) shared out to every CPU; each ratio to the one-thread reference
            **{f"{name}_ratio": round(ref_seconds / seconds, 2) for name, (seconds, _cpu) in parts.items()},
            **{f"{name}_cpu_s": round(cpu, 2) for name, (_seconds, cpu) in parts.items()}, "targets": TARGETS,
            "met": {"ratio": ratio >= TARGETS["ratio"], "rescan_s_per_10k": per_10k <= TARGETS["rescan_s_per_10k"],
                    "peak_rss_mb": peak <= TARGETS["peak_rss_mb"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 files, about 150 MB (under a minute)")
    parser.add_argument("--files", type=int, help="number of ROM files (default 10,000)")
    parser.add_argument("--mb", type=int, help="approximate library size in MB (default 2,000)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the reference and the first import this many times and keep the best of each "
                             "(the machine is shared: fewer outside disturbances in the best run)")
    parser.add_argument("--child-import", nargs=3, metavar=("DATA", "LIBRARY", "HASHING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_import:
        child_import(*args.child_import)
        return
    count = args.files or (1000 if args.quick else 10_000)
    megabytes = args.mb or (150 if args.quick else 2000)
    work = Path(tempfile.mkdtemp(prefix="treazr-import-bench-"))
    try:
        started = time.perf_counter()
        size = generate(work / "library", count, megabytes * 1_000_000)
        elapsed = time.perf_counter() - started
        print(f"generated {count} ROMs (+ duplicates, zips), {size / 1e6:.0f} MB in {elapsed:.1f} s")
        print(json.dumps(measure(work / "library", work, args.repeat)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
