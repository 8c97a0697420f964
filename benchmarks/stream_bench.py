"""Streaming benchmark: server cost per frame, bits per second, PSNR, and concurrent 60 fps sessions.

    .venv/bin/python benchmarks/stream_bench.py            # 900 frames per core, 10 s per load step
    .venv/bin/python benchmarks/stream_bench.py --quick    # 300 frames per core, 3 s load steps of 4, 8, 12 sessions

1. For each core (in its own child process: one core per process), every frame is emulated, converted
   and encoded exactly as a play session's worker does it (its ``treazr.emulation.encoder.Encoders``, the
   session's default 4:4:4 at the configured bitrate) and sent through a socketpair to a reader process.
   Printed: p50/p99 of the per-frame cost up to the moment the frame's video is on the socket (emulate +
   convert + encode + send: what a player waits on; the worker encodes the frame's Opus audio only after
   that), of the whole frame with its audio, of its CPU time (audio included), and of emulation alone
   (the reference: ratio = cost/emulate),
   each core run three times (``--runs``) with the run of median p99 reported and every run's p99 listed,
   bits per second of the stream, and the PSNR of the stream decoded by FFmpeg against the core's own
   frames. Targets: p99 <= 4 ms per 256x240 frame, PSNR >= 40 dB at <= 4 Mbit/s for NES.
2. Concurrent sessions: N real worker processes (``WorkerHandle``, H.264 + Opus) play an NES ROM and
   the demo core; this process runs the web side (``PlaySession``: lateness tracking, fan-out to one
   viewer). N grows until more than 1% of frames arrive over one frame period late. Target: >= 10 NES.
   The CPU time per session (workers from /proc, plus this process) is printed too, with the number
   of sessions that would fit the machine's CPUs: on a machine other work shares, lateness measures
   the neighbours as much as Treazr.

The last line is one JSON object with the figures, the targets and whether each was met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.rom_folder import rom_folder  # noqa: E402

ROMS = rom_folder()
TARGETS = {"p99_ms_256x240": 4.0, "nes_psnr_db": 40.0, "nes_mbps": 4.0, "concurrent_nes": 10}
CORES = [  # (label, core, content relative to ROMS or None, width x height noted by the core)
    ("demo", "demo", None),
    ("nes", "nestopia", "nes/nes15-NTSC.nes"),
    ("gb", "gambatte", "gb/cpu_instrs.gb"),
    ("gba", "mgba", "gba/arm.gba"),
    ("snes", "bsnes_mercury_performance", "snes/RotZoom.sfc"),
    ("pce", "mednafen_pce_fast", "pce/padtest.pce"),
]
NES_GAME = "nes/nes15-NTSC.nes"


# -- 1. per-core cost, in a child process ----------------------------------------------------------
def child_core(core_name: str, content: str, frames: int, bitrate: int) -> dict[str, Any]:
    import av

    from treazr.emulation.core import CoreHost
    from treazr.emulation.encoder import open_encoders
    from treazr.emulation.headless import find_core
    from treazr.emulation.protocol import VIDEO, VideoPacket, decode_frame, split_frame

    work = Path(tempfile.mkdtemp(prefix="treazr-stream-bench-"))
    host = CoreHost(find_core(core_name), system_dir=work, save_dir=work)
    info = host.load_game(content if content != "-" else None)
    encoders = open_encoders({"chroma": "444", "bitrate_kbps": bitrate}, info.fps, info.sample_rate)
    sender, receiver = socket.socketpair()
    # another process reads, as the web process does a worker's socket (a thread here would take turns
    # with the frame loop for the GIL)
    reader = subprocess.Popen(["cat"], stdin=receiver, stdout=subprocess.DEVNULL)
    receiver.close()
    for _ in range(60):  # past the boot screens' first frames
        host.run_frame()
        host.take_audio()
    emulate_ms, wire_ms, total_ms, cpu_ms, video_messages, originals = [], [], [], [], [], []
    for n in range(frames):
        cpu_started = time.process_time_ns()
        started = time.perf_counter()
        host.run_frame()
        picture = host.video_view()  # as the worker does: the frontend's buffer, converted at once
        assert picture is not None
        sound = host.take_audio()
        emulated = time.perf_counter()
        on_wire = 0.0
        for message in encoders.encode(n, n, picture, sound):  # the worker's own encoders: video first
            sender.sendall(message)
            sent = time.perf_counter()
            if not on_wire and split_frame(message)[0] == VIDEO:
                on_wire = sent
                video_messages.append(message)
        done = time.perf_counter()
        cpu_ms.append((time.process_time_ns() - cpu_started) / 1e6)
        emulate_ms.append((emulated - started) * 1000)
        wire_ms.append((on_wire - started) * 1000)
        total_ms.append((done - started) * 1000)
        originals.append(picture[:, :, 2::-1].copy())
    sender.close()
    reader.wait()
    decoder = av.CodecContext.create("h264", "r")
    scores = []
    units = [packet.data for message in video_messages
             if isinstance(packet := decode_frame(*split_frame(message)), VideoPacket)]
    decoded = [f for data in units for f in decoder.decode(av.Packet(data)) if isinstance(f, av.VideoFrame)]
    for frame, original in zip(decoded, originals, strict=False):
        rgb = frame.to_ndarray(format="rgb24")[:original.shape[0], :original.shape[1]]
        error = float(np.mean((rgb.astype(np.float64) - original.astype(np.float64)) ** 2))
        scores.append(99.0 if error == 0 else 10 * np.log10(255.0**2 / error))
    encoders.close()
    host.close()
    height, width = originals[-1].shape[:2]

    def ms(values: list[float], percentile: int) -> float:
        return round(float(np.percentile(values, percentile)), 3)

    return {"size": f"{width}x{height}", "fps": round(info.fps, 3),
            "cost_p50_ms": ms(wire_ms, 50), "cost_p99_ms": ms(wire_ms, 99),
            "with_audio_p50_ms": ms(total_ms, 50), "with_audio_p99_ms": ms(total_ms, 99),
            "cpu_p50_ms": ms(cpu_ms, 50), "cpu_p99_ms": ms(cpu_ms, 99),
            "emulate_p50_ms": ms(emulate_ms, 50), "emulate_p99_ms": ms(emulate_ms, 99),
            "mbps": round(sum(map(len, units)) * 8 * info.fps / frames / 1e6, 3),
            "psnr_db": round(float(np.mean(scores)), 2), "psnr_min_db": round(float(np.min(scores)), 2),
            "frames_decoded": len(decoded)}


def _run_core(core: str, content: str | None, frames: int, bitrate: int) -> dict[str, Any]:
    path = str(ROMS / content) if content else "-"
    done = subprocess.run([sys.executable, __file__, "--child-core", core, path, str(frames), str(bitrate)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_cores(frames: int, bitrate: int, runs: int, labels: list[str]) -> dict[str, Any]:
    """Each core ``runs`` times, in rounds over all cores (a neighbour's burst of work hits one run of each
    core, not every run of one); the run with the median p99 is kept, and every run's p99 is listed."""
    chosen = [(label, core, content) for label, core, content in CORES if label in labels]
    found: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in chosen}
    for _ in range(runs):
        for label, core, content in chosen:
            found[label].append(_run_core(core, content, frames, bitrate))
    results: dict[str, Any] = {}
    for label, attempts in found.items():
        good = sorted((run for run in attempts if "error" not in run), key=lambda run: float(run["cost_p99_ms"]))
        if not good:
            results[label] = attempts[-1]
            print(f"{label:5} failed: {attempts[-1]['error']}")
            continue
        result = {**good[(len(good) - 1) // 2], "cost_p99_runs_ms": [run["cost_p99_ms"] for run in attempts
                                                                      if "error" not in run]}
        results[label] = result
        ratio = result["cost_p50_ms"] / max(result["emulate_p50_ms"], 1e-6)
        print(f"{label:5} {result['size']:>8}  cost p50 {result['cost_p50_ms']:.2f} ms"
              f"  p99 {result['cost_p99_ms']:.2f} ms (runs: {', '.join(map(str, result['cost_p99_runs_ms']))})"
              f"  (with audio p50 {result['with_audio_p50_ms']:.2f} p99 {result['with_audio_p99_ms']:.2f};"
              f" CPU p50 {result['cpu_p50_ms']:.2f} p99 {result['cpu_p99_ms']:.2f})"
              f"  (emulate p50 {result['emulate_p50_ms']:.2f} p99 {result['emulate_p99_ms']:.2f} ms; x{ratio:.2f})"
              f"  {result['mbps']:.2f} Mbit/s  PSNR {result['psnr_db']:.1f} dB (min {result['psnr_min_db']:.1f})")
    return results


