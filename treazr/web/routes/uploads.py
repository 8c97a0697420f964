"""Uploading ROMs (or zips of them) from the browser: streamed to disk, checked, identified, imported.

The body is written to ``uploads/.partial/`` as it arrives (never held in memory) and counted against
``library.max_upload_mb``; an interrupted or refused upload leaves nothing behind. Then the optional
``library.scan_hook`` runs on the file, the same identification as ``treazr import`` decides what it is,
and the file moves to ``uploads/library/<platform>/`` and is imported in place.

Who may upload: admins always, members when ``library.member_uploads`` is on, children never.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shlex
import time
from pathlib import Path
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromQuery
from litestar.response import Template

from treazr.disk import make_room_check
from treazr.errors import InvalidContent, InvalidInput, TreazrError
from treazr.library.platforms import platform_name
from treazr.library.scanner import archive_limits, identify_file, import_paths
from treazr.services import Services
from treazr.web.routes._common import check_may_upload, user_and_services
from treazr.web.security import AuthUser, current_user

__all__ = ["ROUTES", "UploadRejected", "UploadTooLarge", "run_scan_hook"]

SCAN_HOOK_TIMEOUT_S = 300.0
_STALE_PARTIAL_S = 24 * 3600


class UploadTooLarge(InvalidInput):
    http_status = 413


class UploadRejected(InvalidContent):
    """The scan hook said no."""


def _safe_name(name: str | None) -> str:
    base = Path((name or "").replace("\\", "/")).name
    cleaned = re.sub(r"[^\w .()\[\]+,'!&-]", "_", base).strip(" .")
    if not cleaned or "." not in cleaned:
        raise InvalidInput("send the file's name, with its extension, as ?name=")
    return cleaned[:180]


def _partial_dir(services: Services) -> Path:
    folder = services.data.uploads / ".partial"
    folder.mkdir(mode=0o700, exist_ok=True)
    now = time.time()
    for stale in folder.glob("*.part"):  # left by a server that was killed mid-upload
        try:
            if now - stale.stat().st_mtime > _STALE_PARTIAL_S:
                stale.unlink()
        except OSError:
            pass
    return folder


async def _receive(request: Request[Any, Any, State], target: Path, limit: int) -> int:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(f"the file is larger than this Treazr accepts ({limit >> 20} MB)")
    if declared and declared.isdigit():  # a body without a length that fills the disk ends as DiskFull too
        make_room_check(target.parent, int(declared), "this upload")
    size = 0
    with open(target, "wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise UploadTooLarge(f"the file is larger than this Treazr accepts ({limit >> 20} MB)")
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    if size == 0:
        raise InvalidContent("the file is empty")
    return size


async def run_scan_hook(command: str, path: Path, timeout: float = SCAN_HOOK_TIMEOUT_S) -> tuple[int, str]:
    """Run ``command`` (``{path}`` replaced by the file) without a shell; (exit status, output)."""
    argv = [part.replace("{path}", str(path)) for part in shlex.split(command)]
    if "{path}" not in command:
        argv.append(str(path))
    try:
        process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.STDOUT)
    except OSError as error:
        return 127, f"the scan hook could not start: {error}"
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        return 124, f"the scan hook did not finish within {timeout:g} s"
    return int(process.returncode or 0), out.decode(errors="replace")[-4000:]


async def _scan(services: Services, user: AuthUser, path: Path) -> None:
    hook = services.settings.library.scan_hook
    if not hook:
        return
    status, output = await run_scan_hook(hook, path)
    if status != 0:
        detail = f": {output.strip()}" if user.is_admin and output.strip() else " (an admin can see why)"
        raise UploadRejected(f"the scan hook refused the file (exit status {status}){detail}")


def _place(services: Services, partial: Path, name: str, platform: str) -> Path:
    folder = services.data.uploads / "library" / platform
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem, dot, ext = name.rpartition(".")
    target, n = folder / name, 1
    while target.exists():
        n += 1
        target = folder / f"{stem} ({n}){dot}{ext}"
    os.replace(partial, target)
    return target


def _import(services: Services, partial: Path, name: str) -> dict[str, Any]:
    named = partial.with_name(f"{partial.stem}-{name}")  # identification looks at the extension
    os.replace(partial, named)
    try:
        probe = identify_file(named, limits=archive_limits(services))
    except BaseException:
        named.unlink(missing_ok=True)
        raise
    final = _place(services, named, name, probe.header.platform)
    report = import_paths(services, [final])
    row = services.db.query_one("SELECT game_id FROM files WHERE path = ? OR container = ? ORDER BY size DESC LIMIT 1",
                                (str(final), str(final)))
    game = services.db.query_one("SELECT id, title, platform, region, revision FROM games WHERE id = ?",
                                 (row["game_id"],)) if row else None
    if game:
        game["platform_name"] = platform_name(game["platform"])
        game["url"] = f"/games/{game['id']}"
    return {"name": name, "stored_as": final.name, "game": game, "report": report.as_json(),
            "identified": {"platform": probe.header.platform, "header_title": probe.header.title,
                           "size": probe.size, "sha1": probe.hashes.sha1, "crc32": probe.hashes.crc32}}


@post("/api/uploads", status_code=201, request_max_body_size=None)
async def upload(request: Request[Any, Any, State], name: FromQuery[str]) -> dict[str, Any]:
    """Admins, and members when uploads are allowed (never children): upload one ROM or zip as the raw
    body (``?name=`` the file name); answers with what it was recognised as."""
    user, services = user_and_services(request)
    check_may_upload(user, services)
    safe = _safe_name(name)
    partial = _partial_dir(services) / f"{secrets.token_hex(8)}.part"
    try:
        size = await _receive(request, partial, services.settings.library.max_upload_mb << 20)
        await _scan(services, user, partial)
        result = await asyncio.to_thread(_import, services, partial, safe)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    request.app.state.auto_covers.nudge()  # the new game's cover is made in the background
    return {**result, "size": size}


@get("/upload")
async def upload_page(request: Request[Any, Any, State]) -> Template:
    """Admins, and members when uploads are allowed: the upload page (children see why they cannot)."""
    user, services = user_and_services(request)
    try:
        check_may_upload(user, services)
        refused = ""
    except TreazrError as error:
        refused = str(error)
    return Template(template_name="upload.html", context={
        "me": current_user(request), "nav": "upload", "refused": refused,
        "max_mb": services.settings.library.max_upload_mb, "hook": bool(services.settings.library.scan_hook)})


ROUTES: list[Any] = [upload, upload_page]
