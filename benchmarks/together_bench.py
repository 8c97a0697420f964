"""Play-together load test: 4 demo-core sessions at once, each with 2 players and 6 spectators.

    .venv/bin/python benchmarks/together_bench.py            # 10 minutes of load
    .venv/bin/python benchmarks/together_bench.py --quick    # 25 s of load (under a minute in all)

A real ``treazr serve`` (TLS off, loopback) runs 4 sessions of the demo core. In each, the owner
hands port 2 to a second member, and both send one input message every frame (60 per second, each
a new sequence number and a changing button mask); 6 spectators (other members) watch. All 32
viewers are Python clients in 4 client processes that decode every H.264 access unit with PyAV
(FFmpeg's decoder); Opus packets are counted, not decoded. The clients stand in for other devices, so
they run at a lower priority (nice 10) than the server on this shared machine.

Printed: late frames (the server's count: frames reaching the web process over one frame period
late) and frames each viewer missed; inputs lost (sent by the players but not applied by the server,
from ``/metrics``: must be 0) and sequence gaps; whether each session's final picture shows both
players' last buttons in the marker strip; bytes per viewer; CPU of the server (web process + its
workers) and of the clients; memory (RSS) of the server and its workers after a warm-up and at the
end (growth must stay under 5%). Reference, measured first in the same run: one session with one
player and no spectators for a few seconds (server CPU per session); the ratio of the loaded
server's CPU per session to it is printed.

The last line is one JSON object with the figures, the targets and whether each was met.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SESSIONS, SPECTATORS = 4, 6
FINAL = (1 << 8, 1 << 0)  # A held on port 1, B on port 2 at the end
TARGETS = {"inputs_lost": 0, "memory_growth_pct": 5.0}  # the issue's; late frames are reported, not targeted
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- the server and its processes -----------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port, http_port = _free_port(), _free_port()
    data_dir.mkdir(parents=True)
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115 - the child owns it
    env = {k: v for k, v in os.environ.items() if not k.startswith("TREAZR_")}
    process = subprocess.Popen([sys.executable, "-m", "treazr", "--data-dir", str(data_dir), "serve", "--host",
                                "127.0.0.1", "--port", str(port), "--http-port", str(http_port), "--tls", "off"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"treazr serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("treazr serve did not start within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def family(pid: int) -> list[int]:
    """The process and its descendants (the server's emulation workers)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            continue
    return total / 1e6


def machine_cpu_s() -> tuple[float, float, float]:
    """(busy, idle, steal) CPU seconds of the whole machine from /proc/stat: a shared machine's other
    work (and a virtual machine's stolen time) explains late frames as much as Treazr does."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq) / CLK_TCK, (idle + iowait) / CLK_TCK, steal / CLK_TCK


def metric_values(url: str, family_name: str) -> dict[str, float]:
    """``{session id: value}`` of one per-session counter in /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf'^{family_name}\{{session="(\d+)"\}} ([0-9.e+]+)$', re.M)
    return {m.group(1): float(m.group(2)) for m in pattern.finditer(text)}


