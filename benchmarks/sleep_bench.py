"""Games nobody watches cost nothing: the server's CPU with seven sleeping games and one played, against one alone.

    .venv/bin/python benchmarks/sleep_bench.py            # 60 s per phase
    .venv/bin/python benchmarks/sleep_bench.py --quick    # 12 s per phase (under a minute in all)

A real ``treazr serve`` on loopback (TLS off) with one real NES ROM. Eight members sign in. Reference,
measured first: member 1 plays the game (a viewer reading every packet, as a browser tab would) and the
CPU of the server's whole process tree (the web process and its emulation workers, from /proc) is
measured over one phase. Then members 2..8 each start the same game, watch it for two seconds and go
back to the library (the socket closes); once the server says all seven sleep, the same phase is
measured again with member 1 still playing. The ratio of the second figure to the first is the cost
of seven sleeping games; target: within 10%. The sleeping games' frame counters are read before and
after (they must not move). The viewers run in this process at nice 10, standing in for other devices.
The last line is one JSON object with the figures, the target and whether it was met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from together_bench import cpu_s, family, sign_up_people, start_server, stop  # noqa: E402

from tests.support.rom_folder import rom_folder  # noqa: E402

ROM = rom_folder() / "nes" / "test_buttons.nes"
SLEEPERS = 7
TARGET_RATIO = 1.10


def _headers(url: str, who: dict[str, Any]) -> dict[str, str]:
    return {"Cookie": f"treazr_session={who['session']}", "Origin": url}


def import_rom(data_dir: Path) -> int:
    from treazr.composition import open_treazr
    from treazr.library.scanner import import_paths
    from treazr.settings import load_settings

    services = open_treazr(load_settings(overrides={"data_dir": str(data_dir)}, environ={}))
    try:
        report = import_paths(services, [ROM])
        if report.added != 1:
            raise SystemExit(f"could not import {ROM}: {report.as_json()}")
        return int(services.db.query_one("SELECT id FROM games")["id"])  # type: ignore[index]
    finally:
        services.close()


async def watch(url: str, who: dict[str, Any], token: str, stop_at: asyncio.Event | float) -> int:
    """One viewer: hello, then read every message (pinging once a second) until ``stop_at``; frames read."""
    import websockets

    from treazr.streaming.protocol import KIND_VIDEO

    frames, last_ping = 0, 0.0
    ws_url = url.replace("http://", "ws://") + f"/api/play/sessions/{token}/ws"
    async with websockets.connect(ws_url, additional_headers=_headers(url, who), max_size=1 << 24,
                                  ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "chroma444": True}))
        while not (stop_at.is_set() if isinstance(stop_at, asyncio.Event) else time.monotonic() > stop_at):
            try:
                message = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            if isinstance(message, bytes) and message[0] == KIND_VIDEO:
                frames += 1
            if time.monotonic() - last_ping > 1.0:
                last_ping = time.monotonic()
                await ws.send(json.dumps({"type": "ping", "t": 0}))
    return frames


async def measure(pid: int, seconds: float) -> tuple[float, float]:
    """CPU seconds per second of the server's process tree, and of its web process alone, over ``seconds``."""
    before, web_before, started = cpu_s(family(pid)), cpu_s([pid]), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    return (cpu_s(family(pid)) - before) / elapsed, (cpu_s([pid]) - web_before) / elapsed


async def run(url: str, pid: int, people: list[dict[str, Any]], game_id: int, seconds: float) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def start(who: dict[str, Any]) -> dict[str, Any]:
            response = await client.post("/api/play/sessions", json={"game_id": game_id}, headers=_headers(url, who))
            response.raise_for_status()
            session: dict[str, Any] = response.json()["session"]
            return session

        async def describe(who: dict[str, Any], token: str) -> dict[str, Any]:
            response = await client.get(f"/api/play/sessions/{token}", headers=_headers(url, who))
            response.raise_for_status()
            session: dict[str, Any] = response.json()["session"]
            return session

        player = people[0]
        played = await start(player)
        done = asyncio.Event()
        viewer = asyncio.create_task(watch(url, player, played["token"], done))
        await asyncio.sleep(3.0)  # warm-up: the stream is steady
        alone, web_alone = await measure(pid, seconds)

        sleepers = []
        for who in people[1:1 + SLEEPERS]:
            session = await start(who)
            await watch(url, who, session["token"], time.monotonic() + 2.0)  # play a little, back to the library
            sleepers.append((who, session["token"]))
        deadline = time.monotonic() + 30
        while not all([(await describe(w, t))["asleep"] for w, t in sleepers]):
            if time.monotonic() > deadline:
                raise SystemExit("the games left behind did not go to sleep within 30 s")
            await asyncio.sleep(0.2)
        frames_before = [(await describe(w, t))["frames"] for w, t in sleepers]
        await asyncio.sleep(1.0)
        with_sleepers, web_with_sleepers = await measure(pid, seconds)
        frames_after = [(await describe(w, t))["frames"] for w, t in sleepers]
        done.set()
        frames_played = await viewer
        running = len((await client.get("/api/play/sessions", headers=_headers(url, player))).json()["sessions"])
    return {"alone_cpu_pct": round(100 * alone, 1), "with_sleepers_cpu_pct": round(100 * with_sleepers, 1),
            "web_process_alone_cpu_pct": round(100 * web_alone, 1),
            "web_process_with_sleepers_cpu_pct": round(100 * web_with_sleepers, 1),
            "ratio": round(with_sleepers / max(alone, 1e-6), 3), "sleeping_games": len(sleepers),
            "running_sessions": running, "frames_while_asleep": sum(frames_after) - sum(frames_before),
            "frames_read_by_player": frames_played, "seconds_per_phase": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="12 s per phase instead of 60")
    args = parser.parse_args()
    seconds = 12.0 if args.quick else 60.0
    os.nice(10)  # the viewers here stand in for other devices: the server's workers come first
    work = Path(tempfile.mkdtemp(prefix="treazr-sleep-bench-"))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work shares them)")
    process, url = start_server(work / "data")
    try:
        game_id = import_rom(work / "data")
        people = sign_up_people(url, work / "data", 1 + SLEEPERS)
        figures = asyncio.run(run(url, process.pid, people, game_id, seconds))
    finally:
        stop(process)
    print(f"server CPU (web process + workers), {ROM.name} played by one member: {figures['alone_cpu_pct']}% of one"
          f" core alone (web process {figures['web_process_alone_cpu_pct']}%),"
          f" {figures['with_sleepers_cpu_pct']}% (web process {figures['web_process_with_sleepers_cpu_pct']}%)"
          f" with {figures['sleeping_games']} more games asleep"
          f" ({figures['ratio']}x; target <= {TARGET_RATIO}x); frames emulated while asleep:"
          f" {figures['frames_while_asleep']}; {figures['running_sessions']} sessions running")
    met = {"ratio": figures["ratio"] <= TARGET_RATIO, "frames_while_asleep": figures["frames_while_asleep"] == 0}
    print(json.dumps({"figures": figures, "targets": {"ratio": TARGET_RATIO, "frames_while_asleep": 0}, "met": met,
                      "quick": args.quick}))


if __name__ == "__main__":
    main()
