"""Battery save RAM: one ``.srm`` file per player per game, byte-compatible with RetroArch.

A RetroArch ``.srm`` is the core's SAVE_RAM memory, raw, so import and export copy bytes. The worker
writes the file while a game runs (atomically, fsynced: :mod:`treazr.emulation.runner`); this module
places it (``saves/<user_id>/<game_id>.srm``), records what was flushed, and imports/exports it.
Import into a game that is running in a session would be overwritten by the session's next flush:
the session manager refuses that (Conflict) before calling :func:`import_srm`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from treazr.atomic import atomic_write
from treazr.errors import InvalidContent, InvalidInput, NotFound
from treazr.paths import DataDir

if TYPE_CHECKING:
    from treazr.services import Services

__all__ = ["MAX_SAVE_RAM", "check_ids", "export_srm", "import_srm", "read_save_ram", "record_flush", "save_ram_info",
           "save_ram_path"]

MAX_SAVE_RAM = 16 * 1024 * 1024  # the largest cartridge saves are a few hundred KiB


def check_ids(user_id: int, game_id: int) -> None:
    # These become path components: only plain non-negative integers may (game 0 is the demo core).
    for name, value in (("user id", user_id), ("game id", game_id)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"{name} {value!r} is not valid")


def save_ram_path(data: DataDir, user_id: int, game_id: int) -> Path:
    check_ids(user_id, game_id)
    return data.saves / str(user_id) / f"{game_id}.srm"


def read_save_ram(data: DataDir, user_id: int, game_id: int) -> bytes | None:
    path = save_ram_path(data, user_id, game_id)
    return path.read_bytes() if path.is_file() else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_flush(services: Services, user_id: int, game_id: int, core_name: str = "") -> dict[str, Any] | None:
    """Note the save RAM now on disk (call it on a worker's ``save_ram_flushed`` event)."""
    path = save_ram_path(services.data, user_id, game_id)
    if not path.is_file():
        return None
    data = path.read_bytes()
    row = {"user_id": user_id, "game_id": game_id, "path": str(path), "size": len(data),
           "sha256": hashlib.sha256(data).hexdigest(), "core_name": core_name, "updated_at": _now()}
    services.db.execute(
        "INSERT INTO save_ram (user_id, game_id, path, size, sha256, core_name, updated_at) "
        "VALUES (:user_id, :game_id, :path, :size, :sha256, :core_name, :updated_at) "
        "ON CONFLICT (user_id, game_id) DO UPDATE SET path = excluded.path, size = excluded.size, "
        "sha256 = excluded.sha256, core_name = CASE WHEN excluded.core_name = '' THEN save_ram.core_name "
        "ELSE excluded.core_name END, updated_at = excluded.updated_at", row)
    return row


def save_ram_info(services: Services, user_id: int, game_id: int) -> dict[str, Any] | None:
    """The save on disk now (size, sha256, time written) and the core that last wrote it, or None.

    Read from the file itself, so it is right even between a worker's flush and :func:`record_flush`.
    """
    path = save_ram_path(services.data, user_id, game_id)
    try:
        data = path.read_bytes()
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except FileNotFoundError:
        return None
    row = services.db.query_one("SELECT core_name FROM save_ram WHERE user_id = ? AND game_id = ?",
                                (user_id, game_id))
    return {"user_id": user_id, "game_id": game_id, "path": str(path), "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "core_name": row["core_name"] if row else "",
            "updated_at": written}


def import_srm(services: Services, user_id: int, game_id: int, source: Path | bytes) -> Path:
    """Make a RetroArch ``.srm`` (a file or its bytes) this player's save for this game."""
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            raise NotFound(f"{source} does not exist") from None
        if size > MAX_SAVE_RAM:
            raise InvalidContent(f"{source.name} is {size} bytes; a save RAM file is at most {MAX_SAVE_RAM}")
        data = source.read_bytes()
    else:
        data = bytes(source)
    if not data:
        raise InvalidContent("the save file is empty")
    if len(data) > MAX_SAVE_RAM:
        raise InvalidContent(f"the save file is {len(data)} bytes; a save RAM file is at most {MAX_SAVE_RAM}")
    path = save_ram_path(services.data, user_id, game_id)
    atomic_write(path, data)
    record_flush(services, user_id, game_id)
    return path


def export_srm(services: Services, user_id: int, game_id: int, dest: Path) -> Path:
    """Write this player's save for this game to ``dest`` as a RetroArch ``.srm``."""
    data = read_save_ram(services.data, user_id, game_id)
    if data is None:
        raise NotFound("there is no save for this game yet")
    atomic_write(dest, data, mode=0o644)
    return dest