# -- the clients (run in child processes: ``--client SPEC``) --------------------------------------
async def _viewer(job: dict[str, Any], who: dict[str, Any], role: str, state: dict[str, Any]) -> dict[str, Any]:
    import av
    import websockets

    from treazr.emulation.demo_strip import decode_strip
    from treazr.streaming.protocol import KIND_VIDEO, encode_input

    decoder = av.CodecContext.create("h264", "r")
    got: dict[str, Any] = {"role": role, "bytes": 0, "frames": 0, "missed": 0, "sent": 0, "audio": 0,
                           "strip": None, "ports": None, "saw_final": False}
    last_no, last_frame = -1, None
    url = job["url"].replace("http://", "ws://") + f"/api/play/sessions/{job['token']}/ws"
    headers = {"Cookie": f"treazr_session={who['session']}", "Origin": job["url"]}
    async with websockets.connect(url, additional_headers=headers, max_size=1 << 24, ping_interval=None) as ws:
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "chroma444": True}))

        async def send_inputs(port: int, final: int) -> None:
            await state["ports_ready"].wait()
            period, started, seq = 1 / 60, time.monotonic(), 0
            while not state["stop_input"].is_set():
                seq += 1
                held_final = time.monotonic() > state["final_at"]
                await ws.send(encode_input(port, seq, final if held_final else 1 << (4 + seq % 4)))
                got["sent"] = seq
                await asyncio.sleep(max(0.0, started + seq * period - time.monotonic()))
            await ws.send(json.dumps({"type": "ping", "t": 0}))

        sender = None
        if role in ("owner", "guest"):
            sender = asyncio.create_task(send_inputs(0 if role == "owner" else 1, FINAL[0 if role == "owner" else 1]))
        try:
            while not state["stop"].is_set() or (role == "spectator" and not got["saw_final"]
                                                 and time.monotonic() < state["stop_deadline"]):
                try:
                    message = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    await ws.send(json.dumps({"type": "ping", "t": 0}))
                    continue
                if isinstance(message, str):
                    control = json.loads(message)
                    if control["type"] in ("welcome", "ports"):
                        got["ports"] = control["ports"]
                        if role == "guest" and control["ports"] == [1]:
                            state["ports_ready"].set()
                    if role == "owner" and control["type"] == "state" and not state["assigned"]:
                        guest = state["guest_id"]
                        if any(p["user_id"] == guest for p in control.get("players", [])):
                            state["assigned"] = True
                            await ws.send(json.dumps({"type": "assign_port", "port": 1, "user_id": guest}))
                    continue
                got["bytes"] += len(message)
                if message[0] != KIND_VIDEO:
                    got["audio"] += 1
                    continue
                frame_no = int.from_bytes(message[4:8], "big")
                if last_no >= 0 and frame_no > last_no + 1:
                    got["missed"] += frame_no - last_no - 1
                last_no = frame_no
                for picture in decoder.decode(av.Packet(message[16:])):
                    got["frames"] += 1
                    last_frame = picture
                    if role == "spectator" and not got["saw_final"] and time.monotonic() > state["final_at"]:
                        got["saw_final"] = list(decode_strip(picture.to_ndarray(format="rgb24"))[1:]) == list(FINAL)
                if time.monotonic() - state["last_ping"].get(id(ws), 0) > 1.0:
                    state["last_ping"][id(ws)] = time.monotonic()
                    await ws.send(json.dumps({"type": "ping", "t": 0}))
        finally:
            if sender is not None:
                sender.cancel()
        if last_frame is not None:
            got["strip"] = list(decode_strip(last_frame.to_ndarray(format="rgb24"))[1:])
    return got


async def _client_main(job: dict[str, Any]) -> list[dict[str, Any]]:
    state: dict[str, Any] = {"stop": asyncio.Event(), "stop_input": asyncio.Event(), "ports_ready": asyncio.Event(),
                             "assigned": False, "guest_id": job["guest"]["user_id"], "last_ping": {},
                             "stop_deadline": 0.0, "final_at": time.monotonic() + job["duration"] - 1.5}
    tasks = [asyncio.create_task(_viewer(job, job["owner"], "owner", state))]
    await asyncio.sleep(0.5)
    if job["guest"]["user_id"] < 0:  # the reference: the owner plays alone
        state["ports_ready"].set()
    else:
        tasks.append(asyncio.create_task(_viewer(job, job["guest"], "guest", state)))
    tasks += [asyncio.create_task(_viewer(job, who, "spectator", state)) for who in job["spectators"]]
    await asyncio.sleep(job["duration"])
    state["stop_input"].set()
    print("inputs-stopped", flush=True)  # the parent reads /metrics, then tells us to stop
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    state["stop_deadline"] = time.monotonic() + 10.0  # a lagging spectator may still decode the last frames
    state["stop"].set()
    return list(await asyncio.gather(*tasks))


def run_client(spec: str) -> None:
    # The clients stand in for 32 other devices; on this one machine they must not take the CPU the
    # server's realtime workers need (a viewer that falls behind shows up as frames it missed).
    os.nice(10)
    print(json.dumps(asyncio.run(_client_main(json.loads(spec)))), flush=True)


# -- the load -------------------------------------------------------------------------------------
def sign_up_people(url: str, data_dir: Path, count: int) -> list[dict[str, Any]]:
    import httpx

    from tests.support.identity import sign_up_sync
    from treazr.composition import open_treazr
    from treazr.settings import load_settings

    services = open_treazr(load_settings(overrides={"data_dir": str(data_dir)}, environ={}))
    try:
        with httpx.Client(base_url=url) as client:
            people = [sign_up_sync(client, services, f"Member {n}") for n in range(count)]
    finally:
        services.close()
    return [{"user_id": p.user_id, "session": p.session, "name": p.name} for p in people]


