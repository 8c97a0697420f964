"""Battery save RAM: one ``.srm`` file per player per game, byte-compatible with RetroArch.

A RetroArch ``.srm`` is the core's SAVE_RAM memory, raw, so import and export copy bytes. The worker
writes the file while a game runs (atomically, fsynced: :mod:`treazr.emulation.runner`); this module
places it (``saves/<user_id>/<game_id>.srm``), records what was flushed, and imports/exports it.
Import into a game that is running in a session would be overwritten by the session's next flush:
the web layer refuses that (Conflict) before calling :func:`import_srm`.

Everything here takes the database and the data directory; the functions the web process calls are
async and keep file reads and hashing off its event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treazr.atomic import atomic_write
from treazr.db import Database
from treazr.errors import InvalidContent, InvalidInput, NotFound
from treazr.paths import DataDir

__all__ = ["MAX_SAVE_RAM", "check_ids", "delete_save_ram", "export_srm", "import_srm", "read_save_ram", "record_flush",
           "save_ram_info", "save_ram_path"]

MAX_SAVE_RAM = 16 * 1024 * 1024  # the largest cartridge saves are a few hundred KiB

_UPSERT = ("INSERT INTO save_ram (user_id, game_id, path, size, sha256, core_name, updated_at) "
           "VALUES (:user_id, :game_id, :path, :size, :sha256, :core_name, :updated_at) "
           "ON CONFLICT (user_id, game_id) DO UPDATE SET path = excluded.path, size = excluded.size, "
           "sha256 = excluded.sha256, core_name = CASE WHEN excluded.core_name = '' THEN save_ram.core_name "
           "ELSE excluded.core_name END, updated_at = excluded.updated_at")


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


def _on_disk(path: Path) -> dict[str, Any] | None:
    """Size, SHA-256 and write time of the file as it is now (None when there is none)."""
    try:
        content = path.read_bytes()
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    except FileNotFoundError:
        return None
    return {"path": str(path), "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
            "updated_at": written}


async def record_flush(db: Database, data: DataDir, user_id: int, game_id: int,
                       core_name: str = "") -> dict[str, Any] | None:
    """Note the save RAM now on disk (on a worker's ``save_ram_flushed`` event, and when a session ends)."""
    found = await asyncio.to_thread(_on_disk, save_ram_path(data, user_id, game_id))
    if found is None:
        return None
    row = {**found, "user_id": user_id, "game_id": game_id, "core_name": core_name,
           "updated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    await db.aexecute(_UPSERT, row)
    return row


async def save_ram_info(db: Database, data: DataDir, user_id: int, game_id: int) -> dict[str, Any] | None:
    """The save on disk now (size, sha256, time written) and the core that last wrote it, or None.

    Read from the file itself, so it is right even between a worker's flush and :func:`record_flush`.
    """
    found = await asyncio.to_thread(_on_disk, save_ram_path(data, user_id, game_id))
    if found is None:
        return None
    row = await db.aquery_one("SELECT core_name FROM save_ram WHERE user_id = ? AND game_id = ?", [user_id, game_id])
    return {**found, "user_id": user_id, "game_id": game_id, "core_name": row["core_name"] if row else ""}


def _checked(source: Path | bytes) -> bytes:
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            raise NotFound(f"{source} does not exist") from None
        if size > MAX_SAVE_RAM:
            raise InvalidContent(f"{source.name} is {size} bytes; a save RAM file is at most {MAX_SAVE_RAM}")
        content = source.read_bytes()
    else:
        content = bytes(source)
    if not content:
        raise InvalidContent("the save file is empty")
    if len(content) > MAX_SAVE_RAM:
        raise InvalidContent(f"the save file is {len(content)} bytes; a save RAM file is at most {MAX_SAVE_RAM}")
    return content


async def _core_size(db: Database, user_id: int, game_id: int) -> int | None:
    """The size of this game's save RAM as its core last wrote it (for this player), when known."""
    row = await db.aquery_one("SELECT size FROM save_ram WHERE user_id = ? AND game_id = ? AND core_name != ''",
                              [user_id, game_id])
    return None if row is None else int(row["size"])


async def import_srm(db: Database, data: DataDir, user_id: int, game_id: int, source: Path | bytes) -> Path:
    """Make a RetroArch ``.srm`` (a file or its bytes) this player's save for this game.

    A file larger than the game's save RAM (known once its core has written a save) is refused here; one
    that arrives before that and does not fit is set aside by the worker at the next start.
    """
    path = save_ram_path(data, user_id, game_id)
    content = await asyncio.to_thread(_checked, source)
    expected = await _core_size(db, user_id, game_id)
    if expected is not None and len(content) > expected:
        raise InvalidContent(f"the save file is {len(content)} bytes, but this game's save RAM holds {expected}: "
                             "is it from another game or emulator?")
    await asyncio.to_thread(atomic_write, path, content)
    await record_flush(db, data, user_id, game_id)
    return path


async def delete_save_ram(db: Database, data: DataDir, user_id: int, game_id: int) -> None:
    """Remove this player's battery save for this game (the game starts with an empty one)."""
    path = save_ram_path(data, user_id, game_id)
    if not await asyncio.to_thread(path.is_file):
        raise NotFound("there is no save for this game")
    await asyncio.to_thread(path.unlink)
    await db.aexecute("DELETE FROM save_ram WHERE user_id = ? AND game_id = ?", [user_id, game_id])


def export_srm(data: DataDir, user_id: int, game_id: int, dest: Path) -> Path:
    """Write this player's save for this game to ``dest`` as a RetroArch ``.srm``."""
    content = read_save_ram(data, user_id, game_id)
    if content is None:
        raise NotFound("there is no save for this game yet")
    atomic_write(dest, content, mode=0o644)
    return dest
