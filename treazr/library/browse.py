"""What one person sees of the library: pages of games, the platform filter, a game's page.

Every query here is filtered by :func:`treazr.library.listing.visible_sql`, so a child only ever meets the
platforms and collections an admin granted. Pages are server-side (``LIMIT``/``OFFSET``) and search goes
through the FTS5 index, so a library of 10,000 games costs one page of rows; whole-library aggregates
(counts) are kept while nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from treazr.auth.grants import HasRole
from treazr.db import Database, Row
from treazr.errors import NotFound
from treazr.library.collections import game_collections
from treazr.library.covers import has_cover, mark_covers
from treazr.library.favourites import is_favourite
from treazr.library.listing import ABSENT_SQL, ORDER, GameQuery, describe, visible_sql, where_sql
from treazr.library.platforms import platform_name

__all__ = ["CARD_COLUMNS", "cards", "game_detail", "list_page", "platform_counts", "visible_game"]

T = TypeVar("T")

# what a card of the grid shows; the one parameter is the viewer's user id (their star)
CARD_COLUMNS = ("g.id, g.platform, g.title, g.region, g.revision, g.added_at, g.cover_path, g.refused_reason,"
                " EXISTS (SELECT 1 FROM favourites v WHERE v.user_id = ? AND v.game_id = g.id) AS favourite")
_FILES_SQL = ("SELECT id, path, size, crc32, md5, sha1, sha256, missing, container, store_path, verify_error"
              " FROM files WHERE game_id = ? ORDER BY missing, path")
_COUNT_TTL_S = 10.0
_counts: dict[tuple[Any, ...], tuple[float, Any, Any]] = {}


async def cards(rows: list[Row], playable: Collection[str], thumbnails: Path) -> list[Row]:
    """Describe rows selected with :data:`CARD_COLUMNS`: platform name, playable, star, ``has_cover``."""
    await mark_covers(rows, thumbnails)
    for row in rows:
        describe(row, playable)
        row["favourite"] = bool(row.get("favourite"))
    return rows


async def _generation(db: Database) -> tuple[Any, ...]:
    """Changes whenever a game or file is added, updated or goes missing, or a child's grants change (index
    look-ups only; ``COUNT`` of missing files reads a partial index as small as that count)."""
    row = await db.aquery_one("SELECT (SELECT MAX(id) FROM games) AS g, (SELECT MAX(id) FROM files) AS f,"
                              " (SELECT MAX(updated_at) FROM files) AS u,"
                              " (SELECT COUNT(*) FROM files WHERE missing = 1) AS m, (SELECT MAX(id) FROM grants) AS r,"
                              " (SELECT COUNT(*) FROM collection_games) AS c")
    return tuple(row.values()) if row else ()


async def _cached(db: Database, key: tuple[Any, ...], compute: Callable[[], Coroutine[Any, Any, T]],
                  generation: tuple[Any, ...] | None = None) -> T:
    """Whole-library aggregates (counts over 10,000 games) cost a scan: keep them while nothing changed."""
    generation = generation if generation is not None else await _generation(db)
    hit = _counts.get(key)
    if hit and hit[1] == generation and time.monotonic() - hit[0] < _COUNT_TTL_S:
        value: T = hit[2]
        return value
    value = await compute()
    if len(_counts) > 1000:
        _counts.clear()
    _counts[key] = (time.monotonic(), generation, value)
    return value


async def _absent(db: Database, generation: tuple[Any, ...]) -> list[int]:
    async def compute() -> list[int]:
        return [int(row["id"]) for row in await db.aquery(ABSENT_SQL)]

    return await _cached(db, (id(db), "absent"), compute, generation)


def _audience(viewer: HasRole) -> Any:
    """Who shares a cached count: every adult sees the same library, each child their own."""
    return viewer.user_id if viewer.role == "child" else "adult"


async def _count(db: Database, viewer: HasRole, query: GameQuery, where: str, params: list[Any],
                 generation: tuple[Any, ...]) -> int:
    async def compute() -> int:
        row = await db.aquery_one(f"SELECT COUNT(*) AS n FROM games g WHERE {where}", params)
        return int(row["n"]) if row else 0

    if query.search or query.favourites or query.collection is not None:
        return await compute()  # selective filters: cheap, and they change with each person's clicks
    return await _cached(db, (id(db), "count", _audience(viewer), query.platform), compute, generation)


async def _page(db: Database, viewer: HasRole, query: GameQuery, where: str, params: list[Any],
                last_played: Mapping[int, str]) -> list[Row]:
    offset, limit = (query.page - 1) * query.per_page, query.per_page
    if query.sort != "recent":
        return await db.aquery(f"SELECT {CARD_COLUMNS}, NULL AS last_played FROM games g WHERE {where}"
                               f" ORDER BY {ORDER[query.sort]} LIMIT ? OFFSET ?",
                               [viewer.user_id, *params, limit, offset])
    # Recently played first (a person has played few games), then the rest by title: two cheap queries
    # instead of sorting the whole library on a join.
    ids = json.dumps(list(last_played))
    played = await db.aquery(f"SELECT {CARD_COLUMNS} FROM games g WHERE {where} AND g.id IN"
                             " (SELECT value FROM json_each(?))", [viewer.user_id, *params, ids])
    for row in played:
        row["last_played"] = last_played[row["id"]]
    played.sort(key=lambda row: (row["last_played"], -row["id"]), reverse=True)  # newest first, then by id
    rows = played[offset:offset + limit]
    if len(rows) < limit:
        rows += await db.aquery(
            f"SELECT {CARD_COLUMNS}, NULL AS last_played FROM games g WHERE {where} AND g.id NOT IN"
            f" (SELECT value FROM json_each(?)) ORDER BY {ORDER['title']} LIMIT ? OFFSET ?",
            [viewer.user_id, *params, ids, limit - len(rows), max(0, offset - len(played))])
    return rows


async def list_page(db: Database, viewer: HasRole, query: GameQuery, *, playable: Collection[str],
                    thumbnails: Path, last_played: Mapping[int, str] | None = None) -> dict[str, Any]:
    """One page of the games ``viewer`` may see, with the total for the pager. ``sort="recent"`` puts first
    the games in ``last_played`` (game id -> when the viewer last played it), newest first."""
    generation = await _generation(db)
    where, params = where_sql(viewer, platform=query.platform, search=query.search, favourites=query.favourites,
                              collection=query.collection, absent=await _absent(db, generation))

    async def page() -> list[Row]:
        return await cards(await _page(db, viewer, query, where, params, last_played or {}), playable, thumbnails)

    rows, total = await asyncio.gather(page(), _count(db, viewer, query, where, params, generation))
    pages = max(1, -(-total // query.per_page))
    return {"games": rows, "total": total, "page": query.page, "pages": pages, "per_page": query.per_page,
            "sort": query.sort, "platform": query.platform, "search": query.search or ""}


async def platform_counts(db: Database, viewer: HasRole) -> list[Row]:
    """The platforms that have games ``viewer`` may see (with a file present), for the filter."""
    where, params = visible_sql(viewer)

    async def compute() -> list[Row]:
        return await db.aquery(f"SELECT g.platform, COUNT(*) AS games FROM games g WHERE {where} AND g.id IN"
                               " (SELECT game_id FROM files WHERE missing = 0) GROUP BY g.platform ORDER BY g.platform",
                               params)

    rows = await _cached(db, (id(db), "platforms", _audience(viewer)), compute)
    return [{**row, "name": platform_name(row["platform"])} for row in rows]


async def visible_game(db: Database, viewer: HasRole, game_id: int) -> Row:
    """The game row, or NotFound when it does not exist or ``viewer`` may not see it (the same answer)."""
    where, params = visible_sql(viewer)
    row = await db.aquery_one(f"SELECT g.* FROM games g WHERE g.id = ? AND {where}", [game_id, *params])
    if row is None:
        raise NotFound(f"there is no game {game_id}")
    return row


def _file_for(viewer: HasRole, file: Row) -> Row:
    """A file row as ``viewer`` may see it: where it lives on the server is for admins only."""
    file = {**file, "missing": bool(file["missing"])}
    if viewer.role != "admin":
        path, container = str(file["path"]), file["container"]
        if container:  # "<archive>#<member>": the archive's name and the member inside it
            file["path"] = f"{Path(container).name}#{path[len(container) + 1:]}"
            file["container"] = Path(container).name
        else:
            file["path"] = Path(path).name
        del file["store_path"]
    return file


async def game_detail(db: Database, viewer: HasRole, game: Row, *, thumbnails: Path,
                      playable: Collection[str], reasons: Mapping[str, str]) -> Row:
    """Everything a game's page shows of the library, for a ``game`` row from :func:`visible_game`: its
    files, ``viewer``'s star, its collections, and why it is not playable (``reasons``: platform -> why
    it has no usable core)."""
    game_id = int(game["id"])
    # queued together: one wait behind other requests instead of one per query
    files, favourite, collections, cover = await asyncio.gather(
        db.aquery(_FILES_SQL, [game_id]), is_favourite(db, viewer.user_id, game_id), game_collections(db, game_id),
        asyncio.to_thread(has_cover, game, thumbnails))
    game = {**game, "tags": json.loads(game.get("tags") or "[]"), "has_cover": cover}
    del game["cover_path"]
    describe(game, playable)
    game["favourite"] = favourite
    game["files"] = [_file_for(viewer, f) for f in files]
    game["collections"] = collections
    game["may_retry"] = False
    if game["platform"] not in playable:
        game["why_not_playable"] = reasons.get(game["platform"]) or f"Treazr has no core for {game['platform']}"
    elif all(f["missing"] for f in game["files"]):
        game["playable"] = False
        game["why_not_playable"] = "its files are missing; rescan the library or re-import them"
    elif game.get("refused_reason"):
        refused_by = game.get("refused_core") or "its core"
        game["why_not_playable"] = f"{refused_by} refused its file ({game['refused_reason']})"
        game["may_retry"] = True  # a BIOS added or a core updated since may fix it: trying again clears the mark
    else:
        game["why_not_playable"] = None
    return game
