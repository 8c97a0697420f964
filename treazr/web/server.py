"""Run the app with uvicorn in this process: HTTPS on the main port, a plain-HTTP redirect beside it."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from treazr.errors import TreazrError
from treazr.services import Services
from treazr.web.app import create_app

__all__ = ["ServerPlan", "plan_server", "run_server"]

log = logging.getLogger("treazr.server")


@dataclass(frozen=True)
class ServerPlan:
    host: str
    port: int
    http_port: int
    certfile: Path | None
    keyfile: Path | None

    @property
    def scheme(self) -> str:
        return "https" if self.certfile else "http"

    def url(self, host: str | None = None) -> str:
        shown = host or ("localhost" if self.host in ("0.0.0.0", "::", "127.0.0.1", "::1") else self.host)
        return f"{self.scheme}://{shown}:{self.port}"


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def plan_server(services: Services) -> ServerPlan:
    """Decide what to listen on, creating or reissuing the LAN certificate when TLS is automatic."""
    server = services.settings.server
    for key, port in (("server.port", server.port), ("server.http_port", server.http_port)):
        if port and not port_free(server.host, port):
            raise TreazrError(f"port {port} on {server.host} is in use (is Treazr already running?); "
                              f"choose another with {key} or --{key.split('.')[1].replace('_', '-')}")
    certfile = keyfile = None
    if server.tls == "custom":
        certfile, keyfile = Path(server.tls_cert), Path(server.tls_key)
    elif server.tls == "auto":
        from treazr.auth.tls import ensure_server_certificate

        certfile, keyfile = ensure_server_certificate(services.data.certificates, server.host)
    http_port = server.http_port if certfile else 0
    return ServerPlan(server.host, server.port, http_port, certfile, keyfile)


async def _redirect_to_https(plan: ServerPlan) -> asyncio.Server:
    """A tiny listener on the plain-HTTP port that sends every request to the HTTPS port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            if not target.startswith("/"):
                target = "/"
            host = next((line.split(":", 1)[1].strip() for line in lines[1:]
                         if line.lower().startswith("host:")), "localhost")
            host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            location = f"https://{host}:{plan.port}{target}"
            writer.write(f"HTTP/1.1 308 Permanent Redirect\r\nLocation: {location}\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n".encode("latin-1"))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, plan.host, plan.http_port)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after a graceful stop (exit -15); a clean stop should exit 0."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def run_server(services: Services, plan: ServerPlan, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; stop accepting, finish requests and writes, and return."""
    config = uvicorn.Config(
        create_app(services),
        host=plan.host,
        port=plan.port,
        ssl_certfile=str(plan.certfile) if plan.certfile else None,
        ssl_keyfile=str(plan.keyfile) if plan.keyfile else None,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=8,
        ws_per_message_deflate=False,
        lifespan="on",
    )
    server = _Server(config)

    async def main() -> None:
        redirect = await _redirect_to_https(plan) if plan.http_port else None
        watcher = asyncio.create_task(_announce_when_started(server, on_ready))
        try:
            await server.serve()
        finally:
            watcher.cancel()
            if redirect is not None:
                redirect.close()
                await redirect.wait_closed()

    asyncio.run(main())


async def _announce_when_started(server: uvicorn.Server, on_ready: Callable[[], None] | None) -> None:
    while not server.started:
        await asyncio.sleep(0.05)
    if on_ready is not None:
        on_ready()
