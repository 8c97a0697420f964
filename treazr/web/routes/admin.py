"""Administration: the admin pages (users, library, cores, server, history) and their JSON routes.

Users, devices, invites, grants and the audit log are A's JSON routes (``treazr.web.routes.accounts``);
the pages here call them. Everything in this module is admin-only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.response import Template

from treazr import __version__
from treazr.disk import DiskSpace
from treazr.emulation.auto_covers import make_missing_covers
from treazr.errors import Conflict, InvalidInput, PermissionDenied, TreazrError
from treazr.library import repository
from treazr.library.scanner import import_paths
from treazr.services import Services
from treazr.streaming.playtime import household, user_sessions
from treazr.web.routes._common import error_page, iso_time, services_of
from treazr.web.routes.library import visible_collections
from treazr.web.routes.play import play_manager
from treazr.web.security import admin_only, current_user

__all__ = ["ROUTES", "RescanJob", "known_roots", "stop_jobs"]


class _Stopped(Exception):
    """Raised from the progress callback to stop a rescan when the server shuts down."""


@dataclass
class RescanJob:
    """One background library job (a rescan, or making cover pictures); the admin page polls it."""

    paths: list[str]
    kind: str = "rescan"  # rescan | covers
    state: str = "running"  # running | done | failed | stopped
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    stopping: bool = False

    def progress(self, files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> None:
        if self.stopping:
            raise _Stopped
        self.files_done, self.files_total, self.bytes_done, self.bytes_total = (files_done, files_total, bytes_done,
                                                                                bytes_total)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "stopping"}


async def known_roots(services: Services) -> list[str]:
    """Folders to rescan: the configured roots, every folder imported before, and the uploads."""
    return await repository.known_roots(services.db, services.settings.library.roots, services.data.uploads)


def _job(request: Request[Any, Any, State]) -> RescanJob | None:
    job: RescanJob | None = request.app.state.get("rescan_job")
    return job


async def _run(services: Services, job: RescanJob, dats: list[str], imported: Callable[[], None]) -> None:
    try:
        report = await asyncio.to_thread(import_paths, services, job.paths, dats=dats, progress=job.progress)
        job.report, job.state = report.as_json(), "done"
        imported()
    except _Stopped:
        job.state = "stopped"
    except TreazrError as error:
        job.error, job.state = str(error), "failed"
    except Exception as error:  # shown to the admin, not swallowed silently
        job.error, job.state = f"the rescan failed: {error}", "failed"
    finally:
        job.finished = time.time()


async def _make_covers(services: Services, job: RescanJob) -> None:
    """Automatic screenshots for every playable game without a cover, one game at a time; games that
    gave none before are tried again (an admin asked)."""
    try:
        tally = await make_missing_covers(services, retry=True, progress=lambda done, total: job.progress(
            done, total, 0, 0))
        job.report, job.state = {"made": tally.made, "without": tally.without}, "done"
    except _Stopped:
        job.state = "stopped"
    except TreazrError as error:
        job.error, job.state = str(error), "failed"
    finally:
        job.finished = time.time()


def _start(request: Request[Any, Any, State], job: RescanJob, work: Coroutine[Any, Any, None]) -> dict[str, Any]:
    request.app.state.rescan_job = job
    # keep a reference so the task is not collected mid-run; stop_jobs() ends it with the server
    request.app.state.rescan_task = asyncio.create_task(work, name=f"treazr-{job.kind}")
    return {"job": job.as_json()}


async def stop_jobs(app: Any) -> None:
    """Stop a running rescan or cover job (the app's lifespan calls this on shutdown)."""
    job: RescanJob | None = app.state.get("rescan_job")
    task: asyncio.Task[None] | None = app.state.get("rescan_task")
    if job is not None:
        job.stopping = True
    if task is not None and not task.done():
        if job is not None and job.kind == "covers":
            task.cancel()  # a cover run is worth nothing half-made; its worker is killed on the way out
        await asyncio.gather(task, return_exceptions=True)


@post("/api/admin/library/rescan", guards=[admin_only], status_code=202)
async def start_rescan(request: Request[Any, Any, State], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """Admins: import or rescan folders (``paths``; default every known root) and DATs (``dats``)."""
    services = services_of(request)
    running = _job(request)
    if running and running.state == "running":
        raise Conflict("a library job is already running")
    paths = data.get("paths") if isinstance(data, dict) else None
    dats = (data.get("dats") if isinstance(data, dict) else None) or []
    paths = paths or await known_roots(services)
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        raise InvalidInput("paths must be a list of folders on the server")
    if not isinstance(dats, list) or not all(isinstance(p, str) and p for p in dats):
        raise InvalidInput("dats must be a list of DAT files on the server")
    if not paths:
        raise InvalidInput("there is nothing to rescan yet: give a folder to import")
    absent = await asyncio.to_thread(lambda: [p for p in [*paths, *dats] if not Path(p).expanduser().exists()])
    if absent:
        raise InvalidInput(f"{absent[0]} does not exist on the server")
    job = RescanJob(paths=[str(Path(p).expanduser()) for p in paths])
    return _start(request, job, _run(services, job, dats, request.app.state.auto_covers.nudge))


@post("/api/admin/library/covers", guards=[admin_only], status_code=202)
async def start_covers(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Admins: make an automatic cover picture for every playable game that has none (in the background)."""
    running = _job(request)
    if running and running.state == "running":
        raise Conflict("a library job is already running")
    job = RescanJob(paths=[], kind="covers")
    return _start(request, job, _make_covers(services_of(request), job))


@get("/api/admin/library/rescan", guards=[admin_only])
async def rescan_status(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Admins: the progress of the current (or last) rescan."""
    job = _job(request)
    return {"job": job.as_json() if job else None}


async def library_overview(services: Services) -> dict[str, Any]:
    db = services.db
    return {"stats": await asyncio.to_thread(repository.stats, db), "roots": await known_roots(services),
            "missing_files": await repository.missing_files(db), "dats": await repository.dat_files(db),
            "imports": await repository.recent_imports(db)}


@get("/api/admin/library", guards=[admin_only])
async def library_api(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Admins: library counts, the folders it reads, missing files, DATs and recent imports."""
    return await library_overview(services_of(request))


async def cores_overview(services: Services) -> dict[str, Any]:
    return await asyncio.to_thread(lambda: services.cores.as_dict())


@get("/api/admin/cores", guards=[admin_only])
async def cores_api(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Admins: every core found, which platforms are playable, and the BIOS files' status."""
    return await cores_overview(services_of(request))


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _disk(services: Services) -> dict[str, Any]:
    data = services.data
    usage = shutil.disk_usage(data.root)
    folders = {name: _folder_bytes(getattr(data, name)) for name in
               ("content", "uploads", "saves", "states", "thumbnails", "logs", "tmp")}
    folders["database"] = sum(p.stat().st_size for p in data.root.glob("treazr.db*") if p.is_file())
    return {"total": usage.total, "used": usage.used, "free": usage.free, "folders": folders,
            "data_dir": str(data.root), "warning": DiskSpace(usage.total, usage.free).warning()}


async def server_overview(request: Request[Any, Any, State]) -> dict[str, Any]:
    services = services_of(request)
    sessions = []
    for session in play_manager(request.app).visible_to(current_user(request)):
        described = session.describe()
        described["started_at"] = iso_time(described.get("started_at"))
        described["viewer_list"] = [{"user": v.user_name, "user_id": v.user_id, "device_id": v.device_id,
                                     "ports": v.ports, "frames_sent": v.counters.frames_sent,
                                     "frames_dropped": v.counters.frames_dropped}
                                    for v in session.viewers.values()]
        sessions.append(described)
    healthy = await asyncio.to_thread(services.db.check)  # a quick check reads the whole file
    return {"health": {"version": __version__, "database": "ok" if healthy else "error",
                       "uptime_s": round(time.monotonic() - request.app.state.started_monotonic, 1)},
            "sessions": sessions, "disk": await asyncio.to_thread(_disk, services)}


@get("/api/admin/server", guards=[admin_only])
async def server_api(request: Request[Any, Any, State]) -> dict[str, Any]:
    """Admins: health, running sessions with their viewers, and disk use."""
    return await server_overview(request)


def _refused(request: Request[Any, Any, State]) -> Template | None:
    """Admin pages answer others with a page saying so (the JSON routes use the ``admin_only`` guard)."""
    if current_user(request).is_admin:
        return None
    return error_page(request, PermissionDenied("Only an admin may open the admin pages."))


def _page(name: str, request: Request[Any, Any, State], **context: Any) -> Template:
    return Template(template_name=f"admin/{name}.html",
                    context={"me": current_user(request), "nav": "admin", "section": name, **context})


@get("/admin")
async def admin_users_page(request: Request[Any, Any, State]) -> Template:
    """Admins: people (add, invite with link and QR, devices, revoke) and children's grants."""
    if (refused := _refused(request)) is not None:
        return refused
    from treazr.library.platforms import PLATFORMS

    return _page("users", request, platforms=PLATFORMS,
                 collections=await visible_collections(request, current_user(request)))


@get("/admin/library")
async def admin_library_page(request: Request[Any, Any, State]) -> Template:
    """Admins: the library's folders, rescan with progress, missing files, DATs and collections."""
    if (refused := _refused(request)) is not None:
        return refused
    return _page("library", request, collections=await visible_collections(request, current_user(request)),
                 **await library_overview(services_of(request)))


@get("/admin/cores")
async def admin_cores_page(request: Request[Any, Any, State]) -> Template:
    """Admins: the cores, what is playable, and BIOS status."""
    if (refused := _refused(request)) is not None:
        return refused
    return _page("cores", request, **await cores_overview(services_of(request)))


@get("/admin/server")
async def admin_server_page(request: Request[Any, Any, State]) -> Template:
    """Admins: health, running sessions and their viewers, disk use and the audit log."""
    if (refused := _refused(request)) is not None:
        return refused
    return _page("server", request, **await server_overview(request))


@get("/admin/history")
async def admin_history_page(request: Request[Any, Any, State]) -> Template:
    """Admins: the household's play time and recent sessions."""
    if (refused := _refused(request)) is not None:
        return refused
    db = services_of(request).db
    return _page("history", request, people=await household(db), sessions=await user_sessions(db, None, 200))


ROUTES: list[Any] = [start_rescan, start_covers, rescan_status, library_api, cores_api, server_api, admin_users_page,
                     admin_library_page, admin_cores_page, admin_server_page, admin_history_page]
