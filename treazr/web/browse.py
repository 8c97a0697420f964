"""Read queries behind the home grid and the game page: visible games, search, sorts, favourites.

Every query here is filtered by :func:`treazr.auth.grants.game_visibility_sql`, so a child only ever
meets the platforms and collections an admin granted. Pages are server-side (``LIMIT``/``OFFSET``)
and search goes through the FTS5 index, so a library of 10,000 games costs one page of rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from treazr.auth.grants import HasRole, game_visibility_sql
from treazr.db import Database
from treazr.errors import InvalidInput, NotFound
from treazr.library.platforms import PLATFORMS
from treazr.library.repository import fts_query
from treazr.services import Services

__all__ = ["SORTS", "GameQuery", "continue_row", "game_detail", "list_games", "platform_counts",
           "playable_platforms", "visible_or_404"]

SORTS = ("title", "recent", "added")
PER_PAGE_MAX = 200
_PLAYABLE_TTL_S = 30.0
_playable_cache: dict[int, tuple[float, frozenset[str], dict[str, str]]] = {}


@dataclass(frozen=True)
class GameQuery:
    platform: str | None = None
    search: str | None = None
    sort: str = "title"
    page: int = 1
    per_page: int = 48
    favourites: bool = False
    collection: int | None = None

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise InvalidInput(f"sort must be one of: {', '.join(SORTS)}")
        if self.platform and self.platform not in PLATFORMS:
            raise InvalidInput(f"unknown platform {self.platform!r}; use one of: {', '.join(PLATFORMS)}")
        if self.page < 1 or not 1 <= self.per_page <= PER_PAGE_MAX:
            raise InvalidInput(f"page starts at 1 and per_page is 1 to {PER_PAGE_MAX}")


async def playable_platforms(services: Services) -> tuple[frozenset[str], dict[str, str]]:
    """Platforms with a usable core (and BIOS), and why each other one is not, cached for a few seconds."""
    cached = _playable_cache.get(id(services))
    if cached and time.monotonic() - cached[0] < _PLAYABLE_TTL_S:
        return cached[1], cached[2]

    def read() -> tuple[frozenset[str], dict[str, str]]:
        statuses = services.cores.platforms()  # the first call probes cores in child processes; BIOS md5s
        return (frozenset(p.platform for p in statuses if p.playable),
                {p.platform: p.reason for p in statuses if not p.playable})

    playable, reasons = await asyncio.to_thread(read)
    _playable_cache[id(services)] = (time.monotonic(), playable, reasons)
    return playable, reasons


async def _registry(services: Services) -> Any:
    """The core registry; discovering it probes cores in child processes, so the first time runs in a thread."""
    if "cores" in services.__dict__:
        return services.cores
    return await asyncio.to_thread(lambda: services.cores)


def _visible(user: HasRole, alias: str = "g") -> tuple[str, list[Any]]:
    return game_visibility_sql(user, alias, with_collections=True)


def _filters(user: HasRole, query: GameQuery, absent: list[int]) -> tuple[str, list[Any]]:
    where, params = _visible(user)
    clauses = [where]
    if absent:  # games whose every file is missing (usually none): hidden without a look-up per row
        clauses.append("g.id NOT IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(absent))
    if query.platform:
        clauses.append("g.platform = ?")
        params.append(query.platform)
    if query.search and (fts := fts_query(query.search)):
        clauses.append("g.id IN (SELECT rowid FROM games_fts WHERE games_fts MATCH ?)")
        params.append(fts)
    if query.favourites:
        clauses.append("g.id IN (SELECT game_id FROM favourites WHERE user_id = ?)")
        params.append(user.user_id)
    if query.collection is not None:
        clauses.append("g.id IN (SELECT game_id FROM collection_games WHERE collection_id = ?)")
        params.append(query.collection)
    return " AND ".join(clauses), params


_ORDER = {
    "title": "g.title COLLATE NOCASE, g.id",
    "added": "g.added_at DESC, g.id DESC",
}
_COLUMNS = ("g.id, g.platform, g.title, g.region, g.revision, g.added_at, g.cover_path, g.refused_reason,"
            " EXISTS (SELECT 1 FROM favourites v WHERE v.user_id = ? AND v.game_id = g.id) AS favourite")
_COUNT_TTL_S = 10.0
_counts: dict[tuple[Any, ...], tuple[float, Any, Any]] = {}


def _decorate(row: dict[str, Any], playable: frozenset[str]) -> dict[str, Any]:
    row["platform_name"] = PLATFORMS[row["platform"]].name if row["platform"] in PLATFORMS else row["platform"]
    # a game whose core refused its file at start is not offered as playable (the game page says why)
    row["playable"] = row["platform"] in playable and not row.get("refused_reason")
    row["favourite"] = bool(row.get("favourite"))
    row["cover_url"] = f"/api/games/{row['id']}/cover" if row.pop("has_cover", None) else None
    row["url"] = f"/games/{row['id']}"
    return row


async def _generation(db: Database) -> tuple[Any, ...]:
    """Changes whenever a game or file is added, updated or goes missing, or a child's grants change (index
    look-ups only; ``COUNT`` of missing files reads a partial index as small as that count)."""
    row = await db.aquery_one("SELECT (SELECT MAX(id) FROM games) AS g, (SELECT MAX(id) FROM files) AS f,"
                              " (SELECT MAX(updated_at) FROM files) AS u,"
                              " (SELECT COUNT(*) FROM files WHERE missing = 1) AS m, (SELECT MAX(id) FROM grants) AS r,"
                              " (SELECT COUNT(*) FROM collection_games) AS c")
    return tuple(row.values()) if row else ()


async def _cached(db: Database, key: tuple[Any, ...], compute: Any, generation: tuple[Any, ...] | None = None) -> Any:
    """Whole-library aggregates (counts over 10,000 games) cost a scan: keep them while nothing changed."""
    generation = generation if generation is not None else await _generation(db)
    hit = _counts.get(key)
    if hit and hit[1] == generation and time.monotonic() - hit[0] < _COUNT_TTL_S:
        return hit[2]
    value = await compute()
    if len(_counts) > 1000:
        _counts.clear()
    _counts[key] = (time.monotonic(), generation, value)
    return value


async def _absent(db: Database, generation: tuple[Any, ...]) -> list[int]:
    async def compute() -> list[int]:
        rows = await db.aquery("SELECT g.id FROM games g WHERE g.id NOT IN"
                               " (SELECT game_id FROM files WHERE missing = 0)")
        return [int(row["id"]) for row in rows]

    found: list[int] = await _cached(db, (id(db), "absent"), compute, generation)
    return found


async def _count(services: Services, user: HasRole, query: GameQuery, where: str, params: list[Any],
                 generation: tuple[Any, ...]) -> int:
    async def compute() -> int:
        row = await services.db.aquery_one(f"SELECT COUNT(*) AS n FROM games g WHERE {where}", params)
        return int(row["n"]) if row else 0

    if query.search or query.favourites or query.collection is not None:
        return await compute()  # selective filters: cheap, and they change with each person's clicks
    who = user.user_id if user.role == "child" else "adult"
    return int(await _cached(services.db, (id(services.db), "count", who, query.platform), compute, generation))


async def _page(services: Services, user: HasRole, query: GameQuery, where: str,
                params: list[Any]) -> list[dict[str, Any]]:
    offset, limit = (query.page - 1) * query.per_page, query.per_page
    if query.sort != "recent":
        return await services.db.aquery(f"SELECT {_COLUMNS}, NULL AS last_played FROM games g WHERE {where}"
                                        f" ORDER BY {_ORDER[query.sort]} LIMIT ? OFFSET ?",
                                        [user.user_id, *params, limit, offset])
    # Recently played first (a person has played few games), then the rest by title: two cheap queries
    # instead of sorting the whole library on a join.
    played = await services.db.aquery(
        f"SELECT {_COLUMNS}, r.last_played FROM (SELECT game_id, MAX(started_at) AS last_played FROM play_sessions"
        f" WHERE user_id = ? GROUP BY game_id) r JOIN games g ON g.id = r.game_id WHERE {where}"
        " ORDER BY r.last_played DESC, g.id", [user.user_id, user.user_id, *params])
    rows = played[offset:offset + limit]
    if len(rows) < limit:
        rest = await services.db.aquery(
            f"SELECT {_COLUMNS}, NULL AS last_played FROM games g WHERE {where} AND g.id NOT IN"
            f" (SELECT game_id FROM play_sessions WHERE user_id = ?) ORDER BY {_ORDER['title']} LIMIT ? OFFSET ?",
            [user.user_id, *params, user.user_id, limit - len(rows), max(0, offset - len(played))])
        rows += rest
    return rows


async def list_games(services: Services, user: HasRole, query: GameQuery) -> dict[str, Any]:
    """One page of the games ``user`` may see, with the total for the pager."""
    generation = await _generation(services.db)
    where, params = _filters(user, query, await _absent(services.db, generation))
    rows, total, (playable, _) = await asyncio.gather(
        _page(services, user, query, where, params), _count(services, user, query, where, params, generation),
        playable_platforms(services))
    thumbs = services.data.thumbnails
    for row in rows:
        row["has_cover"] = bool(row["cover_path"]) or (thumbs / f"{row['id']}.png").is_file()
        del row["cover_path"]
        _decorate(row, playable)
    pages = max(1, -(-total // query.per_page))
    return {"games": rows, "total": total, "page": query.page, "pages": pages, "per_page": query.per_page,
            "sort": query.sort, "platform": query.platform, "search": query.search or ""}


async def platform_counts(db: Database, user: HasRole) -> list[dict[str, Any]]:
    """The platforms that have games ``user`` may see, for the filter."""
    where, params = _visible(user)

    async def compute() -> list[dict[str, Any]]:
        return await db.aquery(f"SELECT g.platform, COUNT(*) AS games FROM games g WHERE {where} AND g.id IN"
                               " (SELECT game_id FROM files WHERE missing = 0) GROUP BY g.platform ORDER BY g.platform",
                               params)

    who = user.user_id if user.role == "child" else "adult"
    rows = await _cached(db, (id(db), "platforms", who), compute)
    return [{**row, "name": PLATFORMS[row["platform"]].name if row["platform"] in PLATFORMS else row["platform"]}
            for row in rows]


async def visible_or_404(db: Database, user: HasRole, game_id: int) -> dict[str, Any]:
    """The game row, or NotFound when it does not exist or ``user`` may not see it (the same answer)."""
    where, params = _visible(user)
    row = await db.aquery_one(f"SELECT g.* FROM games g WHERE g.id = ? AND {where}", [game_id, *params])
    if row is None:
        raise NotFound(f"there is no game {game_id}")
    return row


async def continue_row(services: Services, user: HasRole, limit: int = 12) -> list[dict[str, Any]]:
    """The games ``user`` played last, newest first, marking those with a Continue state."""
    where, params = _visible(user)
    rows = await services.db.aquery(
        "SELECT g.id, g.platform, g.title, g.region, g.revision, g.added_at, g.cover_path, g.refused_reason,"
        " p.last_played,"
        " EXISTS (SELECT 1 FROM save_states s WHERE s.user_id = ? AND s.game_id = g.id AND s.slot = 0) AS has_continue,"
        " EXISTS (SELECT 1 FROM favourites v WHERE v.user_id = ? AND v.game_id = g.id) AS favourite"
        " FROM (SELECT game_id, MAX(at) AS last_played FROM play_events WHERE user_id = ? AND game_id > 0"
        "       GROUP BY game_id) p JOIN games g ON g.id = p.game_id"
        f" WHERE {where} ORDER BY p.last_played DESC LIMIT ?",
        [user.user_id, user.user_id, user.user_id, *params, limit])
    playable, _ = await playable_platforms(services)
    for row in rows:
        row["has_cover"] = bool(row["cover_path"]) or (services.data.thumbnails / f"{row['id']}.png").is_file()
        del row["cover_path"]
        row["has_continue"] = bool(row["has_continue"])
        _decorate(row, playable)
    return rows


async def game_detail(services: Services, user: HasRole, game_id: int) -> dict[str, Any]:
    """Everything the game page shows that is not the player's own saves (see ``treazr.web.saves``)."""
    db = services.db
    game = await visible_or_404(db, user, game_id)
    # queued together: one wait behind other requests instead of one per query
    files, favourite, collections, (playable, reasons), registry = await asyncio.gather(
        db.aquery("SELECT id, path, size, crc32, md5, sha1, sha256, missing, container, store_path, verify_error"
                  " FROM files WHERE game_id = ? ORDER BY missing, path", [game_id]),
        db.aquery_one("SELECT 1 AS yes FROM favourites WHERE user_id = ? AND game_id = ?", [user.user_id, game_id]),
        db.aquery("SELECT c.id, c.name FROM collections c JOIN collection_games cg ON cg.collection_id = c.id"
                  " WHERE cg.game_id = ? ORDER BY c.name", [game_id]),
        playable_platforms(services), _registry(services))
    core = registry.core_for(game["platform"])
    game["tags"] = json.loads(game.get("tags") or "[]")
    game["has_cover"] = bool(game.pop("cover_path", None)) or (services.data.thumbnails / f"{game_id}.png").is_file()
    _decorate(game, playable)
    game["favourite"] = favourite is not None
    game["files"] = [{**f, "missing": bool(f["missing"])} for f in files]
    game["collections"] = collections
    has_core = game["platform"] in playable
    game["core"] = {"id": core.id, "name": core.name, "version": core.version} if core and has_core else None
    game["may_retry"] = False
    if not has_core:
        game["why_not_playable"] = reasons.get(game["platform"]) or f"Treazr has no core for {game['platform']}"
    elif not any(not f["missing"] for f in game["files"]):
        game["playable"] = False
        game["why_not_playable"] = "its files are missing; rescan the library or re-import them"
    elif game.get("refused_reason"):
        refused_by = game.get("refused_core") or "its core"
        game["why_not_playable"] = f"{refused_by} refused its file ({game['refused_reason']})"
        game["may_retry"] = True  # a BIOS added or a core updated since may fix it: trying again clears the mark
    else:
        game["why_not_playable"] = None
    return game
