"""Read queries over the library for the web pages and the CLI: games, their files, search, stats.

``playable`` is not stored: callers pass the platforms that have an installed core (from the emulation
registry), and a game is playable when its platform is among them and its core has not refused its file
(``refused_reason``, see :mod:`treazr.library.refusals`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treazr.db import Database, Row
from treazr.errors import NotFound
from treazr.library.platforms import PLATFORMS

__all__ = ["ContentFile", "acontent_file", "acontent_path", "content_path", "count_games", "fts_query", "get_game",
           "list_files", "list_games", "pick_content", "stats"]

_GAME_COLUMNS = ("g.id, g.platform, g.title, g.region, g.languages, g.revision, g.tags, g.dat_name, g.header_title,"
                 " g.cover_path, g.added_at, g.updated_at, g.refused_reason, g.refused_core,"
                 " (SELECT COUNT(*) FROM files f WHERE f.game_id = g.id AND f.missing = 0) AS files_present")


def fts_query(text: str) -> str:
    """A safe FTS5 query: every word must start a word of the title (``zel lin`` finds Zelda ... Link)."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    return " ".join(f'"{word}"*' for word in words)


def _decorate(row: Row, playable: Collection[str] | None) -> Row:
    row["tags"] = json.loads(row.get("tags") or "[]")
    row["platform_name"] = PLATFORMS[row["platform"]].name if row["platform"] in PLATFORMS else row["platform"]
    row["playable"] = None if playable is None else row["platform"] in playable and not row.get("refused_reason")
    return row


def _where(platform: str | None, search: str | None, include_missing: bool) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if platform:
        clauses.append("g.platform = ?")
        params.append(platform)
    if search and (query := fts_query(search)):
        clauses.append("g.id IN (SELECT rowid FROM games_fts WHERE games_fts MATCH ?)")
        params.append(query)
    if not include_missing:
        clauses.append("EXISTS (SELECT 1 FROM files f WHERE f.game_id = g.id AND f.missing = 0)")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_games(db: Database, *, platform: str | None = None, search: str | None = None,
               playable: Collection[str] | None = None, include_missing: bool = False,
               limit: int = 100, offset: int = 0) -> list[Row]:
    """Games sorted by title; only games with a file present unless ``include_missing``."""
    where, params = _where(platform, search, include_missing)
    rows = db.query(f"SELECT {_GAME_COLUMNS} FROM games g{where} ORDER BY g.title COLLATE NOCASE, g.id"
                    " LIMIT ? OFFSET ?", [*params, limit, offset])
    return [_decorate(row, playable) for row in rows]


def count_games(db: Database, *, platform: str | None = None, search: str | None = None,
                include_missing: bool = False) -> int:
    where, params = _where(platform, search, include_missing)
    row = db.query_one(f"SELECT COUNT(*) AS n FROM games g{where}", params)
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
    row = db.query_one(f"SELECT {_GAME_COLUMNS} FROM games g WHERE g.id = ?", (game_id,))
    if row is None:
        raise NotFound(f"no game with id {game_id}")
    game = _decorate(row, playable)
    game["files"] = list_files(db, game_id)
    return game


def stats(db: Database, *, playable: Collection[str] | None = None) -> dict[str, Any]:
    """Counts per platform, total size, missing files and the last import."""
    per_platform = db.query(
        "SELECT g.platform AS platform, COUNT(DISTINCT g.id) AS games, COUNT(f.id) AS files,"
        " COALESCE(SUM(f.size), 0) AS bytes FROM games g JOIN files f ON f.game_id = g.id AND f.missing = 0"
        " GROUP BY g.platform ORDER BY g.platform")
    for row in per_platform:
        row["name"] = PLATFORMS[row["platform"]].name if row["platform"] in PLATFORMS else row["platform"]
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


# a file marked missing still plays from its content-store copy, when it has one
_CONTENT_SQL = ("SELECT path, container, store_path, missing, sha1 FROM files WHERE game_id = ?"
                " AND (missing = 0 OR store_path IS NOT NULL) ORDER BY missing, id")


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
    """The file to hand to a core for ``game_id`` and its SHA-1, for the web app (aiosqlite readers)."""
    return _found(_pick(await db.aquery(_CONTENT_SQL, [game_id]), content_dir), game_id)


async def acontent_path(db: Database, content_dir: Path, game_id: int) -> Path:
    """:func:`content_path` for the web app (aiosqlite readers)."""
    return (await acontent_file(db, content_dir, game_id)).path
