"""Web app benchmark: a 10,000-game library behind a real ``treazr serve`` on loopback, 8 clients at once.

    .venv/bin/python benchmarks/web_bench.py            # 10,000 games, 400 requests per route
    .venv/bin/python benchmarks/web_bench.py --quick    # 10,000 games, 120 requests per route

Synthetic games (and one file each) are written through the real schema, a member signs in the real way
(an invite, an Ed25519 key, a signed challenge), then 8 client threads with keep-alive connections
request, in turn: the home page, a title search (``/api/games?q=``), a game page and a page of the JSON
list (random pages and sorts). The server time of each request comes from the server's own JSON request
log (matched by ``X-Request-Id``); the client's round trip on loopback is printed beside it (it adds
queueing in front of the one event loop and the client's own work). The reference is ``/healthz`` under
the same load in the same run (the cheapest route: middleware and framework only); each route's p95 is
printed with its ratio to that. The last line is one JSON object with the figures,
the target (p95 <= 100 ms per route) and whether it was met.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from treazr.auth.invites import issue_invite  # noqa: E402
from treazr.auth.keys import b64url, signed_message  # noqa: E402
from treazr.auth.users import create_user  # noqa: E402
from treazr.composition import open_treazr  # noqa: E402
from treazr.settings import load_settings  # noqa: E402

TARGET_P95_MS = 100.0
CLIENTS = 8
GAMES = 10_000
WORDS = ("super", "mario", "zelda", "metroid", "sonic", "castle", "quest", "dragon", "star", "fighter", "racing",
         "kart", "soccer", "tennis", "golf", "puzzle", "bomber", "ninja", "turtles", "street", "warrior", "legend",
         "island", "kirby", "donkey", "kong", "wario", "yoshi", "pokemon", "fire", "emblem", "final", "fantasy",
         "mega", "man", "contra", "gradius", "tetris", "pinball", "adventure", "world", "land", "dream", "tales")
PLATFORMS = ("nes", "snes", "gb", "gbc", "gba", "pce", "md", "sms", "gg", "a2600", "n64")


def _title(rng: random.Random, index: int) -> str:
    return " ".join(w.capitalize() for w in rng.sample(WORDS, rng.randint(2, 4))) + f" {index % 97}"


def populate(data_dir: Path, rng: random.Random) -> None:
    """10,000 games with one file each, straight through the real schema (no ROM bytes needed to browse)."""
    services = open_treazr(load_settings(overrides={"data_dir": str(data_dir)}, environ={}))
    now = "2026-01-01T00:00:00+00:00"
    games = [(i, PLATFORMS[i % len(PLATFORMS)], _title(rng, i), rng.choice(["USA", "Europe", "Japan", ""]), now, now)
             for i in range(1, GAMES + 1)]
    files = [(g[0], f"/library/{g[1]}/{g[2]} ({g[0]}).rom", 65536, 0, f"{g[0]:08x}", f"{g[0]:032x}", f"{g[0]:040x}",
              f"{g[0]:064x}", now, now) for g in games]

    def write(conn: Any) -> None:
        conn.executemany("INSERT INTO games (id, platform, title, region, added_at, updated_at) VALUES (?,?,?,?,?,?)",
                         games)
        conn.executemany("INSERT INTO files (game_id, path, size, mtime_ns, crc32, md5, sha1, sha256, added_at,"
                         " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)", files)

    services.db.write(write)
    services.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    log = open(data_dir.parent / "server.log", "wb")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen([sys.executable, "-m", "treazr", "--data-dir", str(data_dir), "serve", "--host",
                                "127.0.0.1", "--port", str(port), "--http-port", "0", "--tls", "off"],

                               stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                               env={k: v for k, v in os.environ.items() if not k.startswith("TREAZR_")})
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _, _ = request(port, "GET", "/healthz", {})
            if status == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise SystemExit("the server did not start: " + (data_dir.parent / "server.log").read_text())


def stop_server(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the server we started, by its own id; killed if it has not stopped within ``timeout``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
            conn: http.client.HTTPConnection | None = None) -> tuple[int, bytes, str]:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("x-request-id") or ""
    finally:
        if own:
            conn.close()


def sign_in(data_dir: Path, port: int, name: str = "Bench") -> dict[str, str]:
    """A member, enrolled the real way; returns the headers that carry their session."""
    services = open_treazr(load_settings(overrides={"data_dir": str(data_dir)}, environ={}))
    user = services.db.write(lambda conn: create_user(conn, name, "member"))
    token = services.db.write(lambda conn: issue_invite(conn, user["id"], 24)).token
    services.close()
    origin = f"http://127.0.0.1:{port}"
    key = SigningKey.generate()
    public = b64url(bytes(key.verify_key))
    json_headers = {"Content-Type": "application/json", "Origin": origin}
    _, raw, _ = request(port, "POST", "/api/auth/challenge", json_headers, json.dumps({"public_key": public}).encode())
    challenge = json.loads(raw)
    signature = key.sign(signed_message(origin, challenge["challenge_id"], challenge["nonce"])).signature
    body = {"challenge_id": challenge["challenge_id"], "public_key": public, "signature": b64url(signature),
            "invite": token, "device_label": "bench"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/api/auth/enroll", body=json.dumps(body).encode(), headers=json_headers)
    response = conn.getresponse()
    response.read()
    cookie = (response.getheader("set-cookie") or "").split(";")[0]
    conn.close()
    if response.status != 200 or not cookie:
        raise SystemExit(f"sign-in failed: {response.status}")
    return {"Cookie": cookie, "Accept": "text/html"}


def route_paths(rng: random.Random, kind: str) -> str:
    if kind == "home":
        return "/"
    if kind == "search":
        return f"/api/games?q={rng.choice(WORDS)}%20{rng.choice(WORDS)[:3]}"
    if kind == "game":
        return f"/games/{rng.randint(1, GAMES)}"
    if kind == "list":
        return f"/api/games?page={rng.randint(1, GAMES // 48)}&sort={rng.choice(['title', 'added', 'recent'])}"
    return "/healthz"


def run_load(port: int, headers: dict[str, str], kinds: list[str], per_route: int,
             clients: int = CLIENTS) -> tuple[dict[str, list[float]], dict[str, str]]:
    """CLIENTS threads, each with a keep-alive connection, cycling through the routes; returns the round
    trips per route and each request id's route (to find the server's own time in its log)."""
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    ids: dict[str, str] = {}
    lock = threading.Lock()
    total = per_route * len(kinds)
    counter = iter(range(total))
    failures: list[str] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for n in counter:
                kind = kinds[n % len(kinds)]
                path = route_paths(rng, kind)
                started = time.perf_counter()
                status, _, request_id = request(port, "GET", path, headers, conn=conn)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    timings[kind].append(elapsed)
                    ids[request_id] = kind
                    if status != 200:
                        failures.append(f"{path}: {status}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    return timings, ids


def server_times(log: Path, ids: dict[str, str]) -> dict[str, list[float]]:
    """The server's own time per request (first byte in to last byte out, from its JSON request log)."""
    out: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        kind = ids.get(str(entry.get("request_id", "")))
        if kind and "ms" in entry:
            out.setdefault(kind, []).append(float(entry["ms"]))
    return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (under a minute)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help=f"concurrent clients (default {CLIENTS})")
    args = parser.parse_args()
    per_route = 120 if args.quick else 400
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="treazr-web-bench-") as scratch:
        data_dir = Path(scratch) / "data"
        started = time.monotonic()
        populate(data_dir, rng)
        print(f"library: {GAMES} games written in {time.monotonic() - started:.1f} s")
        process, port = start_server(data_dir)
        try:
            headers = sign_in(data_dir, port)
            run_load(port, headers, ["home", "search", "game", "list", "reference"], 8)  # warm up (core probe)
            timings, ids = run_load(port, headers, ["home", "search", "game", "list", "reference"], per_route,
                                    args.clients)
        finally:
            stop_server(process, timeout=20)
        server = server_times(data_dir / "logs" / "treazr.log", ids)
    report(timings, server, per_route, args.clients)


