"""A real ``treazr serve`` process on loopback: health, redirect, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path

from tests.conftest import LiveServer, start_server


def _get(url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return response.status, response.read()


def test_plain_http_server_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", tmp_path / "server.log", tls="off")
    try:
        status, body = _get(f"{server.url}/healthz")
        assert status == 200
        assert json.loads(body)["database"] == "ok"
        status, page = _get(f"{server.url}/")
        assert status == 200 and b"Treazr" in page
    finally:
        started = time.monotonic()
        code = server.stop()
        stopped_in = time.monotonic() - started
    assert code == 0, server.log()
    assert stopped_in < 15  # the process's own promise is 10 s; this only guards against a hang
    log_lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert any(entry.get("route") == "/healthz" and entry.get("request_id") for entry in log_lines)


def test_https_server_trusts_its_own_ca_and_redirects_plain_http(live_server: LiveServer) -> None:
    context = ssl.create_default_context(cafile=str(live_server.ca_path))
    status, body = _get(f"{live_server.url.replace('127.0.0.1', 'localhost')}/healthz", context)
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = _get(f"{live_server.url}/healthz", context)
    assert status == 200

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"http://127.0.0.1:{live_server.http_port}/healthz?x=1", timeout=10)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 308
        assert redirect.headers["Location"] == f"https://127.0.0.1:{live_server.url.rsplit(':', 1)[1]}/healthz?x=1"
        redirect.close()
