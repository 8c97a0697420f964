"""Prometheus metrics: request counts and latencies by route, and whatever the domain registers."""

from __future__ import annotations

import logging
import secrets
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "HttpMetrics", "generate_latest", "request_middleware"]

log = logging.getLogger("treazr.http")


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter("treazr_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("treazr_http_request_seconds", "HTTP request time by route",
                                 ["method", "route"], registry=registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


def request_middleware(app: ASGIApp) -> ASGIApp:
    """Give each HTTP request an id (``X-Request-Id``), count it, time it and log it as JSON."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            method = scope.get("method", "GET")
            metrics: HttpMetrics | None = getattr(scope["app"].state, "http_metrics", None)
            if metrics is not None:
                metrics.requests.labels(method, route, str(status)).inc()
                metrics.latency.labels(method, route).observe(elapsed)
            log.info("request", extra={"request_id": request_id, "method": method,
                                       "path": scope["path"], "route": route, "status": status,
                                       "ms": round(elapsed * 1000, 2)})

    return middleware