def start_session(url: str, owner: dict[str, Any]) -> dict[str, Any]:
    import httpx

    headers = {"Cookie": f"treazr_session={owner['session']}", "Origin": url}
    response = httpx.post(f"{url}/api/play/sessions", json={"game_id": 0, "chroma": "444"}, headers=headers,
                          timeout=60)
    response.raise_for_status()
    session: dict[str, Any] = response.json()["session"]
    return session


def reference(url: str, server_pid: int, owner: dict[str, Any], seconds: float) -> float:
    """Server CPU seconds per second for one session with one player and no spectators."""
    session = start_session(url, owner)
    job = {"url": url, "token": session["token"], "owner": owner, "guest": {"user_id": -1, "session": ""},
           "spectators": [], "duration": seconds}
    client = subprocess.Popen([sys.executable, __file__, "--client", json.dumps(job)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(2.0)
    pids = family(server_pid)
    before, started = cpu_s(pids), time.monotonic()
    assert client.stdout is not None and client.stdin is not None
    client.stdout.readline()
    used = (cpu_s(family(server_pid)) - before) / (time.monotonic() - started)
    client.stdin.write("\n")
    client.stdin.flush()
    client.communicate(timeout=60)
    headers = {"Cookie": f"treazr_session={owner['session']}", "Origin": url}
    import httpx

    httpx.post(f"{url}/api/play/sessions/{session['token']}/end", headers=headers, timeout=60)
    return used


def load(url: str, server_pid: int, people: list[dict[str, Any]], duration: float,
         warmup: float) -> dict[str, Any]:
    spectators = people[2 * SESSIONS:2 * SESSIONS + SPECTATORS]
    sessions = [start_session(url, people[2 * n]) for n in range(SESSIONS)]
    clients = []
    for n, session in enumerate(sessions):
        job = {"url": url, "token": session["token"], "owner": people[2 * n], "guest": people[2 * n + 1],
               "spectators": spectators, "duration": duration}
        clients.append(subprocess.Popen([sys.executable, __file__, "--client", json.dumps(job)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    client_pids = [c.pid for c in clients]
    time.sleep(warmup)
    pids = family(server_pid)
    memory_start, cpu_start, clients_cpu_start = rss_mb(pids), cpu_s(pids), cpu_s(client_pids)
    web_cpu_start = cpu_s([server_pid])
    machine_start = machine_cpu_s()
    frames_start = metric_values(url, "treazr_play_frames_total")
    late_start = metric_values(url, "treazr_play_late_frames_total")
    started = time.monotonic()
    for client in clients:
        assert client.stdout is not None
        line = client.stdout.readline()
        if line.strip() != "inputs-stopped":
            raise SystemExit(f"a client process failed: {line!r}")
    elapsed = time.monotonic() - started
    pids = family(server_pid)
    memory_end, server_cpu = rss_mb(pids), cpu_s(pids) - cpu_start
    web_cpu = cpu_s([server_pid]) - web_cpu_start
    clients_cpu = cpu_s(client_pids) - clients_cpu_start
    busy, idle, steal = (end - start for end, start in zip(machine_cpu_s(), machine_start, strict=True))
    time.sleep(1.0)  # the last inputs land
    applied = metric_values(url, "treazr_play_inputs_total")
    gaps = metric_values(url, "treazr_play_input_gaps_total")
    frames = metric_values(url, "treazr_play_frames_total")
    late = metric_values(url, "treazr_play_late_frames_total")
    results = []
    for client in clients:
        assert client.stdin is not None
        out, _ = client.communicate("\n", timeout=120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    ids = [str(s["id"]) for s in sessions]
    viewers = [v for per_session in results for v in per_session]
    sent = sum(v["sent"] for v in viewers)
    frames_run = sum(frames.get(i, 0) - frames_start.get(i, 0) for i in ids)
    late_run = sum(late.get(i, 0) - late_start.get(i, 0) for i in ids)
    strips_ok = sum(1 for v in viewers if v["role"] == "spectator" and (v["saw_final"] or v["strip"] == list(FINAL)))
    return {
        "sessions": SESSIONS, "viewers": len(viewers), "seconds": round(elapsed, 1),
        "frames": int(frames_run), "late_frames": int(late_run),
        "late_frame_pct": round(100 * late_run / max(frames_run, 1), 3),
        "frames_missed_by_viewers": sum(v["missed"] for v in viewers),
        "frames_decoded": sum(v["frames"] for v in viewers),
        "inputs_sent": sent, "inputs_applied": int(sum(applied.get(i, 0) for i in ids)),
        "inputs_lost": int(sent - sum(applied.get(i, 0) for i in ids)),
        "input_gaps": int(sum(gaps.get(i, 0) for i in ids)),
        "spectators_seeing_final_buttons": f"{strips_ok}/{SESSIONS * SPECTATORS}",
        "guests_on_port_2": sum(1 for v in viewers if v["role"] == "guest" and v["ports"] == [1]),
        "kbit_s_per_viewer": round(sum(v["bytes"] for v in viewers) * 8 / 1000 / len(viewers) / max(duration, 1), 1),
        "server_cpu_pct": round(100 * server_cpu / elapsed, 1),
        "web_process_cpu_pct": round(100 * web_cpu / elapsed, 1),
        "clients_cpu_pct": round(100 * clients_cpu / elapsed, 1),
        "machine_busy_pct": round(100 * busy / (busy + idle + steal), 1),
        "machine_steal_pct": round(100 * steal / (busy + idle + steal), 1),
        "other_work_cpu_pct": round(100 * (busy - server_cpu - clients_cpu) / elapsed, 1),
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "memory_start_mb": round(memory_start, 1), "memory_end_mb": round(memory_end, 1),
        "memory_growth_pct": round(100 * (memory_end - memory_start) / memory_start, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="25 s of load instead of 10 minutes")
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args.client)
        return
    duration = args.seconds or (25.0 if args.quick else 600.0)
    warmup = 5.0 if args.quick else 20.0
    work = Path(tempfile.mkdtemp(prefix="treazr-together-bench-"))
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (other work shares them)")
    process, url = start_server(work / "data")
    try:
        people = sign_up_people(url, work / "data", 2 * SESSIONS + SPECTATORS)
        ref = reference(url, process.pid, people[0], 4.0 if args.quick else 10.0)
        figures = load(url, process.pid, people, duration, warmup)
    finally:
        stop(process)
    figures["reference_server_cpu_pct_one_session"] = round(100 * ref, 1)
    per_session = figures["server_cpu_pct"] / SESSIONS
    figures["cpu_per_session_vs_reference"] = round(per_session / max(100 * ref, 0.01), 2)
    print(f"{SESSIONS} sessions x (2 players + {SPECTATORS} spectators) for {figures['seconds']} s of measured load")
    print(f"late frames: {figures['late_frames']} of {figures['frames']} ({figures['late_frame_pct']}%);"
          f" frames viewers missed (skipped to an IDR): {figures['frames_missed_by_viewers']}")
    print(f"inputs: {figures['inputs_sent']} sent, {figures['inputs_applied']} applied, lost {figures['inputs_lost']},"
          f" gaps {figures['input_gaps']}; final buttons seen by {figures['spectators_seeing_final_buttons']}"
          f" spectators; {figures['guests_on_port_2']} guests on port 2")
    print(f"bytes: {figures['kbit_s_per_viewer']} kbit/s per viewer")
    print(f"CPU: server {figures['server_cpu_pct']}% of one core (web process {figures['web_process_cpu_pct']}%,"
          f" the rest its 4 workers), clients {figures['clients_cpu_pct']}%,"
          f" everything else {figures['other_work_cpu_pct']}%; the machine ({os.cpu_count()} cores) was"
          f" {figures['machine_busy_pct']}% busy, {figures['machine_steal_pct']}% stolen by its host;"
          f" reference (1 session, 1 player): {figures['reference_server_cpu_pct_one_session']}% ->"
          f" {figures['cpu_per_session_vs_reference']}x per session under load")
    print(f"memory: {figures['memory_start_mb']} MB after warm-up, {figures['memory_end_mb']} MB at the end"
          f" ({figures['memory_growth_pct']:+}%)")
    met = {"inputs_lost": figures["inputs_lost"] == TARGETS["inputs_lost"],
           "memory_growth_pct": figures["memory_growth_pct"] < TARGETS["memory_growth_pct"]}
    print(json.dumps({"figures": figures, "targets": TARGETS, "met": met, "quick": args.quick}))


if __name__ == "__main__":
    main()
