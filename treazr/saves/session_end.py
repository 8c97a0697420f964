"""What ending a game keeps: the Continue state, then the last battery save, recorded.

The one way a play session ends, for the server (``treazr.streaming.manager``) and anything else that
runs a worker for a player. Ending always ends: a state or a row that cannot be written (a full disk, a
core without save states, a worker that just died) is reported in :attr:`PlayEnd.warning`, never raised,
and nothing already on disk is replaced by a partial file (the worker writes atomically).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from treazr.db import Database
from treazr.errors import TreazrError
from treazr.paths import DataDir
from treazr.saves.save_ram import record_flush
from treazr.saves.states import CONTINUE_SLOT, StateInfo, save_state
from treazr.saves.versions import Keep

if TYPE_CHECKING:
    from treazr.emulation.worker import WorkerHandle

__all__ = ["PlayEnd", "end_play"]

log = logging.getLogger("treazr.saves")


@dataclass(frozen=True)
class PlayEnd:
    continue_state: StateInfo | None  # None: not asked for, or not written (see warning)
    warning: str | None  # what could not be saved, in words for the player


def why(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


async def end_play(db: Database, data: DataDir, handle: WorkerHandle, *, user_id: int, game_id: int,
                   save_continue: bool = True, keep: Keep | None = None) -> PlayEnd:
    """Write the Continue state (when asked and the worker still runs), stop the worker (it flushes save RAM
    as it exits) and record that save."""
    state, warning = None, None
    if save_continue and handle.running:
        try:
            state = await save_state(db, data, handle, user_id, game_id, CONTINUE_SLOT, origin="ended", keep=keep)
        except (TreazrError, sqlite3.Error, OSError) as error:
            warning = f"the Continue state could not be saved: {why(error)}"
            log.warning("game %s of user %s: %s", game_id, user_id, warning)
    await handle.stop()
    try:
        await record_flush(db, data, user_id, game_id, handle.core_name)
    except (sqlite3.Error, OSError) as error:  # the file is on disk; only its row is missing until the next flush
        log.error("game %s of user %s: could not record the battery save: %s", game_id, user_id, why(error))
    return PlayEnd(state, warning)
