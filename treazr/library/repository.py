"""Read queries over the library: games and their files, the CLI's list, stats, the admin's overview, and
which copy of a game's ROM a core is given.

The listing's filters, sorts and row descriptions are :mod:`treazr.library.listing`'s (shared with the
web's pages in :mod:`treazr.library.browse`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treazr.db import Database, Row
from treazr.errors import NotFound
from treazr.library.listing import ABSENT_SQL, ORDER, describe, where_sql
from treazr.library.platforms import platform_name

__all__ = ["GAME_COLUMNS", "ContentFile", "acontent_file", "acontent_files", "acontent_path", "content_path",
           "count_games", "dat_files", "get_game", "known_roots", "list_files", "list_games", "missing_files",
           "pick_content", "recent_imports", "stats"]

GAME_COLUMNS = ("g.id, g.platform, g.title, g.region, g.languages, g.revision, g.tags, g.dat_name, g.header_title,"
                " g.cover_path, g.added_at, g.updated_at, g.refused_reason, g.refused_core,"
                " (SELECT COUNT(*) FROM files f WHERE f.game_id = g.id AND f.missing = 0) AS files_present")


def _described(row: Row, playable: Collection[str] | None) -> Row:
    row["tags"] = json.loads(row.get("tags") or "[]")
    return describe(row, playable)


def _where(db: Database, platform: str | None, search: str | None, include_missing: bool) -> tuple[str, list[Any]]:
    absent = [] if include_missing else [int(row["id"]) for row in db.query(ABSENT_SQL)]
    return where_sql(None, platform=platform, search=search, absent=absent)


def list_games(db: Database, *, platform: str | None = None, search: str | None = None,
               playable: Collection[str] | None = None, include_missing: bool = False,
               limit: int = 100, offset: int = 0) -> list[Row]:
    """The whole library's games sorted by title; only games with a file present unless ``include_missing``."""
    where, params = _where(db, platform, search, include_missing)
    rows = db.query(f"SELECT {GAME_COLUMNS} FROM games g WHERE {where} ORDER BY {ORDER['title']}"
                    " LIMIT ? OFFSET ?", [*params, limit, offset])
    return [_described(row, playable) for row in rows]


def count_games(db: Database, *, platform: str | None = None, search: str | None = None,
                include_missing: bool = False) -> int:
    where, params = _where(db, platform, search, include_missing)
    row = db.query_one(f"SELECT COUNT(*) AS n FROM games g WHERE {where}", params)
    return int(row["n"]) if row else 0


def list_files(db: Database, game_id: int) -> list[Row]:
    rows = db.query("SELECT id, game_id, path, size, mtime_ns, container, crc32, md5, sha1, sha256,"
                    " headerless_crc32, headerless_md5, headerless_sha1, store_path, missing, info, added_at,"
                    " verified_at, verify_error FROM files WHERE game_id = ? ORDER BY missing, path", (game_id,))
    for row in rows:
        row["info"] = json.loads(row["info"] or "{}")
    return rows


def get_game(db: Database, game_id: int, *, playable: Collection[str] | None = None) -> Row:
    """One game with its files; raises :class:`NotFound`."""
    row = db.query_one(f"SELECT {GAME_COLUMNS} FROM games g WHERE g.id = ?", (game_id,))
    if row is None:
        raise NotFound(f"no game with id {game_id}")
    game = _described(row, playable)
    game["files"] = list_files(db, game_id)
    return game


def stats(db: Database, *, playable: Collection[str] | None = None) -> dict[str, Any]:
    """Counts per platform, total size, missing files and the last import."""
    per_platform = db.query(
        "SELECT g.platform AS platform, COUNT(DISTINCT g.id) AS games, COUNT(f.id) AS files,"
        " COALESCE(SUM(f.size), 0) AS bytes FROM games g JOIN files f ON f.game_id = g.id AND f.missing = 0"
        " GROUP BY g.platform ORDER BY g.platform")
    for row in per_platform:
        row["name"] = platform_name(row["platform"])
        row["playable"] = None if playable is None else row["platform"] in playable and not row.get("refused_reason")
    totals = db.query_one("SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes,"
                          " COALESCE(SUM(missing), 0) AS missing, COUNT(DISTINCT sha256) AS unique_contents,"
                          " COALESCE(SUM(store_path IS NOT NULL), 0) AS stored FROM files") or {}
    last = db.query_one("SELECT id, started_at, finished_at, status, added, updated, unchanged, missing, failed"
                        " FROM imports ORDER BY id DESC LIMIT 1")
    dats = db.query_one("SELECT COUNT(*) AS dats, COALESCE(SUM(entries), 0) AS entries FROM dat_files") or {}
    games = sum(row["games"] for row in per_platform)
    return {"games": games, "files": totals.get("files", 0), "bytes": totals.get("bytes", 0),
            "missing_files": totals.get("missing", 0), "unique_contents": totals.get("unique_contents", 0),
            "stored_files": totals.get("stored", 0), "dats": dats.get("dats", 0), "dat_entries": dats.get("entries", 0),
            "platforms": per_platform, "last_import": last}



