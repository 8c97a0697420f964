"""The Litestar application factory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.response_cache import ResponseCacheConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from prometheus_client import CollectorRegistry

from treazr import __version__
from treazr.auth.sessions import watch_ended_sessions
from treazr.emulation.auto_covers import AutoCovers
from treazr.library.recovery import recover
from treazr.paths import assets_dir
from treazr.services import Services
from treazr.streaming.manager import SessionManager
from treazr.web.assets import AssetManifest
from treazr.web.errors import EXCEPTION_HANDLERS
from treazr.web.metrics import HttpMetrics, request_middleware
from treazr.web.routes.admin import stop_jobs
from treazr.web.security import security_middleware

__all__ = ["create_app"]


def _route_handlers() -> list[Any]:
    from treazr.web import assets
    from treazr.web.routes import admin, auth, health, history, library, pages, play, saves, uploads

    handlers: list[Any] = []
    for module in (assets, health, auth, library, play, pages, admin, saves, history, uploads):
        handlers.extend(module.ROUTES)
    return handlers


def create_app(services: Services) -> Litestar:
    """Build the app around already opened services (the caller owns and closes them)."""
    registry = CollectorRegistry()
    manifest = AssetManifest.build()
    play = SessionManager(services, registry)
    covers = AutoCovers(services)

    def _globals(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["asset_url"] = manifest.url
        engine.engine.globals["import_map"] = manifest.import_map()

    template_config = TemplateConfig(directory=assets_dir() / "templates", engine=JinjaTemplateEngine,
                                     engine_callback=_globals)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.started_monotonic = time.monotonic()
        await asyncio.to_thread(recover, services.db, services.data)  # what a killed import left behind
        await play.start()
        covers.start()
        revocation_watch = asyncio.create_task(watch_ended_sessions(services.db, services.revocations.publish))
        try:
            yield
        finally:
            revocation_watch.cancel()
            await asyncio.gather(revocation_watch, return_exceptions=True)
            await covers.stop()
            await stop_jobs(app)
            await play.stop()
            await services.db.close_async_reader()

    state = State({
        "services": services,
        "assets": manifest,
        "metrics_registry": registry,
        "http_metrics": HttpMetrics(registry),
        "play": play,
        "auto_covers": covers,
        "started_monotonic": time.monotonic(),
    })
    return Litestar(
        route_handlers=_route_handlers(),
        state=state,
        lifespan=[lifespan],
        middleware=[request_middleware, security_middleware],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        template_config=template_config,
        request_max_body_size=services.settings.server.max_request_kb * 1024,
        response_cache_config=ResponseCacheConfig(),
        # The API description for signed-in users only (the auth middleware guards it like any route);
        # JSON/YAML only, since the HTML viewers load scripts from CDNs that the CSP forbids.
        openapi_config=OpenAPIConfig(title="Treazr", version=__version__, path="/schema",
                                     render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()]),
        # Logging is ours (JSON lines, configured by ``treazr serve``), not Litestar's default format.
        logging_config=None,
        debug=False,
    )
