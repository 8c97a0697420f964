"""A state's earlier versions: nothing a player saved is overwritten.

Before a slot (Continue included) takes a new state, by a save, a save point, the end of a session or a
restore, the state it held is kept: its files are hard-linked into ``states/<user>/<game>/versions/``
under their SHA-256 (so the same state kept twice is one file) and a ``state_versions`` row says which
slot it was in, when it was saved and how (``saved``, ``save_point``, ``ended``, ``restored``). The
worker writes a new state by renaming a new file over the slot's, so the kept link still holds the old
bytes. :func:`treazr.saves.states.restore_state` brings one back into its slot, keeping the state it replaces the same
way, so a restore can itself be undone. Old versions go by count per slot and by age
(:class:`Keep`); their files go when no row names them any more.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from treazr.db import Database, Row
from treazr.errors import NotFound
from treazr.saves.save_ram import check_ids

__all__ = ["Keep", "StateVersion", "keep_current", "list_versions", "prune_versions", "put_back", "version_of"]

_SUFFIXES = (".state", ".png", ".json")


@dataclass(frozen=True)
class Keep:
    """How many earlier versions each slot keeps, and for how long."""

    save_points: int = 10  # of the Continue slot, which a save point rewrites every few minutes
    per_slot: int = 10  # of each numbered slot
    max_age_days: float = 90.0


@dataclass(frozen=True)
class StateVersion:
    id: int
    user_id: int
    game_id: int
    slot: int
    path: str
    thumbnail: str | None
    sha256: str
    size: int
    frame_no: int
    core_name: str
    core_version: str
    origin: str
    created_at: str
    kept_at: str


def _version(row: Row) -> StateVersion:
    return StateVersion(**{k: row[k] for k in StateVersion.__dataclass_fields__})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _link(source: Path, target: Path) -> None:
    """``target`` holds ``source``'s bytes: a hard link when the file system allows, else a copy."""
    if target.exists():
        return
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def _keep_files(state_file: Path, versions: Path) -> tuple[str, Path, Path | None] | None:
    """Link a state and its thumbnail and note into ``versions``; None when the state file is gone."""
    try:
        digest = hashlib.sha256(state_file.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    versions.mkdir(parents=True, exist_ok=True)
    kept = versions / f"{digest[:32]}.state"
    _link(state_file, kept)
    thumbnail = None
    for suffix in (".png", ".json"):
        source = state_file.with_suffix(suffix)
        if source.is_file():
            _link(source, kept.with_suffix(suffix))
            if suffix == ".png":
                thumbnail = kept.with_suffix(".png")
    return digest, kept, thumbnail


async def keep_current(db: Database, user_id: int, game_id: int, slot: int, keep: Keep) -> StateVersion | None:
    """Keep the state ``slot`` holds now as a version (before something replaces it)."""
    row = await db.aquery_one("SELECT * FROM save_states WHERE user_id = ? AND game_id = ? AND slot = ?",
                              [user_id, game_id, slot])
    if row is None:
        return None
    state_file = Path(row["path"])
    kept = await asyncio.to_thread(_keep_files, state_file, state_file.parent / "versions")
    if kept is None:
        return None
    digest, path, thumbnail = kept
    version_id = await db.aexecute(
        "INSERT INTO state_versions (user_id, game_id, slot, path, thumbnail, sha256, size, frame_no, core_name, "
        "core_version, origin, created_at, kept_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [user_id, game_id, slot, str(path), str(thumbnail) if thumbnail else None, digest, row["size"],
         row["frame_no"], row["core_name"], row["core_version"], row["origin"], row["created_at"], _now()])
    await prune_versions(db, user_id, game_id, slot, keep)
    return await version_of(db, user_id, game_id, int(version_id or 0))


async def list_versions(db: Database, user_id: int, game_id: int) -> list[StateVersion]:
    """This player's kept versions of one game's states whose files are on disk, newest first."""
    check_ids(user_id, game_id)
    rows = await db.aquery("SELECT * FROM state_versions WHERE user_id = ? AND game_id = ? ORDER BY id DESC",
                           [user_id, game_id])
    present = await asyncio.to_thread(lambda: [Path(row["path"]).is_file() for row in rows])
    return [_version(row) for row, here in zip(rows, present, strict=True) if here]


async def version_of(db: Database, user_id: int, game_id: int, version_id: int) -> StateVersion:
    """One kept version, only the player's own (anyone else's is "not found", like a missing one)."""
    check_ids(user_id, game_id)
    row = await db.aquery_one("SELECT * FROM state_versions WHERE id = ? AND user_id = ? AND game_id = ?",
                              [version_id, user_id, game_id])
    if row is None or not await asyncio.to_thread(Path(row["path"]).is_file):
        raise NotFound("that earlier state is not kept any more")
    return _version(row)


def put_back(version: StateVersion, slot_file: Path) -> None:
    """Link a kept version's files back into its slot (the caller keeps what the slot held first)."""
    slot_file.parent.mkdir(parents=True, exist_ok=True)
    kept = Path(version.path)
    for suffix in (".png", ".json", ".state"):  # the state last: until it is in place, the slot's own stays
        source = kept.with_suffix(suffix)
        target = slot_file.with_suffix(suffix)
        if source.is_file():
            temporary = target.with_name(f".{target.name}.restore.tmp")
            temporary.unlink(missing_ok=True)
            try:
                os.link(source, temporary)
            except OSError:
                shutil.copyfile(source, temporary)
            os.replace(temporary, target)


async def prune_versions(db: Database, user_id: int, game_id: int, slot: int, keep: Keep) -> int:
    """Drop the versions of one slot past its count or age; remove files no kept version names any more."""
    count = keep.save_points if slot == 0 else keep.per_slot
    oldest = (datetime.now(UTC) - timedelta(days=keep.max_age_days)).isoformat(timespec="seconds")
    rows = await db.aquery("SELECT id, path, kept_at FROM state_versions "
                           "WHERE user_id = ? AND game_id = ? AND slot = ? ORDER BY id DESC", [user_id, game_id, slot])
    gone = [row for n, row in enumerate(rows) if n >= count or str(row["kept_at"]) < oldest]
    if not gone:
        return 0
    await db.aexecute(f"DELETE FROM state_versions WHERE id IN ({', '.join('?' * len(gone))})",
                      [row["id"] for row in gone])
    still = await db.aquery("SELECT path FROM state_versions WHERE user_id = ? AND game_id = ?", [user_id, game_id])
    named = {str(row["path"]) for row in still}

    def remove() -> None:
        for row in gone:
            if str(row["path"]) not in named:
                for suffix in _SUFFIXES:
                    Path(row["path"]).with_suffix(suffix).unlink(missing_ok=True)

    await asyncio.to_thread(remove)
    return len(gone)