# -- 2. concurrent sessions ----------------------------------------------------------------------
class _Discard:
    async def send_bytes(self, data: bytes) -> None:
        await asyncio.sleep(0)

    async def send_text(self, data: str) -> None:
        await asyncio.sleep(0)

    async def close(self, code: int, reason: str) -> None:
        return None


async def _load_step(count: int, seconds: float, core: str, content: str | None, bitrate: int) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from treazr.emulation.headless import find_core
    from treazr.emulation.worker import WorkerHandle, WorkerSpec
    from treazr.streaming.metrics import StreamMetrics
    from treazr.streaming.sessions import PlaySession, SessionInfo
    from treazr.streaming.viewers import Viewer

    metrics = StreamMetrics(CollectorRegistry())
    work = Path(tempfile.mkdtemp(prefix="treazr-stream-load-"))
    video = {"chroma": "444", "bitrate_kbps": bitrate, "audio_bitrate_kbps": 96}
    spec = WorkerSpec(core_path=str(find_core(core)), content_path=content, system_dir=str(work), video=video)
    workers = await asyncio.gather(*(WorkerHandle.start(spec) for _ in range(count)))
    sessions = []
    for n, worker in enumerate(workers):
        info = SessionInfo(id=n, token=str(n), owner_id=1, owner_name="bench", game_id=0, title=core, platform=core,
                           core=core, ports=2, started_from="new")
        session = PlaySession(info, worker, metrics.for_session(str(n)))
        session.start()
        viewer = Viewer(user_id=1, user_name="bench", device_id=1, sign_in_session=1, socket=_Discard(),
                        metrics=session.metrics)
        session.join(viewer)
        sessions.append(session)
    await asyncio.sleep(2.0)  # warm up: process start, first IDRs
    start = [(s.frames_seen, s.late_frames) for s in sessions]
    cpu_start = _cpu_seconds([w.pid for w in workers]) + time.process_time()
    await asyncio.sleep(seconds)
    cpu = _cpu_seconds([w.pid for w in workers]) + time.process_time() - cpu_start
    frames = sum(s.frames_seen - f for s, (f, _) in zip(sessions, start, strict=True))
    late = sum(s.late_frames - lf for s, (_, lf) in zip(sessions, start, strict=True))
    await asyncio.gather(*(s.stop("benchmark over") for s in sessions))
    expected = count * seconds * float(workers[0].av_info.get("fps", 60))
    return {"sessions": count, "frames": frames, "late": late, "late_pct": round(100 * late / max(frames, 1), 3),
            "delivered_pct": round(100 * frames / expected, 2),
            "cpu_per_session": round(cpu / seconds / count, 4)}


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes, from /proc (Linux)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def measure_concurrency(label: str, core: str, content: str | None, seconds: float, bitrate: int,
                        limit: int, increment: int) -> dict[str, Any]:
    best, steps, count = 0, [], increment
    while count <= limit:
        step = asyncio.run(_load_step(count, seconds, core, content, bitrate))
        steps.append(step)
        ok = step["late_pct"] < 1.0 and step["delivered_pct"] > 99.0
        print(f"{label:5} {count:2} sessions: {step['frames']} frames, {step['late_pct']:.2f}% late, "
              f"{step['delivered_pct']:.1f}% of the frames a 60 fps clock asks for -> {'ok' if ok else 'too many'}")
        if not ok:
            break
        best = count
        count += increment
    cpu = steps[-1]["cpu_per_session"]
    capacity = int((os.cpu_count() or 1) * 0.9 / cpu) if cpu > 0 else 0
    print(f"{label:5} CPU per session {100 * cpu:.1f}% of one CPU (worker + this web side) -> about {capacity}"
          f" sessions fit in {os.cpu_count()} CPUs at 90% use, were they not shared")
    return {"sustained": best, "cpu_per_session": cpu, "cpu_capacity": capacity, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer frames and shorter load steps (under a minute)")
    parser.add_argument("--bitrate", type=int, default=3000, help="video bitrate in kbit/s (the default setting)")
    parser.add_argument("--max-sessions", type=int, default=16)
    parser.add_argument("--runs", type=int, help="runs per core for the per-frame cost; the median p99 is reported "
                                                   "(default 3, or 1 with --quick)")
    parser.add_argument("--cores", default=",".join(label for label, _, _ in CORES),
                        help="which cores' per-frame cost to measure, comma-separated (default: all)")
    parser.add_argument("--cores-only", action="store_true", help="skip the concurrent sessions")
    parser.add_argument("--child-core", nargs=4, metavar=("CORE", "CONTENT", "FRAMES", "BITRATE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = set(args.cores.split(",")) - {label for label, _, _ in CORES}
    if unknown:
        parser.error(f"unknown cores: {', '.join(sorted(unknown))}")
    if args.child_core:
        core, content, frames, bitrate = args.child_core
        print(json.dumps(child_core(core, content, int(frames), int(bitrate))))
        return
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work shares them)")
    frames = 300 if args.quick else 900
    cores = measure_cores(frames, args.bitrate, args.runs or (1 if args.quick else 3), args.cores.split(","))
    if args.cores_only:
        return
    seconds = 3.0 if args.quick else 10.0
    limit = 12 if args.quick else args.max_sessions
    step = 4 if args.quick else 2  # sessions added per load step
    nes = measure_concurrency("nes", "nestopia", str(ROMS / NES_GAME), seconds, args.bitrate, limit, step)
    demo = measure_concurrency("demo", "demo", None, seconds, args.bitrate, limit, step)
    p99_256 = max((r["cost_p99_ms"] for r in cores.values() if r.get("size") in ("256x240", "256x224")), default=None)
    nes_core = cores.get("nes", {})
    figures = {"cores": cores, "concurrent_nes": nes["sustained"], "concurrent_demo": demo["sustained"],
               "cpu_capacity_nes": nes["cpu_capacity"], "cpu_capacity_demo": demo["cpu_capacity"],
               "p99_ms_256x240": p99_256, "nes_psnr_db": nes_core.get("psnr_db"), "nes_mbps": nes_core.get("mbps"),
               "load_steps": {"nes": nes["steps"], "demo": demo["steps"]}}
    met = {"p99_ms_256x240": p99_256 is not None and p99_256 <= TARGETS["p99_ms_256x240"],
           "nes_psnr_db": (nes_core.get("psnr_db") or 0) >= TARGETS["nes_psnr_db"],
           "nes_mbps": (nes_core.get("mbps") or 99) <= TARGETS["nes_mbps"],
           "concurrent_nes": nes["sustained"] >= TARGETS["concurrent_nes"]}
    print(json.dumps({"figures": figures, "targets": TARGETS, "met": met}))


if __name__ == "__main__":
    main()
