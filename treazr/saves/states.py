"""Save states: ten slots per player per game, plus the automatic "Continue" state (slot 0).

Files live in ``states/<user_id>/<game_id>/``: ``slot3.state``, its thumbnail ``slot3.png`` and
``slot3.json``, a note of the core that wrote it (likewise ``continue.*``). The worker writes them
atomically and answers only after fsync; only then is the row recorded here. A state fits only the
core build and content that wrote it, so every row carries the core name and version, and the note
beside the file the content's SHA-1 too. :func:`load_state` (a player loading a slot mid-game) refuses a
state from another core or version with a clear :class:`~treazr.errors.InvalidContent`; at the start of
a session the worker itself checks the note and the core's answer and, when the state does not fit,
starts the game from the beginning and keeps the state (see ``runner._Session.start_from_state``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from treazr.db import Database, Row
from treazr.errors import InvalidContent, InvalidInput, NotFound
from treazr.paths import DataDir
from treazr.saves.save_ram import check_ids
from treazr.saves.versions import Keep, keep_current, put_back, version_of

if TYPE_CHECKING:
    from treazr.emulation.worker import WorkerHandle

__all__ = ["CONTINUE_SLOT", "SLOTS", "StateInfo", "check_compatible", "continue_state_path", "delete_state",
           "get_state", "list_states", "load_state", "restore_state", "save_state", "state_path"]

CONTINUE_SLOT = 0
SLOTS = range(1, 11)


@dataclass(frozen=True)
class StateInfo:
    id: int
    user_id: int
    game_id: int
    slot: int
    path: str
    thumbnail: str | None
    size: int
    frame_no: int
    core_name: str
    core_version: str
    created_at: str
    origin: str = "saved"  # or "save_point", "ended", "restored"

    @property
    def label(self) -> str:
        return "Continue" if self.slot == CONTINUE_SLOT else f"Slot {self.slot}"


def _check_slot(slot: int) -> None:
    if not isinstance(slot, int) or isinstance(slot, bool) or (slot != CONTINUE_SLOT and slot not in SLOTS):
        raise InvalidInput(f"state slot {slot!r} does not exist; use 1 to {SLOTS[-1]} (0 is Continue)")


def state_path(data: DataDir, user_id: int, game_id: int, slot: int) -> Path:
    check_ids(user_id, game_id)
    _check_slot(slot)
    name = "continue" if slot == CONTINUE_SLOT else f"slot{slot}"
    return data.states / str(user_id) / str(game_id) / f"{name}.state"


def _info(row: Row) -> StateInfo:
    return StateInfo(**{k: row[k] for k in StateInfo.__dataclass_fields__})


_UPSERT = ("INSERT INTO save_states (user_id, game_id, slot, path, thumbnail, size, frame_no, core_name, core_version, "
           "created_at, origin) VALUES (:user_id, :game_id, :slot, :path, :thumbnail, :size, :frame_no, :core_name, "
           ":core_version, :created_at, :origin) ON CONFLICT (user_id, game_id, slot) DO UPDATE SET "
           "path = excluded.path, thumbnail = excluded.thumbnail, size = excluded.size, frame_no = excluded.frame_no, "
           "core_name = excluded.core_name, core_version = excluded.core_version, created_at = excluded.created_at, "
           "origin = excluded.origin")


async def save_state(db: Database, data: DataDir, handle: WorkerHandle, user_id: int, game_id: int,
                     slot: int, *, origin: str = "saved", keep: Keep | None = None) -> StateInfo:
    """Save the running game into ``slot``; returns once the state and its thumbnail are on disk. The state
    the slot held before is kept as a version (:mod:`treazr.saves.versions`), never overwritten."""
    path = state_path(data, user_id, game_id, slot)
    await keep_current(db, user_id, game_id, slot, keep or Keep())
    reply = await handle.save_state(path)
    row = {"user_id": user_id, "game_id": game_id, "slot": slot, "path": str(path), "thumbnail": reply.get("thumbnail"),
           "size": int(reply["size"]), "frame_no": int(reply.get("frame_no", 0)), "core_name": handle.core_name,
           "core_version": handle.core_version, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
           "origin": origin}
    await db.aexecute(_UPSERT, row)
    return await get_state(db, user_id, game_id, slot)


async def restore_state(db: Database, data: DataDir, user_id: int, game_id: int, version_id: int,
                        keep: Keep | None = None) -> StateInfo:
    """Bring a kept version back into its slot; what the slot held is kept in turn, so this can be undone."""
    version = await version_of(db, user_id, game_id, version_id)  # NotFound: not this player's, or pruned
    await keep_current(db, user_id, game_id, version.slot, keep or Keep())
    path = state_path(data, user_id, game_id, version.slot)
    await asyncio.to_thread(put_back, version, path)
    row = {"user_id": user_id, "game_id": game_id, "slot": version.slot, "path": str(path),
           "thumbnail": str(path.with_suffix(".png")) if version.thumbnail else None, "size": version.size,
           "frame_no": version.frame_no, "core_name": version.core_name, "core_version": version.core_version,
           "created_at": version.created_at, "origin": "restored"}
    await db.aexecute(_UPSERT, row)
    return await get_state(db, user_id, game_id, version.slot)


async def list_states(db: Database, user_id: int, game_id: int) -> list[StateInfo]:
    """The player's states of one game whose files are on disk, by slot (Continue first)."""
    check_ids(user_id, game_id)
    rows = await db.aquery("SELECT * FROM save_states WHERE user_id = ? AND game_id = ? ORDER BY slot",
                           [user_id, game_id])
    on_disk = await asyncio.to_thread(lambda: [Path(row["path"]).is_file() for row in rows])
    return [_info(row) for row, present in zip(rows, on_disk, strict=True) if present]


