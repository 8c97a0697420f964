"""Where a game's cover picture is: the art it was given (``games.cover_path``), else the automatic
screenshot ``thumbnails/<game id>.png`` (made by :mod:`treazr.emulation.covers`).

A relative ``cover_path`` is relative to the data directory. Every function that looks at the disk
has an async twin (or is async) that does so in a thread, so the web app's event loop never waits on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from treazr.db import Database, Row
from treazr.library.repository import acontent_files

__all__ = ["CoverJob", "cover_file", "games_without_cover", "has_cover", "mark_covers", "thumbnail_path"]


def thumbnail_path(thumbnails: Path, game_id: int) -> Path:
    """The automatic screenshot of ``game_id`` (it may not exist yet)."""
    return thumbnails / f"{int(game_id)}.png"


def has_cover(game: Row, thumbnails: Path) -> bool:
    """True when the game was given art or has an automatic screenshot."""
    return bool(game.get("cover_path")) or thumbnail_path(thumbnails, game["id"]).is_file()


def cover_file(game: Row, data_root: Path, thumbnails: Path) -> Path | None:
    """The picture to show for ``game``: its art when that file is there, else its screenshot, else None."""
    if game.get("cover_path"):
        art = Path(game["cover_path"])
        art = art if art.is_absolute() else data_root / art
        if art.is_file():
            return art
    shot = thumbnail_path(thumbnails, game["id"])
    return shot if shot.is_file() else None


async def mark_covers(rows: list[Row], thumbnails: Path) -> None:
    """Replace each row's ``cover_path`` with ``has_cover`` (the file checks of a whole page in one thread)."""
    found = await asyncio.to_thread(lambda: [has_cover(row, thumbnails) for row in rows])
    for row, cover in zip(rows, found, strict=True):
        row.pop("cover_path", None)
        row["has_cover"] = cover


@dataclass(frozen=True)
class CoverJob:
    """A game that has no cover yet and the ROM file to run to take one."""

    game_id: int
    platform: str
    content: Path


async def games_without_cover(db: Database, content_dir: Path, thumbnails: Path,
                              playable: Collection[str]) -> list[CoverJob]:
    """Games of a ``playable`` platform with neither art nor screenshot whose ROM is on disk, by title."""
    rows = await db.aquery("SELECT id, platform FROM games WHERE cover_path IS NULL ORDER BY title COLLATE NOCASE")
    wanted = [row for row in rows if row["platform"] in playable]
    without = await asyncio.to_thread(
        lambda: [row for row in wanted if not thumbnail_path(thumbnails, row["id"]).is_file()])
    contents = await acontent_files(db, content_dir, [int(row["id"]) for row in without])
    return [CoverJob(int(row["id"]), str(row["platform"]), contents[row["id"]].path)
            for row in without if row["id"] in contents]
