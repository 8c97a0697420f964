"""Health and metrics: open to anyone on the network (no personal data), for monitoring."""

from __future__ import annotations

import time
from typing import Any

from litestar import MediaType, Request, Response, get

from treazr import __version__
from treazr.disk import disk_space
from treazr.web.metrics import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["ROUTES"]


@get("/healthz", sync_to_thread=False, opt={"public": True})
def healthz(request: Request) -> dict[str, Any]:
    """Anyone: is the server up, is its database writer running, and has its disk room?

    Answered from memory and one ``statvfs``, without reading the database file: anyone on the network
    may call this as often as they like. The full ``quick_check`` is ``treazr doctor``'s."""
    services = request.app.state.services
    started: float = request.app.state.started_monotonic
    space = disk_space(services.data.root)
    return {
        "status": "ok",
        "version": __version__,
        "uptime_s": round(time.monotonic() - started, 3),
        "database": "ok" if services.db.alive() else "error",
        "disk": "low" if space.low else "ok",
        "disk_free_bytes": space.free,
    }


@get("/metrics", sync_to_thread=False, media_type=MediaType.TEXT, opt={"public": True})
def metrics(request: Request) -> Response[bytes]:
    """Anyone on the LAN: Prometheus text format (counts and latencies only, no personal data)."""
    body = generate_latest(request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


ROUTES = [healthz, metrics]