async def get_state(db: Database, user_id: int, game_id: int, slot: int) -> StateInfo:
    check_ids(user_id, game_id)
    _check_slot(slot)
    row = await db.aquery_one("SELECT * FROM save_states WHERE user_id = ? AND game_id = ? AND slot = ?",
                              [user_id, game_id, slot])
    if row is None or not await asyncio.to_thread(Path(row["path"]).is_file):
        label = "Continue state" if slot == CONTINUE_SLOT else f"state in slot {slot}"
        raise NotFound(f"there is no {label} for this game")
    return _info(row)


def check_compatible(state: StateInfo, core_name: str, core_version: str) -> None:
    """Refuse a state written by another core or another version of it."""
    if (state.core_name, state.core_version) != (core_name, core_version):
        raise InvalidContent(f"{state.label} was saved with {state.core_name} {state.core_version}, but this "
                             f"game now runs on {core_name} {core_version}; states only load into the core "
                             "version that made them, so it was not loaded")


async def load_state(db: Database, handle: WorkerHandle, user_id: int, game_id: int, slot: int) -> StateInfo:
    state = await get_state(db, user_id, game_id, slot)
    check_compatible(state, handle.core_name, handle.core_version)
    await handle.load_state(state.path)
    return state


async def continue_state_path(db: Database, user_id: int, game_id: int) -> str | None:
    """The Continue state to start a session from, if there is one. Whether it fits the running core is the
    worker's call (the state's note, then the core's own answer); one that does not starts the game fresh."""
    try:
        return (await get_state(db, user_id, game_id, CONTINUE_SLOT)).path
    except NotFound:
        return None


async def delete_state(db: Database, user_id: int, game_id: int, slot: int) -> None:
    state = await get_state(db, user_id, game_id, slot)
    await db.aexecute("DELETE FROM save_states WHERE id = ?", [state.id])

    def remove() -> None:
        for name in (state.path, state.thumbnail, str(Path(state.path).with_suffix(".json"))):
            if name:
                Path(name).unlink(missing_ok=True)

    await asyncio.to_thread(remove)
