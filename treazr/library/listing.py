"""The rules of a game listing, shared by the CLI's list (:func:`treazr.library.repository.list_games`) and
the web's pages (:func:`treazr.library.browse.list_page`): the filters, the sorts and how a row is described.

Search goes through the FTS5 index over titles. ``playable`` is not stored: callers pass the platforms
that have a usable core (from the emulation registry), and a game is playable when its platform is among
them and its core has not refused its file (``refused_reason``, see :mod:`treazr.library.refusals`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from treazr.auth.grants import HasRole, game_visibility_sql
from treazr.db import Row
from treazr.errors import InvalidInput
from treazr.library.platforms import PLATFORMS, platform_name

__all__ = ["ABSENT_SQL", "ORDER", "PER_PAGE_MAX", "SORTS", "GameQuery", "describe", "fts_query", "visible_sql",
           "where_sql"]

SORTS = ("title", "recent", "added")
PER_PAGE_MAX = 200

# "recent" is ordered by the caller's own play history (see treazr.library.browse.list_page)
ORDER = {
    "title": "g.title COLLATE NOCASE, g.id",
    "added": "g.added_at DESC, g.id DESC",
}

# games whose every file is missing (usually none), listed once so a page can leave them out without a
# look-up per row
ABSENT_SQL = "SELECT g.id FROM games g WHERE g.id NOT IN (SELECT game_id FROM files WHERE missing = 0)"


@dataclass(frozen=True)
class GameQuery:
    """One page of a person's listing, as the home grid and ``/api/games`` ask for it."""

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


SEARCH_WORDS_MAX = 10
"""Words of a search that are used: no title needs more, and each word is a prefix scan of the index
(2,000 of them took 1.7 s and held up everyone's reads)."""


def fts_query(text: str) -> str:
    """A safe FTS5 query: every word must start a word of the title (``zel lin`` finds Zelda ... Link);
    words past :data:`SEARCH_WORDS_MAX` are left out."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)[:SEARCH_WORDS_MAX]
    return " ".join(f'"{word}"*' for word in words)


def visible_sql(viewer: HasRole | None, alias: str = "g") -> tuple[str, list[Any]]:
    """A WHERE fragment keeping the games ``viewer`` may see (a child: the granted platforms and
    collections); ``None`` is the whole library (the CLI, admin tools)."""
    if viewer is None:
        return "1", []
    return game_visibility_sql(viewer, alias, with_collections=True)


def where_sql(viewer: HasRole | None, *, platform: str | None = None, search: str | None = None,
              favourites: bool = False, collection: int | None = None,
              absent: Sequence[int] = ()) -> tuple[str, list[Any]]:
    """The WHERE clause (over ``games g``) and its parameters for one listing; ``absent`` are game ids
    to leave out (see :data:`ABSENT_SQL`). ``favourites`` needs a ``viewer``."""
    where, params = visible_sql(viewer)
    clauses = [where]
    if absent:
        clauses.append("g.id NOT IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(absent)))
    if platform:
        clauses.append("g.platform = ?")
        params.append(platform)
    if search and (fts := fts_query(search)):
        clauses.append("g.id IN (SELECT rowid FROM games_fts WHERE games_fts MATCH ?)")
        params.append(fts)
    if favourites:
        if viewer is None:
            raise ValueError("favourites are a person's own: pass the viewer")
        clauses.append("g.id IN (SELECT game_id FROM favourites WHERE user_id = ?)")
        params.append(viewer.user_id)
    if collection is not None:
        clauses.append("g.id IN (SELECT game_id FROM collection_games WHERE collection_id = ?)")
        params.append(collection)
    return " AND ".join(clauses), params


def describe(row: Row, playable: Collection[str] | None) -> Row:
    """Add the platform's display name and whether the game is playable (None when ``playable`` is unknown)."""
    row["platform_name"] = platform_name(row["platform"])
    # a game whose core refused its file at start is not offered as playable (the game page says why)
    row["playable"] = None if playable is None else row["platform"] in playable and not row.get("refused_reason")
    return row