def report(timings: dict[str, list[float]], server: dict[str, list[float]], per_route: int, clients: int) -> None:
    reference = percentile(server["reference"], 0.95)
    figures: dict[str, Any] = {"games": GAMES, "clients": clients, "requests_per_route": per_route,
                               "reference_server_p95_ms": round(reference, 2)}
    met = True
    print(f"{clients} clients, {per_route} requests per route; reference /healthz server p95 {reference:.1f} ms")
    print("           server time (p50 / p95)        round trip seen by the client (p50 / p95)")
    for kind in ("home", "search", "game", "list"):
        values, trips = server[kind], timings[kind]
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        figures[f"{kind}_p50_ms"], figures[f"{kind}_p95_ms"] = round(p50, 2), round(p95, 2)
        figures[f"{kind}_p95_ratio_to_reference"] = round(p95 / reference, 2)
        figures[f"{kind}_round_trip_p95_ms"] = round(percentile(trips, 0.95), 2)
        met = met and p95 <= TARGET_P95_MS
        print(f"  {kind:7s} {p50:6.1f} / {p95:6.1f} ms ({p95 / reference:4.1f}x reference)"
              f"      {statistics.median(trips):6.1f} / {percentile(trips, 0.95):6.1f} ms")
    print(json.dumps({**figures, "target_p95_ms": TARGET_P95_MS, "met": met}))


if __name__ == "__main__":
    main()
