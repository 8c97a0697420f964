"""Games whose core refused their content at start: the core's own reason, kept on the game.

A file can look right to the importer (a valid header) and still be refused by its core when a player
presses Play. The session manager records that here, so the library shows the game as not playable with
the core's words instead of offering it again and again; the next start that works clears it (a fixed
file, another core version, a BIOS added later).
"""

from __future__ import annotations

from treazr.db import Database

__all__ = ["clear_refusal", "mark_refused"]

_MAX_REASON = 500


async def mark_refused(db: Database, game_id: int, core: str, reason: str) -> None:
    """Remember that ``core`` (``name version``) refused this game's content, and why."""
    await db.aexecute("UPDATE games SET refused_reason = ?, refused_core = ? WHERE id = ?",
                      [reason[:_MAX_REASON], core, game_id])


async def clear_refusal(db: Database, game_id: int) -> None:
    """The game started: whatever refused it before no longer does."""
    row = await db.aquery_one("SELECT refused_reason FROM games WHERE id = ?", [game_id])
    if row is not None and row["refused_reason"] is not None:
        await db.aexecute("UPDATE games SET refused_reason = NULL, refused_core = NULL WHERE id = ?", [game_id])