async def missing_files(db: Database, limit: int = 500) -> list[Row]:
    """Files a rescan no longer found, with their game, by path."""
    return await db.aquery("SELECT f.id, f.path, f.game_id, g.title, g.platform FROM files f JOIN games g"
                           " ON g.id = f.game_id WHERE f.missing = 1 ORDER BY f.path LIMIT ?", [limit])


async def dat_files(db: Database) -> list[Row]:
    """The DATs the library names games by, by name."""
    return await db.aquery("SELECT id, name, description, version, format, entries, loaded_at FROM dat_files"
                           " ORDER BY name")


async def recent_imports(db: Database, limit: int = 10) -> list[Row]:
    """The last imports and rescans, newest first (``paths`` decoded)."""
    rows = await db.aquery("SELECT id, started_at, finished_at, status, paths, added, updated, unchanged, missing,"
                           " failed FROM imports ORDER BY id DESC LIMIT ?", [limit])
    for row in rows:
        row["paths"] = json.loads(row["paths"] or "[]")
    return rows


async def known_roots(db: Database, configured: Iterable[str], uploads: Path) -> list[str]:
    """Folders to rescan that still exist: the ``configured`` roots, every folder imported before (but
    not single uploads), and the uploads' library folder."""
    roots = list(configured)
    for row in await db.aquery("SELECT paths FROM imports ORDER BY id"):
        roots.extend(path for path in json.loads(row["paths"] or "[]") if not Path(path).is_relative_to(uploads))

    def existing() -> list[str]:
        if (uploads / "library").is_dir():
            roots.append(str(uploads / "library"))
        return [path for path in dict.fromkeys(roots) if Path(path).expanduser().exists()]

    return await asyncio.to_thread(existing)


# a file marked missing still plays from its content-store copy, when it has one
_CONTENT_FILES = ("SELECT game_id, path, container, store_path, missing, sha1 FROM files WHERE {games}"
                  " AND (missing = 0 OR store_path IS NOT NULL) ORDER BY game_id, missing, id")
_CONTENT_SQL = _CONTENT_FILES.format(games="game_id = ?")


@dataclass(frozen=True)
class ContentFile:
    """The copy of a game's ROM a core is given, and the SHA-1 of its content (what save states are tied to)."""

    path: Path
    sha1: str


def _pick(rows: Iterable[Row], content_dir: Path) -> ContentFile | None:
    for row in rows:
        candidates = [content_dir / row["store_path"]] if row["store_path"] else []
        if not row["missing"]:
            candidates.append(Path(row["container"] or row["path"]))
        for path in candidates:
            if path.is_file():
                return ContentFile(path, str(row.get("sha1") or ""))
    return None


def pick_content(rows: Iterable[Row], content_dir: Path) -> Path | None:
    """The first copy of a game's ROM that is on disk: the content-store copy first (it cannot be moved or
    renamed under us), then the file where it was found unless a rescan marked it missing."""
    found = _pick(rows, content_dir)
    return found.path if found else None


def _found(found: ContentFile | None, game_id: int) -> ContentFile:
    if found is None:
        raise NotFound(f"the files of game {game_id} are missing; rescan the library or re-import them")
    return found


def content_path(db: Database, content_dir: Path, game_id: int) -> Path:
    """The ROM path to hand to a core for ``game_id``; :class:`NotFound` when no copy is on disk."""
    return _found(_pick(db.query(_CONTENT_SQL, (game_id,)), content_dir), game_id).path


async def acontent_file(db: Database, content_dir: Path, game_id: int) -> ContentFile:
    """The file to hand to a core for ``game_id`` and its SHA-1, for the web app (aiosqlite readers; the
    files are looked at in a thread)."""
    rows = await db.aquery(_CONTENT_SQL, [game_id])
    return _found(await asyncio.to_thread(_pick, rows, content_dir), game_id)


async def acontent_files(db: Database, content_dir: Path, game_ids: Collection[int]) -> dict[int, ContentFile]:
    """:func:`acontent_file` for many games in one query; games with no copy on disk are left out."""
    rows = await db.aquery(_CONTENT_FILES.format(games="game_id IN (SELECT value FROM json_each(?))"),
                           [json.dumps(list(game_ids))])
    per_game: dict[int, list[Row]] = {}
    for row in rows:
        per_game.setdefault(int(row["game_id"]), []).append(row)

    def pick_all() -> dict[int, ContentFile]:
        found = {game: _pick(files, content_dir) for game, files in per_game.items()}
        return {game: content for game, content in found.items() if content is not None}

    return await asyncio.to_thread(pick_all)


async def acontent_path(db: Database, content_dir: Path, game_id: int) -> Path:
    """:func:`content_path` for the web app (aiosqlite readers)."""
    return (await acontent_file(db, content_dir, game_id)).path
