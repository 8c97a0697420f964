"""Emulation speed: frames per second through Treazr's libretro frontend versus RetroArch.

For each installed Debian core with its test ROM from $TREAZR_TEST_ROMS (../shared/roms), both frontends run the same
core and ROM headless in fresh processes, measured the same way:

    per-frame time = (CPU time of a run of N frames - CPU time of a run of 1 frame) / (N - 1)

so process start-up, core loading and shutdown cancel out. CPU time (user + system, all threads, from
wait4) rather than wall time, because the machine is shared. In each round the two frontends run at
the same time on the same CPU (the last one), so the scheduler makes them take turns every few
milliseconds and a slowdown of the host lands on both alike: this VM's host slows it by 10% and more
from one minute to the next, invisibly to the guest, and runs made one after the other compared that
noise as much as the frontends (single rounds from 0.78 to 1.57 on one core and ROM). The figure is the
median of the rounds' ratios (3 rounds with ``--quick``, 5 otherwise).

- RetroArch (Debian ``retroarch``): null video/audio/input drivers, vsync and audio sync off,
  ``--max-frames N``, ``DBUS_FATAL_WARNINGS=0`` (no session bus here).
- Treazr: a child process runs the core through ``CoreHost.run_frames`` in batches of 60 frames (one
  ctypes call per batch): every frame is copied out of the core in C, audio is collected, input is
  answered from the C port table; after each batch the frame is taken (``video_view``, converted to
  BGRX) and the audio drained. Its start-up (``CoreHost`` + ``load_game`` + one frame, timed in a
  run of its own) and peak memory (VmHWM) are reported too.
- For information, the per-frame loop a streaming worker runs (``run_frame()``, ``video_frame()`` =
  a numpy BGRX copy, ``take_audio()`` every frame) is timed (CPU time) inside a third child that runs
  beside the other two ("worker_loop_fps"): it pays Python and the pixel conversion on every frame,
  which RetroArch's null video driver does not.

With ``--instructions``, both frontends also run under Valgrind (callgrind) for 1 and N frames, and
the instructions executed per frame are split by shared object: the core's own code (the same count
under both frontends: the same work) and everything outside it (the frontend, and the libc functions
the core calls, such as a ``memset`` of its frame each frame, which both frontends pay alike).
Instruction counts do not move with the load of other machines on the host, which this VM's timings do,
by 10% from one minute to the next. Valgrind counts each byte a ``rep movsb`` copies (``rep stosb``
sets) as one instruction, so glibc's ``memcpy`` of a whole frame (``memset`` too) looks far costlier
there than it runs: a 229 KB frame copy is about 230,000 "instructions" and takes about 6 microseconds.

Target: Treazr >= 0.97x RetroArch on every core. ``--quick`` takes under a minute. The last line
printed is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.rom_folder import rom_folder  # noqa: E402

ROMS = rom_folder()
CORE_DIR = Path("/usr/lib/x86_64-linux-gnu/libretro")
TARGET = 0.97

# core, ROM, frames in a quick run (well under a second each); full runs use 3x
CASES = [
    ("nestopia", "nes/official_only.nes", 1800),
    ("gambatte", "gb/dmg_sound.gb", 4000),
    ("mgba", "gba/arm.gba", 3000),
    ("bsnes_mercury_performance", "snes/RotZoom.sfc", 400),
    ("mednafen_pce_fast", "pce/padtest.pce", 1800),
]

RETROARCH_CONFIG = """video_driver = "null"
audio_driver = "null"
input_driver = "null"
joypad_driver = "null"
menu_driver = "null"
video_vsync = "false"
audio_sync = "false"
config_save_on_exit = "false"
savefile_directory = "{dir}"
savestate_directory = "{dir}"
system_directory = "{dir}"
screenshot_directory = "{dir}"
"""


def child(core: str, rom: str, frames: int, mode: str) -> None:
    """Run in the child process: one core, worker-style frames (or one batch), then report as JSON."""
    sys.path.insert(0, str(REPO))
    from treazr.emulation.core import CoreHost

    started = time.perf_counter()
    host = CoreHost(CORE_DIR / f"{core}_libretro.so")
    host.load_game(rom)
    host.run_frame()
    startup = time.perf_counter() - started
    began = time.process_time()  # CPU time: the machine is shared
    if mode == "batch":
        left = frames - 1
        while left > 0:
            step = min(left, 60)
            host.run_frames(step)
            host.video_view()
            host.take_audio()
            left -= step
    else:
        for _ in range(frames - 1):
            host.run_frame()
            host.video_frame()
            host.take_audio()
    elapsed = time.process_time() - began
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    host.close()
    print(json.dumps({"startup_s": startup, "fps": (frames - 1) / elapsed if elapsed else None,
                      "peak_rss_mb": peak_kb / 1024}))


def _together(commands: dict[str, list[str]], env: dict[str, str]) -> dict[str, tuple[float, str]]:
    """Start every command at once, all on the same CPU, and wait for them all: the CPU seconds (user +
    system, all threads, from wait4) and the output of each.

    CPU time rather than wall time: the processes share the CPU, and waiting for it is not a cost of
    the frontend that waits. Both frontends are measured this same way.
    """
    cpu = max(os.sched_getaffinity(0))
    results: dict[str, tuple[float, str]] = {}
    with ExitStack() as stack:
        started: dict[str, tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]] = {}
        try:
            for name, command in commands.items():
                out, err = (stack.enter_context(tempfile.TemporaryFile()) for _ in range(2))
                process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
                started[name] = (process, out, err)
                os.sched_setaffinity(process.pid, {cpu})
            for name, (process, stdout, stderr) in started.items():
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
                stdout.seek(0)
                stderr.seek(0)
                if process.returncode != 0:
                    raise RuntimeError(f"{commands[name][0]} failed ({process.returncode}): {stderr.read()[-500:]!r}")
                results[name] = usage.ru_utime + usage.ru_stime, stdout.read().decode(errors="replace")
        finally:  # one failed: stop the others, each by its own id
            for process, _, _ in started.values():
                if process.returncode is None:
                    process.kill()
                    process.wait()
    return results


def _ours(core: str, rom: Path, frames: int, mode: str = "loop") -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", core, str(rom), str(frames), mode]


def _retroarch(core: str, rom: Path, frames: int, config: Path) -> list[str]:
    return ["retroarch", "-c", str(config), "-L", str(CORE_DIR / f"{core}_libretro.so"), str(rom),
            f"--max-frames={frames}"]


def _report(output: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return report


def measure(core: str, rom: Path, frames: int, rounds: int, config: Path, env: dict[str, str]) -> dict[str, Any]:
    ra_fps, tz_fps, ratios, reports, loop_fps = [], [], [], [], []
    for _ in range(rounds):
        one = _together({"ra": _retroarch(core, rom, 1, config), "tz": _ours(core, rom, 1, "batch")}, env)
        many = _together({"ra": _retroarch(core, rom, frames, config), "tz": _ours(core, rom, frames, "batch"),
                          "loop": _ours(core, rom, frames, "loop")}, env)
        ra_fps.append((frames - 1) / (many["ra"][0] - one["ra"][0]))
        tz_fps.append((frames - 1) / (many["tz"][0] - one["tz"][0]))
        ratios.append(tz_fps[-1] / ra_fps[-1])
        reports.append(_report(many["tz"][1]))
        loop = _report(many["loop"][1])
        reports.append(loop)
        loop_fps.append(float(loop["fps"]))
    ratio = statistics.median(ratios)
    alone = _report(_together({"tz": _ours(core, rom, 1, "batch")}, env)["tz"][1])  # start-up with a CPU to itself
    return {
        "rom": str(rom.relative_to(ROMS)), "frames": frames, "rounds": rounds,
        "treazr_fps": round(statistics.median(tz_fps), 1), "retroarch_fps": round(statistics.median(ra_fps), 1),
        "ratio": round(ratio, 3), "round_ratios": [round(r, 3) for r in ratios], "target": TARGET,
        "met": ratio >= TARGET, "worker_loop_fps": round(statistics.median(loop_fps), 1),
        "worker_loop_ratio": round(statistics.median(w / r for w, r in zip(loop_fps, ra_fps, strict=True)), 3),
        "worker_startup_s": round(float(alone["startup_s"]), 4),
        "worker_peak_rss_mb": round(max(float(r["peak_rss_mb"]) for r in reports), 1),
    }


def _self_instructions_by_object(callgrind_out: str) -> Counter[str]:
    """Instructions executed in each shared object (self cost, calls excluded) from a callgrind file."""
    objects: dict[str, str] = {}
    totals: Counter[str] = Counter()
    current, call_cost_follows = "?", False
    for line in callgrind_out.splitlines():
        if line.startswith(("ob=", "cob=")):
            found = re.match(r"c?ob=\((\d+)\)(?: (.*))?", line)
            if found is None:
                continue
            if found.group(2):
                objects[found.group(1)] = found.group(2)
            if line.startswith("ob="):
                current = objects[found.group(1)]
        elif line.startswith("calls="):
            call_cost_follows = True  # the next cost line is the callee's inclusive cost
        elif line[:1].isdigit() or line[:1] in ("+", "-", "*"):
            fields = line.split()
            if call_cost_follows:
                call_cost_follows = False
            elif len(fields) >= 2:
                totals[current] += int(fields[1])
    return totals


def _instructions_run(command: list[str], env: dict[str, str], scratch: Path) -> Counter[str]:
    out = scratch / "callgrind.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    try:
        return _self_instructions_by_object(out.read_text())
    finally:
        out.unlink()


def instructions(core: str, rom: Path, frames: int, config: Path, env: dict[str, str]) -> dict[str, Any]:
    """Per-frame instructions of the core and of each frontend: (run of N frames - run of 1) / (N - 1)."""
    core_object = str(CORE_DIR / f"{core}_libretro.so")
    env = {**env, "PYTHONHASHSEED": "0"}
    figures: dict[str, Any] = {}
    for name, make in (("retroarch", lambda n: _retroarch(core, rom, n, config)),
                       ("treazr", lambda n: _ours(core, rom, n, "batch"))):
        one, many = (_instructions_run(make(n), env, config.parent) for n in (1, frames))
        per_frame = {obj: (many[obj] - one[obj]) / (frames - 1) for obj in set(one) | set(many)}
        in_core = per_frame.pop(core_object, 0.0)
        top = sorted(per_frame.items(), key=lambda item: -item[1])[:3]
        figures[name] = {"core": round(in_core), "outside_core": round(sum(per_frame.values())),
                         "outside_core_top": {Path(obj).name: round(count) for obj, count in top}}
    ra, tz = figures["retroarch"], figures["treazr"]
    figures["ratio"] = round((ra["core"] + ra["outside_core"]) / (tz["core"] + tz["outside_core"]), 3)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and rounds (under a minute)")
    parser.add_argument("--cores", help="comma-separated subset of cores")
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions per frame under Valgrind (a few minutes)")
    parser.add_argument("--child", nargs=4, metavar=("CORE", "ROM", "FRAMES", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]), args.child[3])
        return 0
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs Valgrind (Debian package valgrind; ./dev.sh installs it)")
    wanted = set(args.cores.split(",")) if args.cores else None
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="treazr-bench-") as scratch:
        config = Path(scratch) / "retroarch.cfg"
        config.write_text(RETROARCH_CONFIG.format(dir=scratch))
        env = {**os.environ, "DBUS_FATAL_WARNINGS": "0", "HOME": scratch}
        for core, rom, frames in CASES:
            if (wanted and core not in wanted) or not (CORE_DIR / f"{core}_libretro.so").is_file():
                continue
            if not (ROMS / rom).is_file():
                continue
            figures = measure(core, ROMS / rom, frames if args.quick else frames * 3, 3 if args.quick else 5,
                              config, env)
            results[core] = figures
            print(f"{core:28} {figures['rom']:24} treazr {figures['treazr_fps']:8.1f} fps  retroarch "
                  f"{figures['retroarch_fps']:8.1f} fps  ratio {figures['ratio']:.3f} "
                  f"({'met' if figures['met'] else 'MISSED'} >= {TARGET}; rounds {figures['round_ratios']})"
                  f"  start-up {figures['worker_startup_s']}s"
                  f"  peak RSS {figures['worker_peak_rss_mb']} MB  (per-frame worker loop "
                  f"{figures['worker_loop_fps']} fps, {figures['worker_loop_ratio']}x)", flush=True)
            if args.instructions:
                counted = instructions(core, ROMS / rom, max(61, frames // 6), config, env)
                figures["instructions_per_frame"] = counted
                ra, tz = counted["retroarch"], counted["treazr"]
                print(f"{'':28} instructions per frame: in the core {tz['core']:,} under treazr, {ra['core']:,} "
                      f"under retroarch; outside it {tz['outside_core']:,} (treazr) vs {ra['outside_core']:,} "
                      f"(retroarch: {ra['outside_core_top']}); ratio {counted['ratio']:.3f}; treazr's: "
                      f"{tz['outside_core_top']}", flush=True)
    summary = {"benchmark": "emulation", "quick": args.quick, "target_ratio": TARGET, "cores": results,
               "all_met": bool(results) and all(r["met"] for r in results.values())}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
